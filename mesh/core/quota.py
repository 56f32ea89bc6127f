"""Plans, their limits, and the arithmetic of counting against them (no I/O).

A ``Limit`` caps one ``Measure`` (requests, messages or bytes) per ``period`` seconds with one
``Algorithm``: a token bucket for rates (``limit`` tokens, refilled evenly over the period), a
fixed window, or a sliding window (the current window plus the previous one weighted by how much
of it still overlaps) for quotas. ``take`` is the single-process arithmetic; a shared store runs
the same arithmetic atomically (``connectors/limits``).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

__all__ = ["Algorithm", "Decision", "Limit", "Measure", "Plan", "take"]


class Measure(enum.Enum):
    REQUESTS = "requests"
    MESSAGES = "messages"  # published
    BYTES = "bytes"  # published payload bytes
    DELIVERED_MESSAGES = "delivered_messages"  # written to streams and polls
    DELIVERED_BYTES = "delivered_bytes"


class Algorithm(enum.Enum):
    TOKEN_BUCKET = "token_bucket"
    FIXED_WINDOW = "fixed_window"
    SLIDING_WINDOW = "sliding_window"


@dataclass(frozen=True, slots=True)
class Limit:
    measure: Measure
    limit: int
    period: float
    algorithm: Algorithm = Algorithm.TOKEN_BUCKET

    @property
    def name(self) -> str:
        """The policy name in ``RateLimit``/``RateLimit-Policy`` headers."""
        return f"{self.measure.value}-{self.period:g}s"


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    limits: tuple[Limit, ...] = ()
    max_streams: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """``allowed``: whether ``amount`` was taken; ``remaining`` after it; ``reset``: seconds until
    the full limit is available again; ``retry_after``: seconds until the refused amount fits."""

    limit: Limit
    allowed: bool
    remaining: int
    reset: float
    retry_after: float = 0.0


def take(limit: Limit, state: list[float], amount: int, now: float) -> Decision:
    """Count ``amount`` against ``limit`` in ``state`` (changed in place; start with ``[]``)."""
    if limit.algorithm is Algorithm.TOKEN_BUCKET:
        return _bucket(limit, state, amount, now)
    if limit.algorithm is Algorithm.FIXED_WINDOW:
        return _fixed(limit, state, amount, now)
    return _sliding(limit, state, amount, now)


def _bucket(limit: Limit, state: list[float], amount: int, now: float) -> Decision:
    rate = limit.limit / limit.period  # tokens per second
    tokens, updated = state if state else (float(limit.limit), now)
    tokens = min(float(limit.limit), tokens + (now - updated) * rate)
    allowed = amount <= tokens
    if allowed:
        tokens -= amount
    state[:] = [tokens, now]
    retry = 0.0 if allowed else (min(amount, limit.limit) - tokens) / rate
    reset = (limit.limit - tokens) / rate
    return Decision(limit, allowed, math.floor(tokens), reset, retry)


def _fixed(limit: Limit, state: list[float], amount: int, now: float) -> Decision:
    start = math.floor(now / limit.period) * limit.period
    count = state[1] if state and state[0] == start else 0.0
    allowed = count + amount <= limit.limit
    if allowed:
        count += amount
    state[:] = [start, count]
    reset = start + limit.period - now
    return Decision(limit, allowed, int(limit.limit - count), reset, 0.0 if allowed else reset)


def _sliding(limit: Limit, state: list[float], amount: int, now: float) -> Decision:
    start = math.floor(now / limit.period) * limit.period
    if state and state[0] == start:
        previous, current = state[1], state[2]
    elif state and state[0] == start - limit.period:
        previous, current = state[2], 0.0
    else:
        previous, current = 0.0, 0.0
    weight = 1 - (now - start) / limit.period
    used = previous * weight + current
    allowed = used + amount <= limit.limit
    if allowed:
        current += amount
        used += amount
    state[:] = [start, previous, current]
    reset = start + limit.period - now
    retry = 0.0
    if not allowed:
        # the previous window's share shrinks as time passes; past this window it is gone
        needed = used + amount - limit.limit
        retry = (
            needed / previous * limit.period if previous and needed <= previous * weight else reset
        )
    return Decision(limit, allowed, max(0, math.floor(limit.limit - used)), reset, retry)
