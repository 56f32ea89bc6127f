"""Publishing to Kafka with outcomes a client can act on: acked, not sent, unknown, rejected.

Before a message is handed to the producer its partition leader must be connected, so a broker
that cannot be reached yields ``NotSent`` within the deadline instead of a batch that expires with
an unknown outcome. Messages are appended by one coroutine at a time (aiokafka wakes every waiting
appender whenever a full batch drains; queued on a lock they wake one by one), then all acks are
awaited together under one deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata

from connectors.endpoints.kafka_cursor import encode_cursor, topic_tag
from mesh.core.errors import BrokerRejected, DeliveryError, NotSent, OutcomeUnknown
from mesh.core.message import Message, Receipt

__all__ = ["KafkaPublisher", "Outcome"]

Outcome = Receipt | DeliveryError


class KafkaPublisher:
    """Publishes through one shared producer; safe to call from many coroutines at once."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._partitioner = DefaultPartitioner()
        self._appending = asyncio.Lock()

    async def publish(
        self, topic: str, messages: Sequence[Message], timeout: float
    ) -> list[Outcome]:
        """Send ``messages`` in order; return each outcome once acked or at the deadline."""
        pending: dict[int, asyncio.Future[RecordMetadata]] = {}
        refused: dict[int, DeliveryError] = {}
        try:
            async with asyncio.timeout(timeout):
                await self._append(topic, messages, pending, refused)
                await _acks(list(pending.values()))
        except TimeoutError:
            pass
        except KafkaError as exc:  # metadata could not be had: what was not appended is not sent
            reason = NotSent(f"the broker cannot be reached: {type(exc).__name__}")
            refused.update({i: reason for i in range(len(messages)) if i not in pending})
        return [_outcome(topic, i, pending, refused) for i in range(len(messages))]

    async def _append(
        self,
        topic: str,
        messages: Sequence[Message],
        pending: dict[int, asyncio.Future[RecordMetadata]],
        refused: dict[int, DeliveryError],
    ) -> None:
        producer = self._producer
        connected: dict[int, bool] = {}
        # The lock is the first thing awaited, so concurrent callers append in the order they
        # called: the messages of one client stream land on the broker in order.
        async with self._appending:
            partitions = sorted(await producer.partitions_for(topic))
            for index, message in enumerate(messages):
                partition: int = self._partitioner(message.key, partitions, partitions)
                leader = producer.client.cluster.leader_for_partition(
                    TopicPartition(topic, partition)
                )
                if leader not in connected:
                    connected[leader] = (
                        leader is not None and leader >= 0 and (await producer.client.ready(leader))
                    )
                if not connected[leader]:
                    refused[index] = NotSent("the broker holding the partition cannot be reached")
                    continue
                try:
                    pending[index] = await producer.send(
                        topic,
                        message.payload,
                        key=message.key,
                        partition=partition,
                        headers=_headers(message),
                    )
                except KafkaError as exc:
                    refused[index] = BrokerRejected(
                        f"the producer refused the message: {type(exc).__name__}"
                    )


async def _acks(futures: list[asyncio.Future[RecordMetadata]]) -> None:
    """Wait for every future; each one's result or error is read afterwards."""
    if len(futures) == 1:  # the common single publish, without asyncio.wait's bookkeeping
        with suppress(KafkaError):
            await futures[0]
    elif futures:
        await asyncio.wait(futures)


def _headers(message: Message) -> list[tuple[str, bytes]]:
    headers = list(message.headers)
    if message.content_type:
        headers.append(("content-type", message.content_type.encode()))
    return headers


def _outcome(
    topic: str,
    index: int,
    pending: dict[int, asyncio.Future[RecordMetadata]],
    refused: dict[int, DeliveryError],
) -> Outcome:
    if index in refused:
        return refused[index]
    future = pending.get(index)
    if future is None:
        return NotSent("the broker cannot be reached in time")
    if not future.done() or future.cancelled():
        future.cancel()  # a late ack skips it: aiokafka only resolves futures not yet done
        return OutcomeUnknown("no acknowledgement from the broker in time")
    error = future.exception()
    if isinstance(error, KafkaError):
        if error.retriable or isinstance(error, KafkaTimeoutError):
            return OutcomeUnknown(f"delivery failed: {type(error).__name__}")
        return BrokerRejected(f"the broker refused the message: {type(error).__name__}")
    if error is not None:
        return OutcomeUnknown(f"delivery failed: {type(error).__name__}")
    metadata = future.result()
    cursor = encode_cursor(topic_tag(topic), {metadata.partition: metadata.offset + 1})
    return Receipt(cursor, {"partition": metadata.partition, "offset": metadata.offset})
