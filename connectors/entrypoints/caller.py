"""Who a request is from, once admitted: kept on the request for the handlers that follow."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from connectors.limits.limiter import Consumer
from mesh.core.auth import ANONYMOUS, Principal
from mesh.core.quota import Decision

__all__ = ["CALLER", "NOBODY", "Caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated principal, the consumer its plan counts against, and the tightest
    request limit decision (for the ``RateLimit`` headers)."""

    principal: Principal
    consumer: Consumer
    decision: Decision | None = None


NOBODY = Caller(ANONYMOUS, Consumer("nobody", None))
CALLER = web.RequestKey("mesh_caller", Caller)
