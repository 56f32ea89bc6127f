"""One contract, every endpoint: the in-memory one and Kafka on a real Tansu broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.endpoints.kafka import KafkaConnector
from connectors.endpoints.memory import MemoryConnector
from mesh.broker import EmbeddedKafka
from mesh.core.connector import Endpoint, EndpointSettings, StartAt, Subscription
from mesh.core.errors import InvalidCursor
from mesh.core.message import Message


@pytest.fixture(params=["memory", "kafka"])
async def endpoint(request: pytest.FixtureRequest) -> AsyncIterator[Endpoint]:
    if request.param == "memory":
        created: Endpoint = MemoryConnector().create(EndpointSettings("m", "memory", ()))
    else:
        kafka: EmbeddedKafka = request.getfixturevalue("kafka")
        created = KafkaConnector().create(EndpointSettings("k", "kafka", (kafka.bootstrap,)))
    await created.start()
    assert created.ready
    yield created
    await created.close()


async def drain(subscription: Subscription, count: int) -> list[Message]:
    found: list[Message] = []
    for _ in range(50):
        found += [m for m in await subscription.next_batch(100, 0.2) if isinstance(m, Message)]
        if len(found) >= count:
            break
    return found


async def test_published_message_is_read_back(endpoint: Endpoint, topic: str) -> None:
    message = Message(
        b'{"n":1}', key=b"k", headers=(("x-id", b"7"),), content_type="application/json"
    )
    receipt = await endpoint.publish(topic, message, 5)
    assert receipt.cursor
    subscription = await endpoint.subscribe(topic, None, StartAt.EARLIEST, 5)
    try:
        (read,) = await drain(subscription, 1)
    finally:
        await subscription.close()
    assert (read.payload, read.key, read.headers) == (b'{"n":1}', b"k", (("x-id", b"7"),))
    assert read.content_type == "application/json"
    assert read.position == receipt.position


async def test_cursor_resumes_exactly_after_its_message(endpoint: Endpoint, topic: str) -> None:
    for n in range(5):
        await endpoint.publish(topic, Message(str(n).encode(), key=b"same"), 5)
    first = await endpoint.subscribe(topic, None, StartAt.EARLIEST, 5)
    try:
        read = await drain(first, 5)
    finally:
        await first.close()
    assert [m.payload for m in read] == [b"0", b"1", b"2", b"3", b"4"]
    resumed = await endpoint.subscribe(topic, read[2].cursor, StartAt.LATEST, 5)
    try:
        rest = await drain(resumed, 2)
    finally:
        await resumed.close()
    assert [m.payload for m in rest] == [b"3", b"4"]


async def test_latest_reads_only_new_messages(endpoint: Endpoint, topic: str) -> None:
    await endpoint.publish(topic, Message(b"old"), 5)
    subscription = await endpoint.subscribe(topic, None, StartAt.LATEST, 5)
    try:
        assert await subscription.next_batch(10, 0.3) == []
        await endpoint.publish(topic, Message(b"new"), 5)
        assert [m.payload for m in await drain(subscription, 1)] == [b"new"]
    finally:
        await subscription.close()


async def test_cursor_of_another_topic_is_refused(endpoint: Endpoint, topic: str) -> None:
    receipt = await endpoint.publish(topic, Message(b"x"), 5)
    with pytest.raises(InvalidCursor):
        await endpoint.subscribe(topic + ".other", receipt.cursor, StartAt.LATEST, 5)


async def test_garbage_cursor_is_refused(endpoint: Endpoint, topic: str) -> None:
    with pytest.raises(InvalidCursor):
        await endpoint.subscribe(topic, "not-a-cursor", StartAt.LATEST, 5)
