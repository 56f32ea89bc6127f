"""Who a request is from, once admitted: kept on the request for the handlers that follow."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from connectors.limits.limiter import Consumer
from mesh.core.auth import ANONYMOUS, Principal
from mesh.core.quota import Decision

__all__ = ["CALLER", "NOBODY", "Caller"]


@dataclass(slots=True)
class Caller:
    """The authenticated principal, the consumer its plan counts against, and the latest
    tightest limit decision (for the ``RateLimit`` headers; ``GatewayState.charge`` updates it).
    ``deferred``: the request is counted with the messages it publishes, in one count."""

    principal: Principal
    consumer: Consumer
    decision: Decision | None = None
    deferred: bool = False


NOBODY = Caller(ANONYMOUS, Consumer("nobody", None))
CALLER = web.RequestKey("mesh_caller", Caller)
