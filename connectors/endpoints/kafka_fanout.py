"""Shared reads of hot Kafka topics: one broker reader per topic feeds every live subscriber.

A subscriber at the live end joins the topic's ``Hub`` and gets a ``HubClient``: a bounded buffer
the hub fills and the subscriber drains in batches. A subscriber whose buffer fills is detached at
once — the others never wait for it — and its next read raises ``SubscriberTooSlow`` with its last
cursor, from which it can resume. A subscriber that starts from a cursor or the earliest offset
reads on its own reader (``CatchUp``) until it reaches the hub's position, then joins the hub.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress

from connectors.endpoints.kafka_stream import KafkaSubscription
from mesh.core.connector import StreamItem
from mesh.core.errors import MeshError, NotSent, SubscriberTooSlow
from mesh.core.message import Message

__all__ = ["CatchUp", "Hub", "HubClient", "Hubs"]

log = logging.getLogger("mesh.kafka.fanout")

_PUMP_BATCH = 500
_TICK = 0.5

Opener = Callable[[], Awaitable[KafkaSubscription]]


class HubClient:
    """One subscriber of a hub: a buffer of at most ``capacity`` items, drained in batches."""

    def __init__(self, hub: Hub, cursor: str, capacity: int) -> None:
        self._hub = hub
        self._cursor = cursor
        self._buffer: deque[StreamItem] = deque()
        self._capacity = capacity
        self._ready = asyncio.Event()
        self.too_slow = False
        self.deadline = math.inf
        self._failure: MeshError | None = None

    @property
    def cursor(self) -> str:
        return self._cursor

    def offer(self, items: list[StreamItem]) -> bool:
        """Buffer ``items``; False (and the client is done for) when they do not fit."""
        if len(self._buffer) + len(items) > self._capacity:
            self.too_slow = True
            self._buffer.clear()
        else:
            self._buffer.extend(items)
        self._ready.set()
        return not self.too_slow

    def wake(self) -> None:
        self._ready.set()

    def fail(self, error: MeshError) -> None:
        """The shared reader broke: the client's next read raises ``error``."""
        self._failure = error
        self._ready.set()

    async def next_batch(self, limit: int, timeout: float) -> list[StreamItem]:
        if not self._buffer and not self.too_slow and self._failure is None:
            # No timer per wait (thousands of them cost more than the messages): the hub wakes
            # the clients whose wait is over on its own next turn, at most ``_TICK`` later.
            self.deadline = asyncio.get_running_loop().time() + timeout
            self._ready.clear()
            await self._ready.wait()
            self.deadline = math.inf
        if self._failure is not None:
            raise self._failure
        if self.too_slow:
            raise SubscriberTooSlow(
                "the client read too slowly and was disconnected; resume from the cursor",
                cursor=self._cursor,
            )
        count = min(limit, len(self._buffer))
        items = [self._buffer.popleft() for _ in range(count)]
        if items and items[-1].cursor is not None:
            self._cursor = items[-1].cursor
        return items

    async def close(self) -> None:
        await self._hub.leave(self)


