"""Admission of HTTP requests: who the caller is (credentials from headers, query, cookies and
the TLS client certificate), whether the route lets them in, and what their plan counts."""

from __future__ import annotations

import math

from aiohttp import web

from connectors.entrypoints.caller import CALLER
from connectors.entrypoints.clients import client_address
from connectors.entrypoints.state import GatewayState
from connectors.entrypoints.tls import certificate_subject
from mesh.core.auth import Credentials, Requirement
from mesh.core.errors import Forbidden, MeshError, Unauthorized
from mesh.core.quota import Decision
from mesh.core.routes import Action, RouteMatch

__all__ = ["admit", "admit_session", "credentials", "rate_limit_headers"]


async def admit_session(
    state: GatewayState, request: web.Request, match: RouteMatch
) -> MeshError | None:
    """Admit a WebSocket client for the actions of the route: refuse the session when it may not
    do any; return why it may not publish, if so (its publishes are then nacked)."""
    refusals: dict[Action, MeshError] = {}
    for action in match.route.actions:
        try:
            await state.auth.authenticate(match.route.security.get(action), credentials(request))
        except (Unauthorized, Forbidden) as exc:
            refusals[action] = exc
    if Action.SUBSCRIBE in refusals:
        raise refusals[Action.SUBSCRIBE]
    if Action.SUBSCRIBE not in match.route.actions and Action.PUBLISH in refusals:
        raise refusals[Action.PUBLISH]
    primary = Action.SUBSCRIBE if Action.SUBSCRIBE in match.route.actions else Action.PUBLISH
    if CALLER not in request:
        await admit(state, request, match.route.security.get(primary))
    state.authorize(match, primary, request[CALLER])
    if Action.PUBLISH in match.route.actions and Action.PUBLISH not in refusals:
        try:
            state.authorize(match, Action.PUBLISH, request[CALLER])
        except Forbidden as exc:
            refusals[Action.PUBLISH] = exc
    return refusals.get(Action.PUBLISH)


async def admit(
    state: GatewayState,
    request: web.Request,
    requirement: Requirement | None,
    defer: bool = False,
) -> None:
    """Admit the request's caller (auth and request quotas) and keep it on the request; a
    publish (``defer``) counts its request with its messages."""
    address = client_address(request, state.settings.trusted_proxies)
    caller = await state.admit(requirement, credentials(request), address, defer)
    request[CALLER] = caller


def rate_limit_headers(response: web.StreamResponse, decision: Decision) -> None:
    """The IETF ``RateLimit-Policy`` and ``RateLimit`` fields for the tightest request limit."""
    limit = decision.limit
    response.headers["RateLimit-Policy"] = f'"{limit.name}";q={limit.limit};w={limit.period:g}'
    response.headers["RateLimit"] = (
        f'"{limit.name}";r={decision.remaining};t={math.ceil(decision.reset)}'
    )


def credentials(request: web.Request) -> Credentials:
    """What the request carries to prove who sent it."""
    cookies = request.cookies if "Cookie" in request.headers else {}
    transport = request.transport
    peer = transport.get_extra_info("peercert") if transport is not None else None
    subject = certificate_subject(peer)
    return Credentials(request.headers, request.query, cookies, subject)
