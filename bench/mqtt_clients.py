"""Which Python MQTT client the MQTT endpoint is built on: aiomqtt against gmqtt, measured.

``python -m bench.mqtt_clients [--count N]`` starts its own Mosquitto and prints, for each client
and for Debian's ``mosquitto_pub``/``mosquitto_sub``: QoS 1 publishes acknowledged per second
(``WINDOW`` in flight) and messages delivered per second to one QoS 1 subscriber.
Both clients are driven as the endpoint would drive them: every publish awaits its own PUBACK.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
import gmqtt
import uvloop

from bench.mqtt import drain, feed, native_publish
from mesh.broker import EmbeddedMosquitto

__all__: list[str] = []

logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt warns of every pending publish

WINDOW = 18  # in flight: below Mosquitto's receive maximum of 20, which gmqtt caps at 19
PAYLOAD = b"x" * 1024


async def aiomqtt_publish(port: int, count: int) -> float:
    async with aiomqtt.Client(
        "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5, max_inflight_messages=WINDOW
    ) as client:
        return await _windowed(count, lambda: client.publish("bench/pub", PAYLOAD, qos=1))


async def gmqtt_publish(port: int, count: int) -> float:
    client = gmqtt.Client(uuid.uuid4().hex)
    handler: Any = client._package_handler
    pending: dict[int, asyncio.Future[None]] = {}
    original = handler._handle_puback_packet

    def on_puback(cmd: int, packet: bytes) -> None:
        mid = int.from_bytes(packet[:2], "big")
        future = pending.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)
        original(cmd, packet)

    handler._handle_puback_packet = on_puback
    await client.connect("127.0.0.1", port)
    loop = asyncio.get_running_loop()

    async def publish() -> None:
        message = gmqtt.Message("bench/pub", PAYLOAD, qos=1)
        mid, package = client._connection.publish(message)
        client._persistent_storage.push_message(mid, package)
        future = pending[mid] = loop.create_future()
        await future

    try:
        return await _windowed(count, publish)
    finally:
        await client.disconnect()


async def _windowed(count: int, publish: Callable[[], Awaitable[None]]) -> float:
    window = asyncio.Semaphore(WINDOW)

    async def one() -> None:
        async with window:
            await publish()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


async def aiomqtt_receive(port: int, count: int) -> float:
    async with aiomqtt.Client(
        "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5, max_queued_incoming_messages=0
    ) as client:
        await client.subscribe("bench/feed", qos=1)
        feeder = feed(port, count)
        received, started = 0, 0.0
        async for _ in client.messages:
            received += 1
            started = started or time.perf_counter()
            if received == count:
                break
        feeder.wait()
        return (count - 1) / (time.perf_counter() - started)


async def gmqtt_receive(port: int, count: int) -> float:
    client = gmqtt.Client(uuid.uuid4().hex)
    done = asyncio.Event()
    state = {"received": 0, "started": 0.0}

    def on_message(_client: Any, _topic: str, _payload: bytes, _qos: int, _props: Any) -> int:
        state["received"] += 1
        state["started"] = state["started"] or time.perf_counter()
        if state["received"] == count:
            done.set()
        return 0

    client.on_message = on_message
    await client.connect("127.0.0.1", port)
    client.subscribe("bench/feed", qos=1)
    await asyncio.sleep(0.2)
    feeder = feed(port, count)
    await done.wait()
    feeder.wait()
    rate = (count - 1) / (time.perf_counter() - state["started"])
    await client.disconnect()
    return rate


def native_receive(port: int, count: int) -> float:
    command = ["mosquitto_sub", "-p", str(port), "-t", "bench/feed", "-q", "1"]
    return drain(command, b"", b"\n", port, count)


def median(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n, runs = args.count, args.runs
    with EmbeddedMosquitto() as broker:
        port = broker.port
        rows = {
            "QoS 1 publish, acked (msg/s)": (
                median(runs, lambda: native_publish(port, n)),
                median(runs, lambda: uvloop.run(aiomqtt_publish(port, n))),
                median(runs, lambda: uvloop.run(gmqtt_publish(port, n))),
            ),
            "QoS 1 delivery to one subscriber (msg/s)": (
                median(runs, lambda: native_receive(port, n)),
                median(runs, lambda: uvloop.run(aiomqtt_receive(port, n))),
                median(runs, lambda: uvloop.run(gmqtt_receive(port, n))),
            ),
        }
    print(f"{'figure':44} {'mosquitto_*':>12} {'aiomqtt':>16} {'gmqtt':>16}")
    for name, (native, aio, gm) in rows.items():
        print(
            f"{name:44} {native:12,.0f} {aio:9,.0f} ({aio / native:.2f}x)"
            f" {gm:9,.0f} ({gm / native:.2f}x)"
        )


if __name__ == "__main__":
    main()
