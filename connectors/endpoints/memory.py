"""An in-memory connector for unit tests of the core: one ordered log per address, in process.

It keeps the same contracts as a real endpoint (acks, cursors, ``InvalidCursor``), but nothing
survives the process and nothing is shared between processes. Never the proof that a feature works
against a broker.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from connectors.endpoints.kafka_cursor import decode_cursor, encode_cursor, topic_tag
from mesh.core.connector import EMPTY, Bindings, EndpointSettings, StartAt, StreamItem, Subscription
from mesh.core.errors import DeliveryError, NotSent
from mesh.core.message import Message, Receipt
from mesh.core.routes import Action

__all__ = ["MemoryConnector", "MemoryEndpoint"]


class MemoryConnector:
    protocols = frozenset({"memory"})

    def create(self, settings: EndpointSettings) -> MemoryEndpoint:
        return MemoryEndpoint(settings.name)


class MemoryEndpoint:
    """Logs per address; ``available`` False makes every publish fail with ``NotSent``."""

    wildcard: str | None = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.available = True
        self.logs: defaultdict[str, list[Message]] = defaultdict(list)
        self.waiting: set[asyncio.Event] = set()
        self._started = False

    @property
    def ready(self) -> bool:
        return self._started

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        self._started = False

    def check_address(self, address: str, action: Action) -> None:
        return None

    async def publish(
        self, address: str, message: Message, timeout: float, bindings: Bindings = EMPTY
    ) -> Receipt:
        if not self.available:
            raise NotSent("the memory endpoint is switched off")
        log = self.logs[address]
        offset = len(log)
        log.append(message)
        for event in self.waiting:
            event.set()
        cursor = encode_cursor(topic_tag(address), {0: offset + 1})
        return Receipt(cursor, {"partition": 0, "offset": offset})

    async def publish_many(
        self,
        address: str,
        messages: Sequence[Message],
        timeout: float,
        bindings: Bindings = EMPTY,
    ) -> list[Receipt | DeliveryError]:
        outcomes: list[Receipt | DeliveryError] = []
        for message in messages:
            try:
                outcomes.append(await self.publish(address, message, timeout))
            except DeliveryError as exc:
                outcomes.append(exc)
        return outcomes

    async def subscribe(
        self, address: str, cursor: str | None, start: StartAt, timeout: float
    ) -> Subscription:
        if cursor is not None:
            offset = decode_cursor(cursor, topic_tag(address)).get(0, 0)
        else:
            offset = 0 if start is StartAt.EARLIEST else len(self.logs[address])
        return _MemorySubscription(self, address, offset)


class _MemorySubscription:
    def __init__(self, endpoint: MemoryEndpoint, address: str, offset: int) -> None:
        self._endpoint = endpoint
        self._address = address
        self._tag = topic_tag(address)
        self._offset = offset
        self._arrived = asyncio.Event()

    @property
    def cursor(self) -> str:
        return encode_cursor(self._tag, {0: self._offset})

    async def next_batch(self, limit: int, timeout: float) -> list[StreamItem]:
        log = self._endpoint.logs[self._address]
        if self._offset >= len(log):
            self._arrived.clear()
            self._endpoint.waiting.add(self._arrived)
            try:
                async with asyncio.timeout(timeout):
                    await self._arrived.wait()
            except TimeoutError:
                return []
            finally:
                self._endpoint.waiting.discard(self._arrived)
        items: list[StreamItem] = []
        for message in log[self._offset : self._offset + limit]:
            self._offset += 1
            items.append(
                replace(
                    message,
                    cursor=self.cursor,
                    position={"partition": 0, "offset": self._offset - 1},
                )
            )
        return items

    def wake(self) -> None:
        self._arrived.set()

    async def close(self) -> None:
        return None
