"""WebSocket sessions on a channel: messages pushed with their cursors, publishes acked one by one.

Envelope version 1 (subprotocol ``mesh.v1``), JSON text frames:

- server → client: ``message`` (as the long poll's JSON, plus ``type``), ``restart``, ``ack``
  (``id`` and the receipt), ``nack`` (``id``, ``outcome`` and the RFC 9457 ``problem``), ``error``
  (a frame that could not be read, with its ``problem``), and ``shutdown`` before the gateway
  closes with 1001;
- client → server: ``publish`` with an optional ``id`` and an envelope (``payload`` or ``data``,
  ``key``, ``headers``).

The handshake refuses, before upgrading: an ``Origin`` not in ``cors.allow_origins`` (403), a
subprotocol offer without ``mesh.v1`` and an unusable cursor (400). Frames over the size limit
close the session with 1009, text that is not UTF-8 with 1007. At most ``max_in_flight`` publishes
of a session are pending at once; the next frame is read only when one completes, so a flood of
frames is held back by TCP, never buffered without bound.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from connectors.entrypoints.caller import NOBODY, Caller
from connectors.entrypoints.cors import allowed_origin
from connectors.entrypoints.encoding import message_json
from connectors.entrypoints.envelope import message_from_envelope
from connectors.entrypoints.problem import problem_body
from connectors.entrypoints.state import GatewayState
from connectors.entrypoints.subscribe import opened
from mesh.core.connector import Restart, Subscription
from mesh.core.errors import (
    InvalidRequest,
    MalformedJson,
    MeshError,
    MethodNotAllowed,
    NotSent,
    OriginNotAllowed,
    OutcomeUnknown,
    QuotaExceeded,
    SubscriberTooSlow,
    Unauthorized,
)
from mesh.core.media import dump_json, parse_json
from mesh.core.message import Message, Receipt
from mesh.core.routes import Action, RouteMatch

__all__ = ["SUBPROTOCOL", "Grant", "is_websocket", "session"]

SUBPROTOCOL = "mesh.v1"
_QUIET = 30.0  # a session's read waits this long for a message unless woken at shutdown


def is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


@dataclass(frozen=True, slots=True)
class Grant:
    """Who the session's client is, and why it may not publish (its publishes are then nacked
    with it), if so."""

    caller: Caller = field(default_factory=lambda: NOBODY)
    refused: MeshError | None = None


async def session(
    state: GatewayState,
    request: web.Request,
    match: RouteMatch,
    topic: str,
    grant: Grant | None = None,
) -> web.WebSocketResponse:
    """Run one WebSocket session until either side closes or the gateway shuts down."""
    _check_handshake(state, request)
    if Action.SUBSCRIBE not in match.route.actions:
        return await _serve(state, request, match, topic, None, grant or Grant())
    async with opened(state, request, match, topic) as subscription:
        return await _serve(state, request, match, topic, subscription, grant or Grant())


async def _serve(
    state: GatewayState,
    request: web.Request,
    match: RouteMatch,
    topic: str,
    subscription: Subscription | None,
    grant: Grant,
) -> web.WebSocketResponse:
    settings = state.settings
    socket = web.WebSocketResponse(
        protocols=(SUBPROTOCOL,),
        heartbeat=settings.ws_ping_interval,
        max_msg_size=settings.ws_max_frame,
        compress=False,
    )
    await socket.prepare(request)
    task = asyncio.current_task()
    assert task is not None
    state.streams[task] = subscription
    try:
        await _run(state, match, topic, subscription, socket, request.transport, grant)
    finally:
        state.streams.pop(task, None)
    return socket


def _check_handshake(state: GatewayState, request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin is not None and allowed_origin(state.settings, origin) is None:
        raise OriginNotAllowed(f"origin {origin!r} may not open WebSocket sessions")
    offered = request.headers.get("Sec-WebSocket-Protocol")
    if offered and SUBPROTOCOL not in [p.strip() for p in offered.split(",")]:
        raise InvalidRequest(f"the only WebSocket subprotocol is {SUBPROTOCOL!r}")


async def _run(
    state: GatewayState,
    match: RouteMatch,
    topic: str,
    subscription: Subscription | None,
    socket: web.WebSocketResponse,
    transport: asyncio.BaseTransport | None,
    grant: Grant,
) -> None:
    """Read and push until the client leaves or the gateway shuts down; publishes already
    accepted finish (and are acked) before the session ends."""
    async with asyncio.TaskGroup() as publishes:
        owned = [asyncio.create_task(_read(state, match, topic, socket, publishes, grant))]
        closing = asyncio.create_task(state.closing.wait())
        if subscription is not None:
            push = _push(state, match, subscription, socket, transport, grant.caller)
            owned.append(asyncio.create_task(push))
        try:
            await asyncio.wait({owned[0], closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [*owned, closing]:
                task.cancel()
            await asyncio.gather(*owned, closing, return_exceptions=True)
    if state.closing.is_set() and not socket.closed:
        with suppress(ConnectionResetError):
            cursor = None if subscription is None else subscription.cursor
            await socket.send_json({"type": "shutdown", "cursor": cursor})
            await socket.close(code=1001, message=b"gateway shutting down")


async def _push(
    state: GatewayState,
    match: RouteMatch,
    subscription: Subscription,
    socket: web.WebSocketResponse,
    transport: asyncio.BaseTransport | None,
    caller: Caller,
) -> None:
    def encode(message: Message) -> bytes:
        return dump_json({"type": "message", **message_json(state.delivered(match, message))})

    while not socket.closed:
        try:
            wait = state.wait_limit(caller, _QUIET)
            before = subscription.cursor
            items = await subscription.next_batch(state.settings.stream_batch_limit, wait)
            lapsed = state.lapsed(caller)
            if lapsed is not None:
                raise lapsed
            await state.charge_delivery(caller, items)
        except MeshError as exc:
            await _send(state, socket, {**_error(exc), "cursor": before})
            code = 1013 if isinstance(exc, SubscriberTooSlow | QuotaExceeded) else 1011
            code = 1008 if isinstance(exc, Unauthorized) else code
            await socket.close(code=code, message=exc.code.encode())
            return
        for item in items:
            if isinstance(item, Restart):
                frame = {"type": "restart", "cursor": item.cursor, "reason": item.reason}
                await _send(state, socket, {**frame, **item.detail})
            else:
                text = state.encodings.event(item, match.route, encode, "websocket").decode()
                await _send_text(state, socket, text, transport)


async def _send(state: GatewayState, socket: web.WebSocketResponse, frame: dict[str, Any]) -> None:
    await _send_text(state, socket, dump_json(frame).decode(), None)


async def _send_text(
    state: GatewayState,
    socket: web.WebSocketResponse,
    text: str,
    transport: asyncio.BaseTransport | None,
) -> None:
    """Send a frame; a client that does not take it in time is disconnected. Below the
    transport's high-water mark the send cannot wait, so it sets no deadline."""
    if isinstance(transport, asyncio.WriteTransport):
        _, high = transport.get_write_buffer_limits()
        if transport.get_write_buffer_size() + len(text) <= high:
            await socket.send_str(text)
            return
    try:
        async with asyncio.timeout(state.settings.write_timeout):
            await socket.send_str(text)
    except TimeoutError:
        await socket.close(code=1008, message=b"the client did not read in time")


