"""Where quota counters live: in this process, or in Redis for several processes or machines.

The Redis store runs the arithmetic of ``mesh.core.quota`` as one Lua script per count, so
concurrent gateways never admit more than the limit; the clock is Redis's own. Every call has a
tight timeout. When Redis is slow or down, ``fail_open`` decides: admit (and log), or refuse
with ``quota-unavailable``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mesh.core.errors import QuotaUnavailable
from mesh.core.quota import Decision, Limit, take

__all__ = ["MemoryStore", "QuotaStore", "RedisStore"]

log = logging.getLogger("mesh.limits")


class QuotaStore(Protocol):
    async def take(self, key: str, limit: Limit, amount: int) -> Decision:
        """Count ``amount`` for ``key`` against ``limit``; raise ``QuotaUnavailable`` when the
        counters cannot be reached and the store fails closed."""
        ...

    async def close(self) -> None: ...


class MemoryStore:
    """Counters of this process only."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, Limit], list[float]] = {}

    async def take(self, key: str, limit: Limit, amount: int) -> Decision:
        state = self._states.setdefault((key, limit), [])
        return take(limit, state, amount, time.time())

    async def close(self) -> None:
        self._states.clear()


# KEYS[1]: the counter; ARGV: algorithm, limit, period, amount. State: space-separated numbers.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local algorithm, limit = ARGV[1], tonumber(ARGV[2])
local period, amount = tonumber(ARGV[3]), tonumber(ARGV[4])
local s = {}
for n in string.gmatch(redis.call('GET', KEYS[1]) or '', '%S+') do s[#s + 1] = tonumber(n) end
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
  if algorithm == 'sliding_window' then s = {start, previous, current} else s = {start, current} end
  remaining = math.max(0, math.floor(limit - used))
end
local parts = {}
for i, v in ipairs(s) do parts[i] = string.format('%.17g', v) end
redis.call('SET', KEYS[1], table.concat(parts, ' '), 'PX', math.ceil(period * 2000) + 1000)
return {allowed, remaining, string.format('%.6f', reset), string.format('%.6f', retry)}
"""


class RedisStore:
    """Counters shared by every gateway using the same Redis."""

    def __init__(
        self, url: str, timeout: float, fail_open: bool, prefix: str = "mesh:quota:"
    ) -> None:
        self._redis = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._script: Any = self._redis.register_script(_SCRIPT)
        self.fail_open = fail_open
        self.prefix = prefix

    async def take(self, key: str, limit: Limit, amount: int) -> Decision:
        args = [limit.algorithm.value, limit.limit, limit.period, amount]
        try:
            allowed, remaining, reset, retry = await self._script(
                keys=[f"{self.prefix}{key}:{limit.name}:{limit.algorithm.value}"], args=args
            )
        except (RedisError, OSError, TimeoutError) as exc:
            if not self.fail_open:
                raise QuotaUnavailable("the quota counters cannot be reached") from exc
            log.warning("quota store unreachable, admitting (fail open): %s", exc)
            return Decision(limit, True, limit.limit, 0.0)
        return Decision(limit, bool(allowed), int(remaining), float(reset), float(retry))

    async def close(self) -> None:
        await self._redis.aclose()
