"""WebSocket sessions against a real Kafka broker, driven by the websockets client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from mesh.broker import EmbeddedKafka
from mesh.config import CorsConfig, WebSocketConfig
from mesh.gateway import RunningGateway
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.helpers import consume, produce

V1 = [Subprotocol("mesh.v1")]
ORDER = "{type: object, required: [n], properties: {n: {type: integer}}}"


def ws_url(gw: RunningGateway, path: str) -> str:
    return gw.url.replace("http://", "ws://") + path


@asynccontextmanager
async def session(gw: RunningGateway, path: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    async with connect(ws_url(gw, path), subprotocols=V1, compression=None, **kwargs) as ws:
        yield ws


async def frames(ws: ClientConnection, count: int, *kinds: str) -> list[dict[str, Any]]:
    """The next ``count`` frames of the given types (of any type when none is given)."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while len(found) < count:
            frame = json.loads(await ws.recv())
            if not kinds or frame["type"] in kinds:
                found.append(frame)
    return found


def close_code(closed: ConnectionClosed) -> int | None:
    return None if closed.rcvd is None else closed.rcvd.code


def spec(tmp_path: Path, topic: str, **kwargs: Any) -> Path:
    return write_spec(tmp_path, channel_spec(topic, payload=ORDER, **kwargs))


async def test_messages_are_pushed_with_their_cursor(
    tmp_path: Path, start_gateway: Start, kafka: EmbeddedKafka, topic: str
) -> None:
    await produce(kafka.bootstrap, topic, [b'{"n":1}', b'{"n":2}'], key=b"k")
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async with session(gw, f"/{topic}?from=earliest") as ws:
            assert ws.subprotocol == "mesh.v1"
            pushed = await frames(ws, 2)
    assert [f["type"] for f in pushed] == ["message", "message"]
    assert [f["payload"] for f in pushed] == [{"n": 1}, {"n": 2}]
    assert pushed[0]["name"] == "thing"
    assert pushed[0]["cursor"].startswith("k1.")


async def test_publish_is_acked_after_the_broker_and_refusals_are_nacked(
    tmp_path: Path, start_gateway: Start, kafka: EmbeddedKafka, topic: str
) -> None:
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async with session(gw, f"/{topic}") as ws:
            await ws.send(
                json.dumps({"type": "publish", "id": "a", "payload": {"n": 7}, "key": "k"})
            )
            await ws.send(json.dumps({"type": "publish", "id": "b", "payload": {"n": "x"}}))
            await ws.send(
                json.dumps(
                    {
                        "type": "publish",
                        "id": "c",
                        "data": "AAE=",
                        "contentType": "application/octet-stream",
                    }
                )
            )
            replies = {f["id"]: f for f in await frames(ws, 3, "ack", "nack")}
    assert replies["a"]["type"] == "ack"
    assert {"partition", "offset", "cursor"} <= set(replies["a"])
    assert (replies["b"]["type"], replies["b"]["outcome"]) == ("nack", "refused")
    problem = replies["b"]["problem"]
    assert (problem["status"], problem["code"]) == (400, "schema-violation")
    assert problem["errors"][0]["pointer"] == "/n"
    assert replies["c"]["problem"]["code"] == "unsupported-media-type"
    (record,) = await consume(kafka.bootstrap, topic, 1)
    assert (json.loads(record.value), record.key) == ({"n": 7}, b"k")


async def test_resume_with_the_cursor_of_the_last_message(
    tmp_path: Path, start_gateway: Start, kafka: EmbeddedKafka, topic: str
) -> None:
    await produce(kafka.bootstrap, topic, [f'{{"n":{i}}}'.encode() for i in range(5)], key=b"k")
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async with session(gw, f"/{topic}?from=earliest") as ws:
            first = await frames(ws, 2, "message")
        async with session(gw, f"/{topic}?cursor={first[-1]['cursor']}") as ws:
            rest = await frames(ws, 3, "message")
            with pytest.raises(TimeoutError):
                await frames(ws, 1, "message")
    assert [f["payload"]["n"] for f in first + rest] == [0, 1, 2, 3, 4]


