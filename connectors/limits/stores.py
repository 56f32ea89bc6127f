"""Where quota counters live: in this process, or in Redis for several processes or machines.

The Redis store runs the arithmetic of ``mesh.core.quota`` as one Lua script per count, so
concurrent gateways never admit more than the limit; the clock is Redis's own. Every call has a
tight timeout. When Redis is slow or down, ``fail_open`` decides: admit (and log), or refuse
with ``quota-unavailable``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mesh.core.errors import QuotaUnavailable
from mesh.core.quota import Decision, Limit, take

__all__ = ["MemoryStore", "QuotaStore", "RedisStore"]

log = logging.getLogger("mesh.limits")


class QuotaStore(Protocol):
    async def hold(self, key: str, stream: str, cap: int) -> bool:
        """Count one more open stream for ``key`` unless ``cap`` are open; False when full."""
        ...

    async def release(self, key: str, stream: str) -> None: ...

    async def take(self, key: str, charges: Sequence[tuple[Limit, int]]) -> list[Decision]:
        """Count each ``(limit, amount)`` for ``key``, all or none: when one limit refuses,
        nothing is counted. Raises ``QuotaUnavailable`` when the counters cannot be reached and
        the store fails closed."""
        ...

    async def close(self) -> None: ...


class MemoryStore:
    """Counters of this process only."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, Limit], list[float]] = {}
        self._streams: dict[str, set[str]] = {}

    async def hold(self, key: str, stream: str, cap: int) -> bool:
        held = self._streams.setdefault(key, set())
        if len(held) >= cap:
            return False
        held.add(stream)
        return True

    async def release(self, key: str, stream: str) -> None:
        held = self._streams.get(key, set())
        held.discard(stream)
        if not held:
            self._streams.pop(key, None)

    async def take(self, key: str, charges: Sequence[tuple[Limit, int]]) -> list[Decision]:
        now = time.time()
        trial = [(limit, list(self._states.get((key, limit), []))) for limit, _ in charges]
        decisions = [
            take(limit, state, amount, now)
            for (limit, state), (_, amount) in zip(trial, charges, strict=True)
        ]
        if all(d.allowed for d in decisions):
            for limit, state in trial:
                self._states[(key, limit)] = state
        return decisions

    async def close(self) -> None:
        self._states.clear()