async def _read(
    state: GatewayState,
    match: RouteMatch,
    topic: str,
    socket: web.WebSocketResponse,
    publishes: asyncio.TaskGroup,
    grant: Grant,
) -> None:
    slots = asyncio.Semaphore(state.settings.ws_max_in_flight)
    async for frame in socket:
        if frame.type is WSMsgType.ERROR:
            return
        if frame.type is not WSMsgType.TEXT:
            await _send(state, socket, _error(InvalidRequest("frames are JSON text")))
            continue
        await slots.acquire()
        publishing = _publish(state, match, topic, socket, frame.data, slots, grant)
        publishes.create_task(publishing)


async def _publish(
    state: GatewayState,
    match: RouteMatch,
    topic: str,
    socket: web.WebSocketResponse,
    text: str,
    slots: asyncio.Semaphore,
    grant: Grant,
) -> None:
    try:
        frame_id, envelope = _parse(text)
    except MeshError as exc:
        slots.release()
        await _send(state, socket, _error(exc))
        return
    try:
        if grant.refused is not None:
            raise grant.refused
        receipt = await _deliver(state, match, topic, envelope, grant.caller)
        reply = {
            "type": "ack",
            "id": frame_id,
            **receipt.position,
            "cursor": receipt.cursor,
            "acknowledged": receipt.acknowledged,
        }
    except MeshError as exc:
        reply = {"type": "nack", "id": frame_id, "outcome": _outcome(exc), "problem": _problem(exc)}
    finally:
        slots.release()
    if not socket.closed:
        await _send(state, socket, reply)


def _parse(text: str) -> tuple[Any, dict[str, Any]]:
    """The ``id`` and envelope of a publish frame; ``InvalidRequest`` for an unreadable frame."""
    try:
        frame = parse_json(text)
    except MalformedJson as exc:
        raise InvalidRequest("a frame is a JSON object") from exc
    if not isinstance(frame, dict) or frame.get("type") != "publish":
        raise InvalidRequest('a client frame is {"type": "publish", ...}')
    return frame.get("id"), {k: v for k, v in frame.items() if k not in ("type", "id")}


async def _deliver(
    state: GatewayState, match: RouteMatch, topic: str, envelope: dict[str, Any], caller: Caller
) -> Receipt:
    if Action.PUBLISH not in match.route.actions:
        raise MethodNotAllowed("this channel cannot be published to", ["GET"])
    message = message_from_envelope(match.route, envelope)
    return await state.publish(match, topic, message, caller)


def _outcome(error: MeshError) -> str:
    """The outcome class of a failed publish: as REST's 503, 504, and everything else."""
    if isinstance(error, NotSent):
        return "not-sent"
    return "unknown" if isinstance(error, OutcomeUnknown) else "refused"


def _error(error: MeshError) -> dict[str, Any]:
    return {"type": "error", "problem": _problem(error)}


def _problem(error: MeshError) -> dict[str, Any]:
    return problem_body(error.code, error.detail, **error.extensions)
