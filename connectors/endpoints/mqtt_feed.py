"""MQTT streams: one feed per topic filter, shared by every stream reading it.

MQTT keeps no history, so the gateway keeps the last ``size`` messages of each subscribed filter
in a ring, numbered from 1. A stream is a position in that ring, and its cursor is
``m1.{feed}.{number}``: resuming is exact while the same feed still holds the next message, on the
same gateway process. Otherwise the stream restarts at the live end with a ``gap`` restart, so a
client always learns that messages may be missing. A slow stream never holds the feed up: when it
falls out of the ring it gets a ``gap`` restart naming how many messages it missed.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from itertools import islice

from mesh.core.connector import Restart, StartAt, StreamItem
from mesh.core.errors import InvalidCursor
from mesh.core.message import Message

__all__ = ["Feed", "FeedReader", "topic_matches"]

_CURSOR = re.compile(r"^m1\.([0-9a-f]{8})\.([0-9]{1,18})$")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching: ``+`` is one level, a final ``#`` this level and every one below;
    topics starting with ``$`` match no filter starting with a wildcard."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    levels = topic.split("/")
    parts = topic_filter.split("/")
    for index, part in enumerate(parts):
        if part == "#":
            return True
        if index >= len(levels) or (part != "+" and part != levels[index]):
            return False
    return len(parts) == len(levels)


class Feed:
    """The messages of one topic filter. ``push`` appends; readers follow at their own pace."""

    def __init__(self, topic_filter: str, size: int, on_idle: Callable[[Feed], None]) -> None:
        self.filter = topic_filter
        self.tag = secrets.token_hex(4)
        self.last = 0
        self.ring: deque[Message] = deque(maxlen=size)
        self.readers: set[FeedReader] = set()
        self._on_idle = on_idle

    @property
    def first(self) -> int:
        """The number of the oldest message still held (``last + 1`` when none is)."""
        return self.last - len(self.ring) + 1

    def cursor(self, position: int) -> str:
        return f"m1.{self.tag}.{position}"

    def push(self, message: Message, topic: str) -> None:
        self.last += 1
        self.ring.append(
            Message(
                payload=message.payload,
                headers=message.headers,
                content_type=message.content_type,
                timestamp_ms=message.timestamp_ms,
                cursor=self.cursor(self.last),
                address=topic,
            )
        )
        for reader in self.readers:
            reader.wake()

    def reader(self, cursor: str | None, start: StartAt) -> FeedReader:
        """A stream right after ``cursor`` or, without one, at ``start`` (earliest: the oldest
        message held). Raises ``InvalidCursor`` for a cursor that is not an MQTT stream's."""
        if cursor is None:
            return self._add(self.last if start is StartAt.LATEST else self.first - 1, None)
        found = _CURSOR.match(cursor)
        if found is None:
            raise InvalidCursor("this cursor was not issued for an MQTT stream")
        tag, position = found.group(1), int(found.group(2))
        if tag == self.tag and self.first - 1 <= position <= self.last:
            return self._add(position, None)
        # the messages are gone, or were never here (another feed, an earlier gateway process)
        lost = self.first - 1 - position if tag == self.tag and position < self.first else None
        detail = {} if lost is None else {"missed": lost}
        return self._add(self.last, Restart("gap", self.cursor(self.last), detail))

    def _add(self, position: int, restart: Restart | None) -> FeedReader:
        reader = FeedReader(self, position, restart)
        self.readers.add(reader)
        return reader

    def remove(self, reader: FeedReader) -> None:
        self.readers.discard(reader)
        if not self.readers:
            self._on_idle(self)


class FeedReader:
    """One stream's position in a feed (a ``Subscription``)."""

    def __init__(self, feed: Feed, position: int, restart: Restart | None) -> None:
        self._feed = feed
        self._position = position
        self._restart = restart
        self._event = asyncio.Event()

    @property
    def cursor(self) -> str:
        return self._feed.cursor(self._position)

    def wake(self) -> None:
        self._event.set()

    async def next_batch(self, limit: int, timeout: float) -> list[StreamItem]:
        items = self._take(limit)
        if not items:
            self._event.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
            items = self._take(limit)
        return items

    def _take(self, limit: int) -> list[StreamItem]:
        feed = self._feed
        if self._restart is not None:
            restart, self._restart = self._restart, None
            return [restart]
        if self._position < feed.first - 1:
            missed = feed.first - 1 - self._position
            self._position = feed.first - 1
            return [Restart("gap", self.cursor, {"missed": missed})]
        start = self._position - feed.first + 1
        taken: list[StreamItem] = list(islice(feed.ring, start, start + limit))
        self._position += len(taken)
        return taken

    async def close(self) -> None:
        self._feed.remove(self)
