"""Remembered answers for ``Idempotency-Key``: a retry gets the first answer, not a second copy.

The store is in memory, bounded in entries and time. A key is scoped by the caller (route, and
principal once authentication exists). Answers a retry could change (the outcome was unknown, or
nothing was sent) are forgotten, so the client may try again.
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from mesh.core.errors import IdempotencyKeyInUse, IdempotencyKeyReused

__all__ = ["Answer", "IdempotencyStore"]


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as it was sent: status, content type and body."""

    status: int
    content_type: str
    body: bytes


class _State(enum.Enum):
    PENDING = "pending"
    DONE = "done"


@dataclass(slots=True)
class _Entry:
    fingerprint: str
    expires: float
    state: _State = _State.PENDING
    answer: Answer | None = None


class IdempotencyStore:
    """``begin`` before doing the work, then exactly one of ``finish`` or ``forget``."""

    def __init__(
        self,
        ttl: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def begin(self, scope: str, key: str, fingerprint: str) -> Answer | None:
        """Return the remembered answer for a repeated request, or None to go ahead.

        Raises ``IdempotencyKeyInUse`` while the first request is still running and
        ``IdempotencyKeyReused`` when the key came with a different request (``fingerprint``).
        """
        self._expire()
        entry = self._entries.get((scope, key))
        if entry is None:
            self._entries[(scope, key)] = _Entry(fingerprint, self._clock() + self._ttl)
            self._evict()
            return None
        if entry.fingerprint != fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
        if entry.state is _State.PENDING:
            raise IdempotencyKeyInUse("a request with this Idempotency-Key is in progress")
        return entry.answer

    def finish(self, scope: str, key: str, answer: Answer) -> None:
        """Remember ``answer`` for the key ``begin`` accepted."""
        entry = self._entries.get((scope, key))
        if entry is not None:
            entry.state = _State.DONE
            entry.answer = answer

    def forget(self, scope: str, key: str) -> None:
        """Drop the key so that a retry runs again."""
        self._entries.pop((scope, key), None)

    def _expire(self) -> None:
        now = self._clock()
        while self._entries:
            first = next(iter(self._entries.values()))
            if first.expires > now:
                return
            self._entries.popitem(last=False)

    def _evict(self) -> None:
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
