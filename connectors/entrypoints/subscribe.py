"""Reading a channel over HTTP: an SSE stream, or a long poll answered as JSON.

Both open the endpoint's subscription at the client's cursor (``Last-Event-ID`` or ``?cursor=``)
or, without one, at ``?from=earliest|latest`` (latest by default), and own it until they return.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from aiohttp import web

from connectors.entrypoints.caller import CALLER, NOBODY, Caller
from connectors.entrypoints.cors import add_cors_headers
from connectors.entrypoints.encoding import (
    message_json,
    sse_comment,
    sse_event,
    sse_notice,
    sse_restart,
)
from connectors.entrypoints.problem import json_response, problem_body
from connectors.entrypoints.state import GatewayState
from mesh.core.connector import Restart, StartAt, StreamItem, Subscription
from mesh.core.errors import InvalidRequest, MeshError
from mesh.core.message import Message
from mesh.core.routes import RouteMatch

__all__ = ["opened", "poll", "stream"]

# A fresh read needs one fetch round trip before it can see anything, so even ``wait=0`` waits
# this long for what is already stored.
_FIRST_FETCH = 0.5


@asynccontextmanager
async def opened(
    state: GatewayState, request: web.Request, match: RouteMatch, topic: str
) -> AsyncIterator[Subscription]:
    """The endpoint's read at the request's cursor, or where ``from`` says; closed on exit.

    It holds one of the caller's concurrent streams (``QuotaExceeded`` past the plan's cap)."""
    cursor = request.headers.get("Last-Event-ID") or request.query.get("cursor") or None
    endpoint = state.endpoints[match.route.endpoint]
    async with state.limits.stream(request.get(CALLER, NOBODY).consumer):
        subscription = await endpoint.subscribe(
            topic, cursor, _start(request), state.settings.subscribe_timeout
        )
        try:
            yield subscription
        finally:
            await subscription.close()


def _start(request: web.Request) -> StartAt:
    value = request.query.get("from", StartAt.LATEST.value)
    try:
        return StartAt(value)
    except ValueError:
        raise InvalidRequest("'from' is 'earliest' or 'latest'") from None


async def stream(
    state: GatewayState, request: web.Request, match: RouteMatch, topic: str
) -> web.StreamResponse:
    """Serve an SSE stream until the client leaves or the gateway shuts down."""
    settings = state.settings
    async with opened(state, request, match, topic) as subscription:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        add_cors_headers(settings, request, response)
        await response.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        state.streams[task] = subscription
        try:
            await response.write(
                f"retry: {settings.retry_ms}\n".encode() + sse_comment("stream open")
            )
            sink = _Sink(response, request.transport, settings.write_timeout)
            await _pump(state, match, subscription, sink, request.get(CALLER, NOBODY))
        except ConnectionResetError:
            pass  # the client left; its subscription closes below
        finally:
            state.streams.pop(task, None)
        return response


async def _pump(
    state: GatewayState,
    match: RouteMatch,
    subscription: Subscription,
    sink: _Sink,
    caller: Caller,
) -> None:
    settings = state.settings

    def encode(message: Message) -> bytes:
        return sse_event(state.delivered(match, message))

    loop = asyncio.get_running_loop()
    idle_since = loop.time()
    while not state.closing.is_set():
        try:
            # Wait until a message, the next heartbeat, or a wake-up at shutdown.
            quiet = max(0.01, settings.heartbeat_seconds - (loop.time() - idle_since))
            quiet = state.wait_limit(caller, quiet)
            before = subscription.cursor
            items = await subscription.next_batch(settings.stream_batch_limit, quiet)
            lapsed = state.lapsed(caller)
            if lapsed is not None:
                raise lapsed
            await state.charge_delivery(caller, items)
        except MeshError as exc:
            # nothing fetched in this turn was written: resuming from ``before`` loses nothing
            problem = problem_body(exc.code, exc.detail, **exc.extensions)
            await sink.write(sse_notice("mesh.error", problem, before))
            return
        if items:
            chunks = [
                sse_restart(item)
                if isinstance(item, Restart)
                else state.encodings.event(item, match.route, encode)
                for item in items
            ]
            await sink.write(b"".join(chunks))
            idle_since = loop.time()
        elif loop.time() - idle_since >= settings.heartbeat_seconds:
            await sink.write(sse_comment("keepalive"))
            idle_since = loop.time()
    with suppress(ConnectionResetError, TimeoutError):
        final = {"reason": "shutdown", "cursor": subscription.cursor}
        await sink.write(sse_notice("mesh.shutdown", final))
        await sink.response.write_eof()


@dataclass(frozen=True, slots=True)
class _Sink:
    """Where a stream writes: the response, over a transport that may or may not take more."""

    response: web.StreamResponse
    transport: asyncio.BaseTransport | None
    timeout: float

    async def write(self, data: bytes) -> None:
        """Write, or end the stream when the client does not take it in time: a client that
        stopped reading holds a broker read and memory, and can resume from its last event id."""
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport):
            _, high = transport.get_write_buffer_limits()
            if transport.get_write_buffer_size() + len(data) <= high:
                # Below the high-water mark the write cannot wait, so it needs no deadline.
                await self.response.write(data)
                return
        try:
            async with asyncio.timeout(self.timeout):
                await self.response.write(data)
        except TimeoutError as exc:
            raise ConnectionResetError("the client did not accept data in time") from exc


async def poll(
    state: GatewayState, request: web.Request, match: RouteMatch, topic: str
) -> web.Response:
    """Return up to ``limit`` messages after the cursor, waiting up to ``wait`` s for the first."""
    settings = state.settings
    limit = int(_number(request, "limit", settings.poll_default_limit, 1, settings.poll_max_limit))
    wait = float(_number(request, "wait", 0, 0, settings.poll_max_wait, kind=float))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with opened(state, request, match, topic) as subscription:
        items: list[StreamItem] = []
        while len(items) < limit:
            remaining = max(deadline - loop.time(), _FIRST_FETCH) if not items else 0.0
            batch = await subscription.next_batch(limit - len(items), remaining)
            items += batch
            if not batch and (items or loop.time() >= deadline - _FIRST_FETCH):
                break
        await state.charge_delivery(request.get(CALLER, NOBODY), items)
        named = [state.delivered(match, item) for item in items]
        body = {
            "messages": [message_json(i) for i in named if not isinstance(i, Restart)],
            "restarts": [
                {"reason": i.reason, "cursor": i.cursor, **i.detail}
                for i in named
                if isinstance(i, Restart)
            ],
            "cursor": subscription.cursor,
        }
    response = json_response(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def _number(
    request: web.Request, name: str, default: float, low: float, high: float, kind: type = int
) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise InvalidRequest(f"{name!r} must be a number from {low} to {high}") from None
    if not low <= value <= high:
        raise InvalidRequest(f"{name!r} must be a number from {low} to {high}")
    return value  # type: ignore[no-any-return]
