"""Shared reads: one broker reader feeds every live subscriber; slow ones leave with a cursor."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from aiohttp import ClientResponse, ClientSession, ClientTimeout, TCPConnector

from connectors.endpoints.kafka import KafkaEndpoint
from connectors.endpoints.kafka_fanout import Hub
from mesh.broker import EmbeddedKafka
from mesh.config import KafkaConfig
from mesh.gateway import RunningGateway
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.helpers import next_events, produce, raw_stream, transport_of

SSE = {"Accept": "text/event-stream"}


def endpoint(gw: RunningGateway) -> KafkaEndpoint:
    found = gw.state.endpoints["main"]
    assert isinstance(found, KafkaEndpoint)
    return found


def hub_of(gw: RunningGateway, topic: str) -> Hub:
    hub = endpoint(gw).hubs.get(topic)
    assert hub is not None
    return hub


async def open_stream(http: ClientSession, url: str) -> ClientResponse:
    response = await http.get(url, headers=SSE)
    await response.content.readuntil(b"stream open\n\n")
    return response


async def test_a_thousand_subscribers_share_one_broker_reader(
    tmp_path: Path, start_gateway: Start, kafka: EmbeddedKafka, topic: str
) -> None:
    spec = write_spec(tmp_path, channel_spec(topic))
    connector = TCPConnector(limit=0)
    async with (
        start_gateway([spec]) as gw,
        ClientSession(connector=connector, timeout=ClientTimeout(total=None)) as http,
    ):
        url = f"{gw.url}/{topic}"
        streams = await asyncio.gather(*(open_stream(http, url) for _ in range(1000)))
        hubs = endpoint(gw).hubs
        assert (hubs.readers_opened, len(hubs)) == (1, 1)
        values = [f'{{"n":{i}}}'.encode() for i in range(20)]
        await produce(kafka.bootstrap, topic, values, key=b"k")
        received = await asyncio.gather(*(next_events(s, 20, timeout=30) for s in streams))
        for stream in streams:
            stream.close()
    expected = [{"n": i} for i in range(20)]
    assert all([json.loads(e.text) for e in events] == expected for events in received)
    assert hubs.readers_opened == 1


async def test_a_frozen_client_is_cut_off_and_the_others_keep_their_latency(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    spec = write_spec(tmp_path, channel_spec(topic))
    kafka_config = KafkaConfig(client_buffer_messages=100)
    async with start_gateway([spec], kafka=kafka_config) as gw:
        _, writer = await raw_stream(gw.port, f"/{topic}")
        transport = transport_of(writer)
        transport.pause_reading()  # frozen from now on
        healthy = [await open_stream(http, f"{gw.url}/{topic}") for _ in range(3)]
        hub_clients = hub_of(gw, topic).clients
        assert len(hub_clients) == 4
        big = b'{"pad":"' + b"x" * 20_000 + b'"}'
        receiving = asyncio.gather(*(next_events(s, 600, timeout=30) for s in healthy))
        for _ in range(30):  # a steady stream that the healthy clients keep up with: 12 MB
            await produce(kafka.bootstrap, topic, [big] * 20, key=b"k")
            await asyncio.sleep(0.05)
        await receiving
        assert len(hub_clients) == 3, "the frozen client was detached"
        latencies = []
        for i in range(10):
            started = time.monotonic()
            await produce(kafka.bootstrap, topic, [f'{{"probe":{i}}}'.encode()], key=b"k")
            await asyncio.gather(*(next_events(s, 1) for s in healthy))
            latencies.append(time.monotonic() - started)
        writer.close()
    assert max(latencies) < 1.0, latencies


async def test_a_slow_client_ends_with_its_cursor_and_resumes_without_loss(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    spec = write_spec(tmp_path, channel_spec(topic))
    async with start_gateway([spec], kafka=KafkaConfig(client_buffer_messages=20)) as gw:
        reader, writer = await raw_stream(gw.port, f"/{topic}")
        transport = transport_of(writer)
        transport.pause_reading()
        values = [f'{{"n":{i},"pad":"{"x" * 50_000}"}}'.encode() for i in range(200)]
        await produce(kafka.bootstrap, topic, values, key=b"k")
        await asyncio.sleep(0.5)
        transport.resume_reading()
        seen: list[int] = []
        last_id: str | None = None
        final: dict[str, str] | None = None
        async with asyncio.timeout(20):
            while final is None:
                block = (await reader.readuntil(b"\n\n")).decode()
                fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
                if fields.get("event") == "mesh.error":
                    final = json.loads(fields["data"])
                elif "data" in fields:
                    seen.append(json.loads(fields["data"])["n"])
                    last_id = fields["id"]
        writer.close()
        assert final is not None
        assert final["code"] == "subscriber-too-slow"
        assert final["cursor"] == last_id
        assert last_id is not None
        assert seen == list(range(len(seen)))
        assert len(seen) < 200
        async with http.get(f"{gw.url}/{topic}", headers={**SSE, "Last-Event-ID": last_id}) as rest:
            remaining = await next_events(rest, 200 - len(seen), timeout=20)
    assert [json.loads(e.text)["n"] for e in remaining] == list(range(len(seen), 200))


async def test_a_client_catching_up_joins_the_shared_reader(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    spec = write_spec(tmp_path, channel_spec(topic))
    await produce(kafka.bootstrap, topic, [f'{{"n":{i}}}'.encode() for i in range(300)], key=b"k")
    async with start_gateway([spec]) as gw:
        live = await open_stream(http, f"{gw.url}/{topic}")
        async with http.get(f"{gw.url}/{topic}?from=earliest", headers=SSE) as late:
            early = await next_events(late, 300)
            hub = hub_of(gw, topic)
            async with asyncio.timeout(5):  # at the end of the log, it joins the shared reader
                while len(hub.clients) < 2:  # noqa: ASYNC110 - the gateway says nothing when
                    await asyncio.sleep(0.05)
            more = [f'{{"n":{i}}}'.encode() for i in range(300, 310)]
            await produce(kafka.bootstrap, topic, more, key=b"k")
            rest = await next_events(late, 10)
        assert [json.loads(e.text)["n"] for e in await next_events(live, 10)] == list(
            range(300, 310)
        )
        live.close()
    assert [json.loads(e.text)["n"] for e in early + rest] == list(range(310))
    assert endpoint(gw).hubs.readers_opened == 1