class Hub:
    """The shared reader of one topic; it closes itself when its last client leaves."""

    def __init__(
        self, reader: KafkaSubscription, capacity: int, on_empty: Callable[[Hub], None]
    ) -> None:
        self.reader = reader
        self.clients: set[HubClient] = set()
        self._on_empty = on_empty
        # a client's buffer holds several reads, so one slow write does not cost it its place
        self._batch = max(1, min(_PUMP_BATCH, capacity // 4))
        self._pump = asyncio.create_task(self._run(), name="kafka-hub")

    def join(self, capacity: int) -> tuple[HubClient, dict[int, int]]:
        """A new client, and the positions from which the hub will feed it."""
        client = HubClient(self, self.reader.cursor, capacity)
        self.clients.add(client)
        return client, dict(self.reader.positions)

    async def leave(self, client: HubClient) -> None:
        self.clients.discard(client)
        if not self.clients:
            await self.close()

    async def close(self) -> None:
        self._on_empty(self)
        self._pump.cancel()
        with suppress(asyncio.CancelledError):
            await self._pump
        await self.reader.close()

    def _wake_expired(self) -> None:
        now = asyncio.get_running_loop().time()
        for client in self.clients:
            if client.deadline <= now:
                client.wake()

    async def _run(self) -> None:
        try:
            while True:
                items = await self.reader.next_batch(self._batch, _TICK)
                if items:
                    for client in list(self.clients):
                        if not client.offer(items):
                            self.clients.discard(client)
                    await asyncio.sleep(0)  # let the clients take what was offered
                else:
                    self._wake_expired()
        except Exception as exc:
            log.warning("shared reader failed: %r", exc)
            self._on_empty(self)  # new subscribers get a new reader; these ones end
            failure = NotSent("the shared reader of this channel failed; resume from the cursor")
            for client in self.clients:
                client.fail(failure)


class Hubs:
    """The hubs of one endpoint, by topic."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.readers_opened = 0
        self._hubs: dict[str, Hub] = {}
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._hubs)

    def get(self, topic: str) -> Hub | None:
        """The hub reading ``topic``, if any subscriber has it open."""
        return self._hubs.get(topic)

    async def join(self, topic: str, open_reader: Opener) -> tuple[HubClient, dict[int, int]]:
        async with self._lock:
            hub = self._hubs.get(topic)
            if hub is None:
                reader = await open_reader()
                self.readers_opened += 1
                hub = Hub(reader, self.capacity, lambda done: self._forget(topic, done))
                self._hubs[topic] = hub
            return hub.join(self.capacity)

    def _forget(self, topic: str, hub: Hub) -> None:
        if self._hubs.get(topic) is hub:
            del self._hubs[topic]

    async def close(self) -> None:
        for hub in list(self._hubs.values()):
            await hub.close()


class CatchUp:
    """Reads on its own reader until it reaches the hub, then drains the hub's buffer.

    It joins the hub once its own reader found nothing new (it is at the end of the log); from
    then on it delivers its own messages only below the hub's position and closes its reader as
    soon as every partition reached it, so each message is delivered exactly once.
    """

    def __init__(self, own: KafkaSubscription, topic: str, hubs: Hubs, open_reader: Opener) -> None:
        self._own: KafkaSubscription | None = own
        self._topic = topic
        self._hubs = hubs
        self._open_reader = open_reader
        self._client: HubClient | None = None
        self._joined_at: dict[int, int] = {}
        self._floor: dict[int, int] = {}

    @property
    def cursor(self) -> str:
        if self._own is not None:
            return self._own.cursor
        assert self._client is not None
        return self._client.cursor

    async def next_batch(self, limit: int, timeout: float) -> list[StreamItem]:
        if self._own is None:
            assert self._client is not None
            items = await self._client.next_batch(limit, timeout)
            return [i for i in items if not _below(i, self._floor, unknown=False)]
        wait = min(timeout, _TICK) if self._client is None else 0.05
        items = await self._own.next_batch(limit, wait)
        if self._client is None and not items:
            self._client, self._joined_at = await self._hubs.join(self._topic, self._open_reader)
        if self._client is not None:
            items = [i for i in items if _below(i, self._joined_at, unknown=True)]
            if self._reached_hub():
                self._floor = dict(self._own.positions)
                await self._own.close()
                self._own = None
        return items

    def _reached_hub(self) -> bool:
        assert self._own is not None
        own = self._own.positions
        return all(own.get(p, 0) >= offset for p, offset in self._joined_at.items())

    def wake(self) -> None:
        if self._client is not None:
            self._client.wake()

    async def close(self) -> None:
        if self._own is not None:
            await self._own.close()
        if self._client is not None:
            await self._client.close()


def _below(item: StreamItem, positions: dict[int, int], unknown: bool) -> bool:
    """Whether a message lies below ``positions`` in its partition; ``unknown`` for a partition
    ``positions`` does not name, and for anything but a message."""
    if not isinstance(item, Message):
        return unknown
    partition, offset = item.position.get("partition"), item.position.get("offset")
    if partition is None or offset is None or partition not in positions:
        return unknown
    return offset < positions[partition]
