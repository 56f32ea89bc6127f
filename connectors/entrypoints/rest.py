"""REST publish: ``POST /{address}`` sends one message; a batch content type sends several.

A 201 means the broker acknowledged the message. ``Idempotency-Key`` makes a retry return the first
answer; answers a retry could change (503, 504) are not remembered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from aiohttp import web

from connectors.entrypoints.body import read_body
from connectors.entrypoints.caller import CALLER, NOBODY
from connectors.entrypoints.envelope import (
    accept_content_type,
    message_from_envelope,
    outcome_json,
    receipt_status,
)
from connectors.entrypoints.problem import json_response, problem_response
from connectors.entrypoints.state import GatewayState
from mesh.core.errors import (
    DeliveryError,
    InvalidRequest,
    MeshError,
)
from mesh.core.idempotency import Answer, IdempotencyStore
from mesh.core.media import BATCH_MEDIA_TYPE, media_type, parse_json
from mesh.core.message import Headers, Message
from mesh.core.routes import RouteMatch

__all__ = ["publish"]

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255


async def publish(
    state: GatewayState, request: web.Request, match: RouteMatch, topic: str
) -> web.Response:
    """Handle a POST to a channel that may be published to."""
    route = match.route
    kind = media_type(request.headers.get("Content-Type"))
    if kind != BATCH_MEDIA_TYPE:
        accept_content_type(route, kind)
    body = await read_body(request, state.settings.max_body_bytes)
    publishing = partial(_publish, state, request, match, topic, kind, body)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return await publishing()
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidRequest(f"{IDEMPOTENCY_HEADER} must be 1-{MAX_IDEMPOTENCY_KEY} characters")
    fingerprint = _fingerprint(kind, _key(request, match), body)
    return await _once(state.idempotency, f"{route.id}|{topic}", key, fingerprint, publishing)


async def _once(
    store: IdempotencyStore,
    scope: str,
    key: str,
    fingerprint: str,
    publishing: Callable[[], Awaitable[web.Response]],
) -> web.Response:
    """Run ``publishing`` unless this key already has an answer; remember answers that a retry
    could not change (everything but 207, 503 and 504)."""
    remembered = store.begin(scope, key, fingerprint)
    if remembered is not None:
        response = web.Response(
            body=remembered.body, status=remembered.status, content_type=remembered.content_type
        )
        response.headers["Idempotent-Replayed"] = "true"
        return response
    try:
        response = await publishing()
    except DeliveryError as exc:
        if exc.remember:
            store.finish(scope, key, _answer(problem_response(exc)))
        else:
            store.forget(scope, key)
        raise
    except BaseException:
        store.forget(scope, key)
        raise
    if response.status == 207 or response.status >= 500:
        store.forget(scope, key)
    else:
        store.finish(scope, key, _answer(response))
    return response


async def _publish(
    state: GatewayState, request: web.Request, match: RouteMatch, topic: str, kind: str, body: bytes
) -> web.Response:
    if kind == BATCH_MEDIA_TYPE:
        return await _publish_batch(state, request, match, topic, body)
    message = Message(
        payload=body,
        key=_key(request, match),
        headers=_forwarded(request.headers, match.route.forward_headers),
        content_type=kind,
    )
    receipt = await state.publish(match, topic, message, request.get(CALLER, NOBODY))
    return json_response({**receipt.position, "cursor": receipt.cursor}, receipt_status(receipt))


async def _publish_batch(
    state: GatewayState, request: web.Request, match: RouteMatch, topic: str, body: bytes
) -> web.Response:
    entries = parse_json(body)
    limit = state.settings.max_batch_messages
    if not isinstance(entries, list) or not entries:
        raise InvalidRequest("a batch is a non-empty JSON array of messages")
    if len(entries) > limit:
        raise InvalidRequest(f"a batch holds at most {limit} messages", limit=limit)
    common = _forwarded(request.headers, match.route.forward_headers)
    checked = [_checked(state, match, entry, common) for entry in entries]
    valid = [m for m in checked if isinstance(m, Message)]
    await state.charge(request.get(CALLER, NOBODY), valid)
    endpoint = state.endpoints[match.route.endpoint]
    sent = iter(
        await endpoint.publish_many(
            topic, valid, state.settings.publish_timeout, match.route.bindings
        )
    )
    results = [
        outcome_json(next(sent) if isinstance(m, Message) else m, request.path) for m in checked
    ]
    status = 200 if all(r["status"] in (201, 202) for r in results) else 207
    return json_response({"results": results}, status)


def _checked(
    state: GatewayState, match: RouteMatch, entry: Any, common: Headers
) -> Message | MeshError:
    """A batch entry as a message ready to send, or why it cannot be sent."""
    try:
        return state.checked(match, message_from_envelope(match.route, entry, common))
    except MeshError as exc:
        return exc


def _key(request: web.Request, match: RouteMatch) -> bytes | None:
    source = match.route.key
    value = request.headers.get(source.header) or request.query.get(source.query)
    return None if value is None else value.encode()


def _forwarded(headers: Mapping[str, str], allowed: tuple[str, ...]) -> Headers:
    return tuple((name, headers[name].encode()) for name in allowed if name in headers)


def _fingerprint(kind: str, key: bytes | None, body: bytes) -> str:
    digest = hashlib.sha256(kind.encode())
    digest.update(b"\0" + (key or b"") + b"\0" + body)
    return digest.hexdigest()


def _answer(response: web.Response) -> Answer:
    body = response.body if isinstance(response.body, bytes) else b""
    return Answer(response.status, response.content_type, body)
