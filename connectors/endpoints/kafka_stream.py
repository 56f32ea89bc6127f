"""A Kafka read that the client owns: assign + seek, no consumer group, resumable by cursor.

Every item carries the cursor of the position right after it. A cursor below the log start
(retention removed the messages) or past the log end (the broker lost data) is not replayed
silently: the stream restarts at the nearest valid offset and says so with a ``Restart`` item.
Partitions that appear later are read from their start.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from connectors.endpoints.kafka_cursor import decode_cursor, encode_cursor, topic_tag
from connectors.endpoints.kafka_options import KafkaOptions
from mesh.core.connector import Restart, StartAt, StreamItem
from mesh.core.errors import NotSent
from mesh.core.message import Message

__all__ = ["KafkaSubscription"]

_PARTITION_CHECK_SECONDS = 5.0
_TOPIC_WAIT_SECONDS = 0.25  # how often a read of a topic that does not exist yet looks again


class KafkaSubscription:
    """Open with ``KafkaSubscription.open``; the opener must ``close`` it."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str, start: StartAt) -> None:
        self._consumer = consumer
        self._topic = topic
        self._tag = topic_tag(topic)
        self._start = start
        self._positions: dict[int, int] = {}
        self._pending: list[StreamItem] = []
        self._moved: list[tuple[str, dict[str, int]]] = []
        self._next_partition_check = 0.0

    @property
    def cursor(self) -> str:
        return encode_cursor(self._tag, self._positions)

    @property
    def positions(self) -> dict[int, int]:
        """The next offset to read, by partition (a live view: copy it to keep it)."""
        return self._positions

    @classmethod
    async def open(
        cls, options: KafkaOptions, topic: str, cursor: str | None, start: StartAt, timeout: float
    ) -> KafkaSubscription:
        """Connect and position the read; raises ``InvalidCursor`` or ``NotSent``."""
        wanted = None if cursor is None else decode_cursor(cursor, topic_tag(topic))
        consumer = AIOKafkaConsumer(
            **options.client_args(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="none",
            fetch_max_wait_ms=options.fetch_max_wait_ms,
            metadata_max_age_ms=int(_PARTITION_CHECK_SECONDS * 1000),
        )
        subscription = cls(consumer, topic, start)
        try:
            async with asyncio.timeout(timeout):
                await consumer.start()
                await subscription._position(wanted)
        except (TimeoutError, KafkaError, OSError) as exc:
            await consumer.stop()
            raise NotSent("the broker cannot be reached") from exc
        except BaseException:
            await consumer.stop()
            raise
        return subscription

    async def close(self) -> None:
        await self._consumer.stop()

    def wake(self) -> None:
        """Nothing to do: callers read this reader with short waits (the hub, catching up)."""

    async def next_batch(self, limit: int, timeout: float) -> list[StreamItem]:
        if self._pending:
            items, self._pending = self._pending[:limit], self._pending[limit:]
            return items
        await self._check_partitions()
        if not self._positions:
            await asyncio.sleep(min(timeout, _TOPIC_WAIT_SECONDS))
            return []
        try:
            batches = await self._consumer.getmany(
                timeout_ms=int(timeout * 1000), max_records=limit
            )
        except OffsetOutOfRangeError as exc:
            return await self._restart_out_of_range(exc)
        messages: list[StreamItem] = []
        for tp, records in batches.items():
            for record in records:
                self._positions[tp.partition] = record.offset + 1
                messages.append(self._message(record))
        return messages

    def _message(self, record: ConsumerRecord[Any, Any]) -> Message:
        headers = tuple((k, bytes(v or b"")) for k, v in record.headers)
        content_type = next(
            (v.decode(errors="replace") for k, v in headers if k == "content-type"), None
        )
        return Message(
            payload=record.value or b"",
            key=record.key,
            headers=tuple(h for h in headers if h[0] != "content-type"),
            content_type=content_type,
            cursor=encode_cursor(self._tag, self._positions),
            timestamp_ms=record.timestamp,
            position={"partition": record.partition, "offset": record.offset},
        )

    async def _position(self, wanted: dict[int, int] | None) -> None:
        partitions = await self._partitions()
        if not partitions:
            return
        tps = [TopicPartition(self._topic, p) for p in partitions]
        self._consumer.assign(tps)
        first = await self._consumer.beginning_offsets(tps)
        end = await self._consumer.end_offsets(tps)
        for tp in tps:
            low, high = first[tp], end[tp]
            if wanted is None:
                target = low if self._start is StartAt.EARLIEST else high
            else:
                target = wanted.get(tp.partition, low)
                target = self._clamp(tp.partition, target, low, high)
            self._positions[tp.partition] = target
            self._consumer.seek(tp, target)
        self._announce_restarts()

    def _clamp(self, partition: int, target: int, low: int, high: int) -> int:
        """The nearest offset in ``[low, high]``; a move is noted for ``_announce_restarts``."""
        if low <= target <= high:
            return target
        reason, restart = ("retention", low) if target < low else ("ahead", high)
        self._moved.append(
            (reason, {"partition": partition, "requested": target, "restart": restart})
        )
        return restart

    def _announce_restarts(self) -> None:
        """Queue a ``Restart`` per moved partition, carrying the cursor of every partition."""
        cursor = self.cursor
        self._pending += [Restart(reason, cursor, detail) for reason, detail in self._moved]
        self._moved.clear()

    async def _partitions(self) -> list[int]:
        known = self._consumer.partitions_for_topic(self._topic)
        if known is None:
            await self._consumer._client.force_metadata_update()
            known = self._consumer.partitions_for_topic(self._topic)
        return sorted(known or ())

    async def _check_partitions(self) -> None:
        now = time.monotonic()
        if now < self._next_partition_check:
            return
        partitions = await self._partitions()
        wait = _PARTITION_CHECK_SECONDS if partitions else _TOPIC_WAIT_SECONDS
        self._next_partition_check = now + wait
        added = [p for p in partitions if p not in self._positions]
        if not added:
            return
        tps = [TopicPartition(self._topic, p) for p in partitions]
        self._consumer.assign(tps)
        first = await self._consumer.beginning_offsets(
            [TopicPartition(self._topic, p) for p in added]
        )
        for tp, offset in first.items():
            self._positions[tp.partition] = offset
        for partition, offset in self._positions.items():
            self._consumer.seek(TopicPartition(self._topic, partition), offset)

    async def _restart_out_of_range(self, exc: OffsetOutOfRangeError) -> list[StreamItem]:
        tps = list(exc.args[0]) if exc.args and isinstance(exc.args[0], dict) else []
        tps = tps or [TopicPartition(self._topic, p) for p in self._positions]
        first = await self._consumer.beginning_offsets(tps)
        end = await self._consumer.end_offsets(tps)
        for tp in tps:
            target = self._positions.get(tp.partition, first[tp])
            self._positions[tp.partition] = self._clamp(tp.partition, target, first[tp], end[tp])
            self._consumer.seek(tp, self._positions[tp.partition])
        self._announce_restarts()
        items, self._pending = self._pending, []
        return items
