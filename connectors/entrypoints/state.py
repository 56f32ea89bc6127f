"""What the entrypoints need from the gateway: routes, endpoints, settings, shutdown signal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from connectors.entrypoints.caller import NOBODY, Caller
from connectors.entrypoints.clients import Networks
from connectors.entrypoints.encoding import EncodingCache
from connectors.limits.limiter import Limiter
from connectors.limits.stores import MemoryStore
from mesh.core.acl import Acls
from mesh.core.address import WILDCARD
from mesh.core.auth import Authenticator, Credentials, NoAuthenticator, Requirement
from mesh.core.connector import Endpoint, Restart, StreamItem, Subscription
from mesh.core.errors import InvalidParameter, MeshError
from mesh.core.exchange import Exchange
from mesh.core.idempotency import IdempotencyStore
from mesh.core.message import Message, Receipt
from mesh.core.proxy import OperationTable, Upstream
from mesh.core.quota import Measure
from mesh.core.routes import Action, RouteMatch, RouteTable

__all__ = ["EntrypointSettings", "GatewayState"]


@dataclass(frozen=True, slots=True)
class EntrypointSettings:
    max_body_bytes: int = 1_048_576
    max_batch_messages: int = 500
    publish_timeout: float = 5.0
    subscribe_timeout: float = 5.0
    heartbeat_seconds: float = 15.0
    retry_ms: int = 2_000
    stream_batch_limit: int = 500
    write_timeout: float = 30.0
    ws_max_frame: int = 1_048_576
    ws_ping_interval: float = 20.0
    ws_max_in_flight: int = 32
    poll_default_limit: int = 100
    poll_max_limit: int = 1_000
    poll_max_wait: float = 30.0
    cors_origins: frozenset[str] = frozenset()
    cors_headers: tuple[str, ...] = ()
    cors_expose: tuple[str, ...] = ()
    cors_credentials: bool = False
    cors_max_age: int = 600
    trusted_proxies: Networks = ()


@dataclass
class GatewayState:
    """Shared by every request. ``routes`` is replaced whole on reload, never changed in place;
    ``closing`` is set when the gateway shuts down, so streams end with a final event."""

    routes: RouteTable
    endpoints: Mapping[str, Endpoint]
    settings: EntrypointSettings
    idempotency: IdempotencyStore
    describe: Callable[[RouteTable], dict[str, Any]]
    operations: OperationTable = field(default_factory=OperationTable)
    upstreams: Mapping[str, Upstream] = field(default_factory=dict)
    auth: Authenticator = field(default_factory=NoAuthenticator)
    limits: Limiter = field(default_factory=lambda: Limiter({}, MemoryStore()))
    acls: Acls = field(default_factory=Acls)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    encodings: EncodingCache = field(default_factory=EncodingCache)
    streams: dict[asyncio.Task[Any], Subscription | None] = field(default_factory=dict)

    def checked(self, match: RouteMatch, message: Message) -> Message:
        """``message`` after the route's publish policies; they raise ``MeshError`` to refuse."""
        return match.route.publish_chain.apply(Exchange(match.route, match.values), message)

    async def admit(
        self,
        requirement: Requirement | None,
        credentials: Credentials,
        address: str | None,
        defer: bool = False,
    ) -> Caller:
        """The caller, if ``requirement`` lets them in (``Unauthorized``/``Forbidden``) and their
        plan allows one more request (``QuotaExceeded``). With ``defer``, the request is counted
        by ``charge``, with the one publish that follows."""
        principal = await self.auth.authenticate(requirement, credentials)
        consumer = self.limits.consumer(principal, address)
        if defer:
            return Caller(principal, consumer, deferred=True)
        decision = await self.limits.charge(consumer, {Measure.REQUESTS: 1})
        return Caller(principal, consumer, decision)

    async def charge_delivery(self, caller: Caller, items: Sequence[StreamItem]) -> None:
        """Count messages about to be written to the caller's stream or poll; ``QuotaExceeded``
        means they must not be written (the stream ends at the cursor before them)."""
        messages = [i for i in items if isinstance(i, Message)]
        if messages:
            amounts = {
                Measure.DELIVERED_MESSAGES: len(messages),
                Measure.DELIVERED_BYTES: sum(len(m.payload) for m in messages),
            }
            await self.limits.charge(caller.consumer, amounts)

    def authorize(self, match: RouteMatch, action: Action, caller: Caller) -> None:
        """Raise ``Forbidden`` unless the channel ACLs let the caller ``action`` this route with
        these parameter values."""
        self.acls.check(match.route.path.text, action, caller.principal, match.values)

    async def charge(self, caller: Caller, messages: Sequence[Message]) -> None:
        """Count published messages and their bytes (and a deferred request) against the
        caller's plan."""
        size = sum(len(m.payload) for m in messages)
        amounts = {Measure.MESSAGES: len(messages), Measure.BYTES: size}
        if caller.deferred:
            amounts[Measure.REQUESTS] = 1
        decision = await self.limits.charge(caller.consumer, amounts)
        if decision is not None:
            caller.decision = decision

    def lapsed(self, caller: Caller) -> MeshError | None:
        """Why a stream's caller may no longer read (its credential expired or was revoked)."""
        return self.auth.lapsed(caller.principal)

    def wait_limit(self, caller: Caller, wait: float) -> float:
        """``wait``, shortened so that a stream wakes when its caller's credential expires."""
        expires = caller.principal.expires
        return wait if expires is None else max(0.01, min(wait, expires - time.time()))

    def address(self, match: RouteMatch, action: Action) -> str:
        """The broker address ``match`` names, checked by the route and its endpoint.

        Subscribing, a parameter value ``*`` is a one-level wildcard where the endpoint has one.
        """
        endpoint = self.endpoints[match.route.endpoint]
        if action is Action.PUBLISH:
            if endpoint.wildcard is not None and WILDCARD in match.values.values():
                raise InvalidParameter("wildcards are for subscribing; publish to a single topic")
            address = match.route.topic(match.values)
        else:
            address = match.route.topic(match.values, endpoint.wildcard)
        endpoint.check_address(address, action)
        return address

    async def publish(
        self, match: RouteMatch, topic: str, message: Message, caller: Caller = NOBODY
    ) -> Receipt:
        """Check ``message``, charge it to the caller's plan and send it to the route's
        endpoint under the publish deadline."""
        endpoint = self.endpoints[match.route.endpoint]
        checked = self.checked(match, message)
        await self.charge(caller, [checked])
        return await endpoint.publish(
            topic,
            checked,
            self.settings.publish_timeout,
            match.route.bindings,
        )

    @overload
    def delivered(self, match: RouteMatch, item: Message) -> Message: ...

    @overload
    def delivered(self, match: RouteMatch, item: StreamItem) -> StreamItem: ...

    def delivered(self, match: RouteMatch, item: StreamItem) -> StreamItem:
        """A message read from a backend, after the route's subscribe policies; restarts pass."""
        if isinstance(item, Restart):
            return item
        return match.route.subscribe_chain.apply(Exchange(match.route, match.values), item)

    def wake_streams(self) -> None:
        """Make every stream look at ``closing`` now instead of at its next message."""
        for subscription in self.streams.values():
            if subscription is not None:
                subscription.wake()
