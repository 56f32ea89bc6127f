"""Plans applied to callers: who counts as which consumer, on which plan, and the charging.

A consumer is an authenticated principal (its plan from the API key's record or the token's
``plan_claim``, else ``default_plan``), or, for anonymous callers, the client address on
``anonymous_plan``. Requests are charged when admitted, messages and bytes when published; a
refusal is ``429 quota-exceeded`` with when to retry. Concurrent streams are capped per consumer
in the store (across processes with Redis).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from connectors.limits.stores import QuotaStore
from mesh.core.auth import Principal
from mesh.core.errors import QuotaExceeded
from mesh.core.quota import Decision, Measure, Plan

__all__ = ["Consumer", "Limiter"]


@dataclass(frozen=True, slots=True)
class Consumer:
    key: str
    plan: Plan | None


class Limiter:
    def __init__(
        self,
        plans: Mapping[str, Plan],
        store: QuotaStore,
        default_plan: str | None = None,
        anonymous_plan: str | None = None,
        plan_claim: str = "plan",
    ) -> None:
        self.plans = dict(plans)
        self.store = store
        self.default_plan = default_plan
        self.anonymous_plan = anonymous_plan
        self.plan_claim = plan_claim

    def consumer(self, principal: Principal, address: str | None) -> Consumer:
        if not principal.scheme:  # anonymous
            return Consumer(f"address:{address or 'unknown'}", self._plan(self.anonymous_plan))
        named = principal.claims.get(self.plan_claim)
        plan = self._plan(named if isinstance(named, str) else None) or self._plan(
            self.default_plan
        )
        return Consumer(principal.id, plan)

    async def charge(self, consumer: Consumer, amounts: Mapping[Measure, int]) -> Decision | None:
        """Count the amounts against every limit of the plan on their measures, all or none; the
        tightest decision (for ``RateLimit`` headers), or ``QuotaExceeded``."""
        if consumer.plan is None:
            return None
        charges = [
            (limit, amounts[limit.measure])
            for limit in consumer.plan.limits
            if amounts.get(limit.measure, 0) > 0
        ]
        if not charges:
            return None
        decisions = await self.store.take(consumer.key, charges)
        refused = [d for d in decisions if not d.allowed]
        if refused:
            worst = max(refused, key=lambda d: d.retry_after)
            raise QuotaExceeded(
                f"the plan allows {worst.limit.limit} {worst.limit.measure.value} per "
                f"{worst.limit.period:g} s",
                retry_after=max(1, math.ceil(worst.retry_after)),
                policy=worst.limit.name,
            )
        return min(decisions, key=lambda d: d.remaining / d.limit.limit)

    @asynccontextmanager
    async def stream(self, consumer: Consumer) -> AsyncIterator[None]:
        """Hold one of the consumer's concurrent streams while the block runs (counted in the
        store, so a Redis store caps streams across gateway processes)."""
        cap = consumer.plan.max_streams if consumer.plan else None
        if cap is None:
            yield
            return
        stream = secrets.token_hex(8)
        if not await self.store.hold(consumer.key, stream, cap):
            raise QuotaExceeded(
                f"the plan allows {cap} concurrent streams", retry_after=1, policy="streams"
            )
        try:
            yield
        finally:
            await self.store.release(consumer.key, stream)

    def _plan(self, name: str | None) -> Plan | None:
        return None if name is None else self.plans.get(name)