async def test_handshake_refusals_come_before_the_upgrade(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    cors = CorsConfig(allow_origins=["https://app.example"])
    async with start_gateway([spec(tmp_path, topic)], cors=cors) as gw:
        url = ws_url(gw, f"/{topic}")
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, origin="https://evil.example"):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
        assert json.loads(refused.value.response.body or b"")["code"] == "origin-not-allowed"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, subprotocols=[Subprotocol("chat")]):
                pass
        assert refused.value.response.status_code == 400
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url + "?cursor=garbage", subprotocols=V1):
                pass
        assert refused.value.response.status_code == 400
        async with connect(url, origin="https://app.example", subprotocols=V1) as ws:  # type: ignore[arg-type]
            assert ws.subprotocol == "mesh.v1"


async def test_oversized_and_invalid_frames_close_the_session(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    limits = WebSocketConfig(max_frame_bytes=1000)
    async with start_gateway([spec(tmp_path, topic)], websocket=limits) as gw:
        async with session(gw, f"/{topic}") as ws:
            await ws.send(json.dumps({"type": "publish", "payload": {"n": 1, "pad": "x" * 2000}}))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert close_code(closed.value) == 1009
        async with session(gw, f"/{topic}") as ws:
            await ws.send(b"\xff\xfe", text=True)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert close_code(closed.value) == 1007


async def test_malformed_frames_get_an_error_and_the_session_goes_on(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async with session(gw, f"/{topic}") as ws:
            await ws.send("not json")
            await ws.send(json.dumps({"type": "dance"}))
            await ws.send(b"binary")
            errors = await frames(ws, 3, "error")
            assert [e["problem"]["code"] for e in errors] == ["invalid-request"] * 3
            await ws.send(json.dumps({"type": "publish", "id": 1, "payload": {"n": 1}}))
            (ack,) = await frames(ws, 1, "ack")
            assert ack["id"] == 1


async def test_publish_on_a_channel_that_only_streams_is_nacked(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    async with start_gateway([spec(tmp_path, topic, actions=("send",))]) as gw:
        async with session(gw, f"/{topic}") as ws:
            await ws.send(json.dumps({"type": "publish", "id": "x", "payload": {"n": 1}}))
            (nack,) = await frames(ws, 1, "nack")
            assert (nack["id"], nack["problem"]["code"]) == ("x", "method-not-allowed")


async def test_a_flood_of_publishes_is_all_acked(
    tmp_path: Path, start_gateway: Start, kafka: EmbeddedKafka, topic: str
) -> None:
    limits = WebSocketConfig(max_in_flight=4)
    async with start_gateway([spec(tmp_path, topic, actions=("receive",))], websocket=limits) as gw:
        async with session(gw, f"/{topic}") as ws:
            for i in range(300):
                await ws.send(json.dumps({"type": "publish", "id": i, "payload": {"n": i}}))
            acks = await frames(ws, 300, "ack")
    assert sorted(a["id"] for a in acks) == list(range(300))
    assert len(await consume(kafka.bootstrap, topic, 300)) == 300


async def test_a_peer_that_stops_answering_pings_is_dropped(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    limits = WebSocketConfig(ping_interval_seconds=0.4)
    async with start_gateway([spec(tmp_path, topic)], websocket=limits) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        handshake = (
            f"GET /{topic} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        writer.write(handshake.encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        (handler,) = gw.state.streams
        finished, _ = await asyncio.wait({handler}, timeout=5)  # we never answer a ping
        assert finished == {handler}
        writer.close()


async def test_shutdown_says_goodbye_with_1001(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        ws = await connect(ws_url(gw, f"/{topic}"), subprotocols=V1)
        await asyncio.sleep(0.2)
    (goodbye,) = await frames(ws, 1)
    assert goodbye["type"] == "shutdown"
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert close_code(closed.value) == 1001
