"""Helpers for end-to-end tests: SSE parsing, reading and writing Kafka with plain aiokafka."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse, ClientSession
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from mesh.broker import free_port


@dataclass
class Event:
    """One SSE event (or comment) as a raw parser sees it."""

    fields: dict[str, str] = field(default_factory=dict)
    data: list[str] = field(default_factory=list)
    comment: str | None = None

    @property
    def id(self) -> str | None:
        return self.fields.get("id")

    @property
    def name(self) -> str | None:
        return self.fields.get("event")

    @property
    def text(self) -> str:
        return "\n".join(self.data)


async def sse_events(response: ClientResponse) -> AsyncIterator[Event]:
    """Yield events and comments until the stream ends."""
    event = Event()
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if event.fields or event.data or event.comment is not None:
                yield event
            event = Event()
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            event.comment = value
        elif name == "data":
            event.data.append(value)
        else:
            event.fields[name] = value


async def next_events(response: ClientResponse, count: int, timeout: float = 10) -> list[Event]:
    """The next ``count`` message events (comments and retry-only blocks skipped)."""
    found: list[Event] = []

    async def collect() -> None:
        async for event in sse_events(response):
            if event.data:
                found.append(event)
                if len(found) == count:
                    return

    await asyncio.wait_for(collect(), timeout)
    return found


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def produce(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    key: bytes | None = None,
    partition: int | None = None,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


async def consume(
    bootstrap: str, topic: str, count: int, timeout: float = 10
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``count`` records from the start of every partition of ``topic``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=10)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        records: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(timeout):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records += batch
        return records
    finally:
        await consumer.stop()


async def raw_stream(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An SSE request over a bare socket, once the stream is open: a client that can stop reading
    (``pause(writer)``) the way a frozen browser tab does."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    writer.write(request.encode())
    await reader.readuntil(b"stream open\n\n")
    return reader, writer


def transport_of(writer: asyncio.StreamWriter) -> asyncio.Transport:
    transport = writer.transport
    assert isinstance(transport, asyncio.Transport)
    return transport


def mesh_process(config: Path, settings: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    """``mesh run`` in its own process with ``settings`` (a free port is added) written to
    ``config``; its URL. The caller terminates it."""
    port = free_port()
    config.write_text(
        json.dumps({"listen": {"port": port}, "grpc": {"enabled": False}, **settings})
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "mesh", "run", "--config", str(config)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


async def wait_ready(http: ClientSession, url: str) -> None:
    """Until ``/readyz`` answers 200; up to 30 s, as a loaded machine starts processes slowly."""
    for _ in range(600):
        try:
            if (await http.get(f"{url}/readyz")).status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} never became ready")