# Several counts in one call. ARGV[1]: how many counts; then, per count, its number of limits n and
# algorithm, limit, period and amount for each; KEYS: one counter per limit, in the same order.
# Each count is all or none: its new states are written only when every one of its limits allows.
# A state is its numbers, space-separated.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out, a, k = {}, 2, 1
for g = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a]); a = a + 1
  local results, states, all = {}, {}, 1
  for i = 1, n do
    local key = KEYS[k]; k = k + 1
    local algorithm, limit = ARGV[a], tonumber(ARGV[a + 1])
    local period, amount = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]); a = a + 4
    local s = {}
    for v in string.gmatch(redis.call('GET', key) or '', '%S+') do s[#s + 1] = tonumber(v) end
    local allowed, remaining, reset, retry = 0, 0, 0, 0
    if algorithm == 'token_bucket' then
      local rate = limit / period
      local tokens = s[1] or limit
      local updated = s[2] or now
      tokens = math.min(limit, tokens + (now - updated) * rate)
      if amount <= tokens then tokens = tokens - amount; allowed = 1
      else retry = (math.min(amount, limit) - tokens) / rate end
      s = {tokens, now}
      remaining, reset = math.floor(tokens), (limit - tokens) / rate
    else
      local start = math.floor(now / period) * period
      local previous, current = 0, 0
      if s[1] == start then previous, current = (s[3] and s[2] or 0), (s[3] or s[2])
      elseif s[1] == start - period and algorithm == 'sliding_window' then previous = s[3] end
      local weight = 0
      if algorithm == 'sliding_window' then weight = 1 - (now - start) / period end
      local used = previous * weight + current
      reset = start + period - now
      if used + amount <= limit then current = current + amount; used = used + amount; allowed = 1
      else
        local needed = used + amount - limit
        if previous > 0 and needed <= previous * weight then retry = needed / previous * period
        else retry = reset end
      end
      s = {start, current}
      if algorithm == 'sliding_window' then s = {start, previous, current} end
      remaining = math.max(0, math.floor(limit - used))
    end
    local parts = {}
    for j, v in ipairs(s) do parts[j] = string.format('%.17g', v) end
    states[i] = {key, table.concat(parts, ' '), math.ceil(period * 2000) + 1000}
    if allowed == 0 then all = 0 end
    results[i] = {allowed, remaining, string.format('%.6f', reset), string.format('%.6f', retry)}
  end
  if all == 1 then
    for _, st in ipairs(states) do redis.call('SET', st[1], st[2], 'PX', st[3]) end
  end
  out[g] = results
end
return out
"""

Charges = Sequence[tuple[Limit, int]]

# KEYS[1]: the consumer's open streams (a sorted set scored by lease expiry); ARGV: stream id,
# cap, lease seconds. Leases of crashed processes lapse; live ones are renewed (RedisStore).
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 1000))
return 1
"""
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + tonumber(ARGV[1]), ARGV[i + 1])
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[1]) * 1000))
end
return 1
"""
LEASE_SECONDS = 60.0


class RedisStore:
    """Counters shared by every gateway using the same Redis.

    The counts asked for in one event loop turn go to Redis together, as one script call: with
    many concurrent requests, one round trip serves several of them.
    """

    def __init__(
        self, url: str, timeout: float, fail_open: bool, prefix: str = "mesh:quota:"
    ) -> None:
        self._redis = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._script: Any = self._redis.register_script(_SCRIPT)
        self.fail_open = fail_open
        self.prefix = prefix
        self._waiting: list[tuple[str, Charges, asyncio.Future[list[Decision]]]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._hold: Any = self._redis.register_script(_HOLD)
        self._renew: Any = self._redis.register_script(_RENEW)
        self._held: dict[tuple[str, str], None] = {}
        self._renewing: asyncio.Task[None] | None = None

    async def hold(self, key: str, stream: str, cap: int) -> bool:
        """A lease of ``LEASE_SECONDS`` in Redis, renewed while the stream is open, so the cap
        holds across gateway processes and a crashed one's streams lapse."""
        try:
            held = bool(
                await self._hold(keys=[self._streams(key)], args=[stream, cap, LEASE_SECONDS])
            )
        except (RedisError, OSError, TimeoutError) as exc:
            if not self.fail_open:
                raise QuotaUnavailable("the quota counters cannot be reached") from exc
            return True
        if held:
            self._held[(key, stream)] = None
            if self._renewing is None:
                self._renewing = asyncio.get_running_loop().create_task(self._renew_forever())
        return held

    async def release(self, key: str, stream: str) -> None:
        self._held.pop((key, stream), None)
        with suppress(RedisError, OSError, TimeoutError):
            await self._redis.zrem(self._streams(key), stream)

    def _streams(self, key: str) -> str:
        return f"{self.prefix}streams:{key}"

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            held = list(self._held)
            if not held:
                continue
            keys = [self._streams(key) for key, _ in held]
            with suppress(RedisError, OSError, TimeoutError):
                await self._renew(keys=keys, args=[LEASE_SECONDS, *(s for _, s in held)])

    async def take(self, key: str, charges: Charges) -> list[Decision]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Decision]] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._send_waiting)
        self._waiting.append((key, charges, future))
        return await future

    def _send_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[str, Charges, asyncio.Future[list[Decision]]]]) -> None:
        keys: list[str] = []
        args: list[Any] = [len(batch)]
        for key, charges, _ in batch:
            args.append(len(charges))
            for limit, amount in charges:
                keys.append(f"{self.prefix}{key}:{limit.name}:{limit.algorithm.value}")
                args += [limit.algorithm.value, limit.limit, limit.period, amount]
        try:
            results = await self._script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            choice = "open" if self.fail_open else "closed"
            log.warning("quota store unreachable (failing %s): %s", choice, exc)
            for _, charges, future in batch:
                if future.done():
                    continue
                if self.fail_open:
                    future.set_result(
                        [Decision(limit, True, limit.limit, 0.0) for limit, _ in charges]
                    )
                else:
                    future.set_exception(QuotaUnavailable("the quota counters cannot be reached"))
            return
        for (_, charges, future), group in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(
                    [
                        Decision(limit, bool(allowed), int(remaining), float(reset), float(retry))
                        for (limit, _), (allowed, remaining, reset, retry) in zip(
                            charges, group, strict=True
                        )
                    ]
                )

    async def close(self) -> None:
        for task in [*self._sending, *([self._renewing] if self._renewing else [])]:
            task.cancel()
        await self._redis.aclose()
