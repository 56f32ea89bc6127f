"""Load clients for the WebSocket and gRPC figures, run in their own process by ``bench.run``:
``python -m bench.clients ws|grpc TARGET COUNT`` prints the acked messages per second."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import uvloop
from aiohttp import ClientSession, WSMsgType
from grpc import aio

from bench.run import payload
from connectors.entrypoints.grpc_api import gateway_pb2 as pb
from connectors.entrypoints.grpc_api import gateway_pb2_grpc as pb_grpc

__all__: list[str] = []

SESSIONS = 8
WINDOW = 32  # publishes in flight per session (the gateway's default max_in_flight)


async def websocket(url: str, count: int) -> float:
    """Acked messages/s over SESSIONS sessions, each keeping WINDOW publishes in flight."""
    frame = json.dumps({"type": "publish", "payload": payload()})

    async def session(http: ClientSession, share: int) -> None:
        async with http.ws_connect(url, protocols=("mesh.v1",)) as ws:
            sent = acked = 0
            while acked < share:
                while sent < share and sent - acked < WINDOW:
                    await ws.send_str(frame)
                    sent += 1
                reply = await ws.receive()
                if reply.type is not WSMsgType.TEXT or json.loads(reply.data)["type"] != "ack":
                    raise RuntimeError(f"unexpected reply {reply.data!r}")
                acked += 1

    async with ClientSession() as http:
        started = time.perf_counter()
        await asyncio.gather(*(session(http, count // SESSIONS) for _ in range(SESSIONS)))
        return count // SESSIONS * SESSIONS / (time.perf_counter() - started)


async def grpc_stream(target: str, count: int) -> float:
    """Acked messages/s over one PublishStream."""
    body = json.dumps(payload()).encode()
    channel, _, address = target.partition("/")

    async def requests() -> AsyncIterator[pb.PublishRequest]:
        for _ in range(count):
            yield pb.PublishRequest(channel="/" + address, payload=body)

    async with aio.insecure_channel(channel) as opened:
        stub: Any = pb_grpc.GatewayStub(opened)  # type: ignore[no-untyped-call]
        started = time.perf_counter()
        acked = 0
        async for reply in stub.PublishStream(requests()):
            if reply.outcome != pb.ACKED:
                raise RuntimeError(f"not acked: {reply.problem}")
            acked += 1
        return acked / (time.perf_counter() - started)


if __name__ == "__main__":
    uvloop.install()
    kind, target, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = websocket if kind == "ws" else grpc_stream
    print(f"{asyncio.run(run(target, count)):.1f}")
