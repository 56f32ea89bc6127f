"""A load client: ``python -m bench.sse_clients URL N EXPECTED SECONDS OUT`` opens N SSE streams,
prints ``ready`` once all are open, and records each event's latency (now minus the ``ts`` field of
its JSON payload, in seconds) until every stream saw EXPECTED events or SECONDS passed; then it
writes ``{"connected": …, "latencies": […]}`` as JSON to OUT."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import uvloop
from aiohttp import ClientSession, ClientTimeout, TCPConnector

__all__: list[str] = []


async def stream(
    http: ClientSession, url: str, expected: int, latencies: list[float], opened: list[int]
) -> None:
    received = 0
    async with http.get(url, headers={"Accept": "text/event-stream"}) as response:
        opened.append(1)
        async for line in response.content:
            if line.startswith(b"data: {"):
                latencies.append(time.time() - json.loads(line[6:])["ts"])
                received += 1
                if received >= expected:
                    return


async def main(url: str, count: int, expected: int, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    opened: list[int] = []
    connector = TCPConnector(limit=0, force_close=True)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=None)) as http:
        tasks = [
            asyncio.create_task(stream(http, url, expected, latencies, opened))
            for _ in range(count)
        ]
        async with asyncio.timeout(120):
            while len(opened) < count:  # noqa: ASYNC110 - a load client polls its own counter
                await asyncio.sleep(0.05)
        print("ready", flush=True)
        _, pending = await asyncio.wait(tasks, timeout=seconds)
        for task in pending:
            task.cancel()
    return {"connected": len(opened), "latencies": latencies}


if __name__ == "__main__":
    uvloop.install()
    url, count, expected, seconds, out = sys.argv[1:6]
    result = asyncio.run(main(url, int(count), int(expected), float(seconds)))
    with open(out, "w") as handle:
        json.dump(result, handle)
