"""SSE streams from a real Kafka broker: events, resume, restarts, heartbeats, shutdown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import ClientSession

from connectors.endpoints.kafka_cursor import encode_cursor, topic_tag
from mesh.broker import EmbeddedKafka
from mesh.config import SseConfig
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.helpers import (
    create_topic,
    next_events,
    produce,
    raw_stream,
    sse_events,
    transport_of,
)

SSE = {"Accept": "text/event-stream"}


def spec(tmp_path: Path, topic: str) -> Path:
    return write_spec(tmp_path, channel_spec(topic))


async def test_messages_produced_with_aiokafka_arrive_as_events(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    await produce(kafka.bootstrap, topic, [b'{"n":0}'])
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async with http.get(f"{gw.url}/{topic}", headers=SSE) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/event-stream"
            await asyncio.sleep(0.3)  # from=latest: only what comes after the stream opened
            await produce(kafka.bootstrap, topic, [b'{"n":1}', b'{"n":2}'], key=b"k")
            events = await next_events(response, 2)
    assert [json.loads(e.text) for e in events] == [{"n": 1}, {"n": 2}]
    assert all(e.name == "thing" and e.id and e.id.startswith("k1.") for e in events)


async def test_from_earliest_replays_the_topic(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    await produce(kafka.bootstrap, topic, [b"1", b"2", b"3"], key=b"k")
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async with http.get(f"{gw.url}/{topic}?from=earliest", headers=SSE) as response:
            events = await next_events(response, 3)
    assert [e.text for e in events] == ["1", "2", "3"]


async def test_resume_across_a_gateway_restart_has_no_gap_and_no_duplicate(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    await create_topic(kafka.bootstrap, topic, 3)
    values = [f"m{i}".encode() for i in range(12)]
    for i, value in enumerate(values):
        await produce(kafka.bootstrap, topic, [value], partition=i % 3)
    async with start_gateway([spec(tmp_path, topic)]) as first:
        async with http.get(f"{first.url}/{topic}?from=earliest", headers=SSE) as response:
            seen = await next_events(response, 5)
    last_id = seen[-1].id
    assert last_id is not None
    await produce(kafka.bootstrap, topic, [b"late"], partition=1)
    async with start_gateway([spec(tmp_path, topic)]) as second:
        headers = {**SSE, "Last-Event-ID": last_id}
        async with http.get(f"{second.url}/{topic}", headers=headers) as response:
            rest = await next_events(response, 8)
            extra = await _more(response, 0.5)
    received = [e.text for e in seen + rest]
    assert sorted(received) == sorted(v.decode() for v in [*values, b"late"])
    assert len(received) == len(set(received)) == 13
    assert extra == []


async def _more(response: object, seconds: float) -> list[str]:
    from aiohttp import ClientResponse

    assert isinstance(response, ClientResponse)
    try:
        return [e.text for e in await next_events(response, 1, timeout=seconds)]
    except TimeoutError:
        return []


async def test_cursor_query_parameter_resumes_like_last_event_id(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    await produce(kafka.bootstrap, topic, [b"a", b"b", b"c"], partition=0)
    cursor = encode_cursor(topic_tag(topic), {0: 1})
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async with http.get(f"{gw.url}/{topic}?cursor={cursor}", headers=SSE) as response:
            events = await next_events(response, 2)
    assert [e.text for e in events] == ["b", "c"]


async def test_cursor_past_the_end_restarts_explicitly(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    await create_topic(kafka.bootstrap, topic, 2)
    await produce(kafka.bootstrap, topic, [b"a"], partition=0)
    await produce(kafka.bootstrap, topic, [b"x", b"y"], partition=1)
    cursor = encode_cursor(topic_tag(topic), {0: 50, 1: 1})
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        headers = {**SSE, "Last-Event-ID": cursor}
        async with http.get(f"{gw.url}/{topic}", headers=headers) as response:
            restart, after = await next_events(response, 2)
    assert restart.name == "mesh.restart"
    assert json.loads(restart.text) == {
        "reason": "ahead",
        "partition": 0,
        "requested": 50,
        "restart": 1,
    }
    assert restart.id == encode_cursor(topic_tag(topic), {0: 1, 1: 1})
    assert after.text == "y"


async def test_topic_created_after_the_stream_opened_is_read_from_its_start(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async with http.get(f"{gw.url}/{topic}", headers=SSE) as response:
            await asyncio.sleep(0.5)
            publish = await http.post(f"{gw.url}/{topic}", json={"first": True})
            assert publish.status == 201
            (event,) = await next_events(response, 1)
    assert json.loads(event.text) == {"first": True}


async def test_binary_payloads_are_marked(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    await produce(kafka.bootstrap, topic, [b"\xff\x00\x01"])
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async with http.get(f"{gw.url}/{topic}?from=earliest", headers=SSE) as response:
            (event,) = await next_events(response, 1)
    assert event.fields["encoding"] == "base64"
    assert event.text == "/wAB"


async def test_idle_stream_sends_heartbeats_and_retry_advice(
    tmp_path: Path, start_gateway: Start, http: ClientSession, topic: str
) -> None:
    sse = SseConfig(heartbeat_seconds=0.2, retry_ms=1234)
    async with start_gateway([spec(tmp_path, topic)], sse=sse) as gw:
        async with http.get(f"{gw.url}/{topic}", headers=SSE) as response:
            first = await response.content.readline()
            comments = []
            async with asyncio.timeout(5):
                async for event in sse_events(response):
                    if event.comment == "keepalive":
                        comments.append(event)
                    if len(comments) == 2:
                        break
    assert first == b"retry: 1234\n"


async def test_shutdown_sends_a_final_event(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    events = []
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        response = await http.get(f"{gw.url}/{topic}", headers=SSE)
        await produce(kafka.bootstrap, topic, [b"x"])
        events += await next_events(response, 1)
    async with asyncio.timeout(5):
        events += [e async for e in sse_events(response) if e.data]
    response.release()
    assert [e.name for e in events] == ["thing", "mesh.shutdown"]
    final = json.loads(events[-1].text)
    assert final["reason"] == "shutdown"
    assert final["cursor"] == events[0].id


async def test_a_client_that_leaves_releases_its_stream(
    tmp_path: Path, start_gateway: Start, http: ClientSession, topic: str
) -> None:
    sse = SseConfig(heartbeat_seconds=0.2)
    async with start_gateway([spec(tmp_path, topic)], sse=sse) as gw:
        response = await http.get(f"{gw.url}/{topic}", headers=SSE)
        await response.content.readline()
        (handler,) = gw.state.streams
        response.close()
        finished, _ = await asyncio.wait({handler}, timeout=5)
        assert finished == {handler}
        assert not gw.state.streams
        still = await http.post(f"{gw.url}/{topic}", json={})
        assert still.status == 201


async def test_a_client_that_stops_reading_is_dropped(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    sse = SseConfig(write_timeout_seconds=0.5)
    big = b"x" * 500_000
    async with start_gateway([spec(tmp_path, topic)], sse=sse) as gw:
        _, writer = await raw_stream(gw.port, f"/{topic}?from=earliest")
        transport = transport_of(writer)
        transport.pause_reading()  # never read again: the socket buffers fill up
        (handler,) = gw.state.streams
        await produce(kafka.bootstrap, topic, [big] * 40, key=b"k")
        finished, _ = await asyncio.wait({handler}, timeout=10)
        assert finished == {handler}
        others = await http.post(f"{gw.url}/{topic}", json={})
        assert others.status == 201
        writer.close()
