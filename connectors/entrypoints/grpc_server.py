"""The gRPC entrypoint: ``mesh.v1.Gateway`` (``specs/proto/mesh/v1/gateway.proto``), with server
reflection and the standard health service, on its own port.

Outcomes map to status codes in one place (``STATUS``): schema violations and other bad input are
INVALID_ARGUMENT, nothing sent is UNAVAILABLE, an unknown outcome DEADLINE_EXCEEDED, an unknown
channel NOT_FOUND. The RFC 9457 problem document travels as JSON in the trailing metadata entry
``mesh-problem``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from connectors.entrypoints.caller import Caller
from connectors.entrypoints.envelope import accept_content_type
from connectors.entrypoints.grpc_api import gateway_pb2 as pb
from connectors.entrypoints.grpc_api import gateway_pb2_grpc as pb_grpc
from connectors.entrypoints.problem import problem_body
from connectors.entrypoints.state import GatewayState
from connectors.entrypoints.tls import ListenerTls
from mesh.core.auth import Credentials
from mesh.core.connector import Restart, StartAt, StreamItem
from mesh.core.errors import (
    BrokerForbidden,
    BrokerRejected,
    Forbidden,
    MeshError,
    MethodNotAllowed,
    NotReady,
    NotSent,
    OutcomeUnknown,
    PayloadTooLarge,
    QuotaExceeded,
    QuotaUnavailable,
    RequestError,
    RouteNotFound,
    SubscriberTooSlow,
    Unauthorized,
    UpstreamError,
    UpstreamTimeout,
)
from mesh.core.media import dump_json
from mesh.core.message import Message, Receipt
from mesh.core.routes import Action, Route, RouteMatch

__all__ = ["SERVICE", "STATUS", "GrpcServer"]

SERVICE = pb.DESCRIPTOR.services_by_name["Gateway"].full_name
STATUS: tuple[tuple[type[MeshError], grpc.StatusCode], ...] = (
    (RouteNotFound, grpc.StatusCode.NOT_FOUND),
    (MethodNotAllowed, grpc.StatusCode.UNIMPLEMENTED),
    (PayloadTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (QuotaExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (QuotaUnavailable, grpc.StatusCode.UNAVAILABLE),
    (Unauthorized, grpc.StatusCode.UNAUTHENTICATED),
    (Forbidden, grpc.StatusCode.PERMISSION_DENIED),
    (RequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotSent, grpc.StatusCode.UNAVAILABLE),
    (NotReady, grpc.StatusCode.UNAVAILABLE),
    (SubscriberTooSlow, grpc.StatusCode.UNAVAILABLE),
    (OutcomeUnknown, grpc.StatusCode.DEADLINE_EXCEEDED),
    (BrokerRejected, grpc.StatusCode.FAILED_PRECONDITION),
    (BrokerForbidden, grpc.StatusCode.PERMISSION_DENIED),
    (UpstreamTimeout, grpc.StatusCode.DEADLINE_EXCEEDED),
    (UpstreamError, grpc.StatusCode.UNAVAILABLE),
)
_OUTCOMES = ((NotSent, pb.NOT_SENT), (OutcomeUnknown, pb.UNKNOWN))
_CERTIFICATE = ":certificate"
_QUIET = 30.0  # a stream's read waits this long for a message unless woken at shutdown
_WINDOW = 256  # publishes of one PublishStream in flight at once


def status_of(error: MeshError) -> grpc.StatusCode:
    return next(
        (code for kind, code in STATUS if isinstance(error, kind)), grpc.StatusCode.INTERNAL
    )


def problem_json(error: MeshError) -> str:
    return dump_json(problem_body(error.code, error.detail, **error.extensions)).decode()


class GatewayService(pb_grpc.GatewayServicer):
    def __init__(self, state: GatewayState) -> None:
        self._state = state

    async def Publish(
        self, request: pb.PublishRequest, context: aio.ServicerContext
    ) -> pb.PublishReply:
        try:
            receipt = await self._publish(request, _metadata(context), _peer(context))
        except MeshError as exc:
            await _abort(context, exc)
        return _ack(request.id, receipt)

    async def PublishStream(
        self, requests: AsyncIterator[pb.PublishRequest], context: aio.ServicerContext
    ) -> AsyncIterator[pb.PublishReply]:
        """Requests that arrive while a group is being acked form the next group, published
        under one deadline; replies leave in request order."""
        metadata, peer = _metadata(context), _peer(context)
        inbox: asyncio.Queue[pb.PublishRequest | None] = asyncio.Queue(_WINDOW)

        async def accept() -> None:
            try:
                async for request in requests:
                    await inbox.put(request)
            finally:
                await inbox.put(None)

        reading = asyncio.create_task(accept())
        try:
            while group := await _next_group(inbox):
                for reply in await self._replies(group, metadata, peer):
                    yield reply
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    async def Subscribe(self, request: pb.SubscribeRequest, context: aio.ServicerContext) -> None:
        """Writes (rather than yields) each event, so that a client that stops reading meets the
        same write deadline as on SSE and WebSocket."""
        state = self._state
        start = StartAt.EARLIEST if request.start == pb.EARLIEST else StartAt.LATEST
        held = contextlib.AsyncExitStack()  # the caller's stream slot
        try:
            match, topic = self._resolve(request.channel, Action.SUBSCRIBE)
            caller = await self._admit(match, Action.SUBSCRIBE, _metadata(context), _peer(context))
            await held.enter_async_context(state.limits.stream(caller.consumer))
            endpoint = state.endpoints[match.route.endpoint]
            subscription = await endpoint.subscribe(
                topic, request.cursor or None, start, state.settings.subscribe_timeout
            )
        except MeshError as exc:
            await held.aclose()
            await _abort(context, exc)
        task = asyncio.current_task()
        assert task is not None
        state.streams[task] = subscription
        try:
            while not state.closing.is_set():
                written = subscription.cursor  # where a client that stops now resumes
                try:
                    wait = state.wait_limit(caller, _QUIET)
                    items = await subscription.next_batch(state.settings.stream_batch_limit, wait)
                    lapsed = state.lapsed(caller)
                    if lapsed is not None:
                        raise lapsed
                    await state.charge_delivery(caller, items)
                except MeshError as exc:
                    _finish(context, exc, written)
                    return
                for item in items:
                    named = state.delivered(match, item)
                    try:
                        async with asyncio.timeout(state.settings.write_timeout):
                            await context.write(_event(named))
                    except TimeoutError:
                        _finish(
                            context, SubscriberTooSlow("the client did not read in time"), written
                        )
                        return
                    written = item.cursor or written
            _finish(context, NotReady("the gateway is shutting down"), subscription.cursor)
        finally:
            state.streams.pop(task, None)
            await subscription.close()
            await held.aclose()

    async def _replies(
        self, group: list[pb.PublishRequest], metadata: Mapping[str, str], peer: str | None
    ) -> list[pb.PublishReply]:
        """Validate each request, then publish the valid ones run by run of the same topic."""
        prepared = [await self._prepared(request, metadata, peer) for request in group]
        outcomes: list[Receipt | MeshError | None] = [
            p if isinstance(p, MeshError) else None for p in prepared
        ]
        runs: dict[tuple[str, str], list[int]] = {}
        routes: dict[str, Route] = {}
        for index, item in enumerate(prepared):
            if not isinstance(item, MeshError):
                routes[item[0].id] = item[0]
                runs.setdefault((item[0].id, item[1]), []).append(index)
        for (route_id, topic), indexes in runs.items():
            route = routes[route_id]
            messages = [prepared[i][2] for i in indexes]  # type: ignore[index]
            sent = await self._state.endpoints[route.endpoint].publish_many(
                topic, messages, self._state.settings.publish_timeout, route.bindings
            )
            for index, outcome in zip(indexes, sent, strict=True):
                outcomes[index] = outcome
        return [
            _reply(request.id, outcome) for request, outcome in zip(group, outcomes, strict=True)
        ]

    async def _prepared(
        self, request: pb.PublishRequest, metadata: Mapping[str, str], peer: str | None
    ) -> tuple[Route, str, Message] | MeshError:
        try:
            match, topic = self._resolve(request.channel, Action.PUBLISH)
            caller = await self._admit(match, Action.PUBLISH, metadata, peer, defer=True)
            message = self._state.checked(match, self._message(match, request, metadata))
            await self._state.charge(caller, [message])
        except MeshError as exc:
            return exc
        return match.route, topic, message

    async def _publish(
        self, request: pb.PublishRequest, metadata: Mapping[str, str], peer: str | None
    ) -> Receipt:
        match, topic = self._resolve(request.channel, Action.PUBLISH)
        caller = await self._admit(match, Action.PUBLISH, metadata, peer, defer=True)
        message = self._message(match, request, metadata)
        return await self._state.publish(match, topic, message, caller)

    async def _admit(
        self,
        match: RouteMatch,
        action: Action,
        metadata: Mapping[str, str],
        peer: str | None,
        defer: bool = False,
    ) -> Caller:
        subject = metadata.get(_CERTIFICATE)
        credentials = Credentials(headers=metadata, query={}, cookies={}, certificate=subject)
        requirement = match.route.security.get(action)
        caller = await self._state.admit(requirement, credentials, peer, defer)
        self._state.authorize(match, action, caller)
        return caller

    def _message(
        self, match: RouteMatch, request: pb.PublishRequest, metadata: Mapping[str, str]
    ) -> Message:
        """The request as a message (not yet through the channel's publish policies)."""
        route = match.route
        limit = self._state.settings.max_body_bytes
        if len(request.payload) > limit:
            raise PayloadTooLarge(f"payload is over the limit of {limit} bytes")
        key = request.key if request.HasField("key") else metadata.get(route.key.header.lower())
        headers = {name: metadata[name] for name in route.forward_headers if name in metadata}
        headers.update({k.lower(): v for k, v in request.headers.items()})
        return Message(
            payload=request.payload,
            key=None if key is None else key.encode(),
            headers=tuple((k, v.encode()) for k, v in headers.items()),
            content_type=accept_content_type(route, request.content_type or "application/json"),
        )

    def _resolve(self, channel: str, action: Action) -> tuple[RouteMatch, str]:
        match = self._state.routes.resolve(channel if channel.startswith("/") else "/" + channel)
        if action not in match.route.actions:
            raise MethodNotAllowed(f"this channel does not allow {action.value}", [])
        return match, self._state.address(match, action)


async def _next_group(inbox: asyncio.Queue[pb.PublishRequest | None]) -> list[pb.PublishRequest]:
    """The requests waiting now (at least one, unless the stream ended)."""
    first = await inbox.get()
    group = [] if first is None else [first]
    while group and len(group) < _WINDOW and not inbox.empty():
        request = inbox.get_nowait()
        if request is None:
            inbox.put_nowait(None)  # seen again by the next call, which ends the stream
            break
        group.append(request)
    return group


def _reply(request_id: str, outcome: Receipt | MeshError | None) -> pb.PublishReply:
    if isinstance(outcome, Receipt):
        return _ack(request_id, outcome)
    assert outcome is not None
    kind = next((o for cls, o in _OUTCOMES if isinstance(outcome, cls)), pb.REFUSED)
    return pb.PublishReply(id=request_id, outcome=kind, problem=problem_json(outcome))


def _ack(request_id: str, receipt: Receipt) -> pb.PublishReply:
    return pb.PublishReply(
        id=request_id,
        outcome=pb.ACKED if receipt.acknowledged else pb.ACCEPTED,
        partition=receipt.position.get("partition", 0),
        offset=receipt.position.get("offset", 0),
        cursor=receipt.cursor,
    )


def _event(item: StreamItem) -> pb.Event:
    if isinstance(item, Restart):
        detail = {
            k: v for k, v in item.detail.items() if k in ("partition", "requested", "restart")
        }
        return pb.Event(restart=pb.Restart(cursor=item.cursor, reason=item.reason, **detail))
    message = pb.Message(
        cursor=item.cursor or "",
        name=item.name or "",
        partition=item.position.get("partition", 0),
        offset=item.position.get("offset", 0),
        timestamp_ms=item.timestamp_ms or 0,
        headers=dict(item.headers),
        content_type=item.content_type or "",
        payload=item.payload,
        address=item.address or "",
    )
    if item.key is not None:
        message.key = item.key
    return pb.Event(message=message)


def _peer(context: aio.ServicerContext) -> str | None:
    """The client address in gRPC's peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5``)."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    return rest.rsplit(":", 1)[0].strip("[]")


def _metadata(context: aio.ServicerContext) -> dict[str, str]:
    """The request metadata, plus the verified client certificate's subject under a key no
    client can send (gRPC reserves keys that start with a colon)."""
    found = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    subjects = (context.auth_context() or {}).get("x509_subject") or []
    if subjects:
        found[_CERTIFICATE] = subjects[0].decode(errors="replace")
    return found


async def _abort(context: aio.ServicerContext, error: MeshError) -> Any:
    """End the call now with ``error``'s status and problem."""
    context.set_trailing_metadata((("mesh-problem", problem_json(error)),))
    await context.abort(status_of(error), error.detail)


def _finish(context: aio.ServicerContext, error: MeshError, cursor: str) -> None:
    """End a stream with ``error``'s status, after what was written (an abort would drop it), with
    the position after the last message the gateway wrote in the ``mesh-cursor`` trailer."""
    context.set_trailing_metadata((("mesh-problem", problem_json(error)), ("mesh-cursor", cursor)))
    context.set_code(status_of(error))
    context.set_details(error.detail)


class GrpcServer:
    """The gRPC server of one gateway: ``start`` it, then ``stop`` it once."""

    def __init__(
        self, state: GatewayState, host: str, port: int, tls: ListenerTls | None = None
    ) -> None:
        limit = state.settings.max_body_bytes + 65_536
        self._state = state
        self._server = aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", max(limit, 4 * 1024 * 1024)),
                # ping idle clients and drop those that do not answer: dead peers free their reads
                ("grpc.keepalive_time_ms", 20_000),
                ("grpc.keepalive_timeout_ms", 10_000),
            ]
        )
        self._address = f"{host}:{port}"
        self._tls = tls
        self._health = health_aio.HealthServicer()
        self._watch: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> int:
        service = GatewayService(self._state)
        pb_grpc.add_GatewayServicer_to_server(service, self._server)  # type: ignore[no-untyped-call]
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (SERVICE, HEALTH, reflection.SERVICE_NAME), self._server
        )
        if self._tls is None:
            self.port = self._server.add_insecure_port(self._address)
        else:
            self.port = self._server.add_secure_port(self._address, self._tls.grpc_credentials())
        await self._server.start()
        self._watch = asyncio.create_task(self._report_health(), name="grpc-health")
        return self.port

    async def stop(self, grace: float) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self._set_health(False)
        await self._server.stop(grace)

    async def _report_health(self) -> None:
        while True:
            ready = all(e.ready for e in self._state.endpoints.values())
            await self._set_health(ready and not self._state.closing.is_set())
            await asyncio.sleep(1.0)

    async def _set_health(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else (health_pb2.HealthCheckResponse.NOT_SERVING)
        )
        for name in ("", SERVICE):
            await self._health.set(name, status)
