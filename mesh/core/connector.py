"""What the gateway asks of a connector, as protocols: no implementation lives here.

A ``Connector`` is registered by name (entry point group ``mesh.connectors``) and turns a
configured server into an ``Endpoint``. Entrypoints only ever talk to ``Endpoint`` and
``Subscription``, so a shared fan-out reader can later wrap an endpoint without changing them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from mesh.core.errors import DeliveryError
from mesh.core.message import Message, Receipt
from mesh.core.routes import Action

__all__ = [
    "EMPTY",
    "Bindings",
    "Connector",
    "Endpoint",
    "EndpointSettings",
    "Restart",
    "StartAt",
    "StreamItem",
    "Subscription",
]

Bindings = Mapping[str, Any]
EMPTY: Bindings = MappingProxyType({})  # no bindings: the default everywhere


class StartAt(enum.Enum):
    """Where a subscription without a cursor starts."""

    EARLIEST = "earliest"
    LATEST = "latest"


@dataclass(frozen=True, slots=True)
class Restart:
    """A stream could not continue exactly where asked and restarts at ``cursor``.

    ``reason`` is a stable word (``retention``: the messages were removed; ``ahead``: the cursor
    points past the end of the log, for example after the broker lost its data).
    """

    reason: str
    cursor: str
    detail: Mapping[str, Any]


StreamItem = Message | Restart


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """A configured server: the spec's server merged with the gateway config's overrides.

    ``options`` holds connector-specific settings (SASL, TLS, fetch wait, deadlines).
    """

    name: str
    protocol: str
    hosts: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


class Subscription(Protocol):
    """An open read of one address. Owned by the entrypoint that opened it, which must ``close``."""

    @property
    def cursor(self) -> str:
        """The position right after the last item returned; resuming from it loses nothing."""
        ...

    async def next_batch(self, limit: int, timeout: float) -> list[StreamItem]:
        """Return up to ``limit`` items, waiting at most ``timeout`` s; ``[]`` when none came."""
        ...

    def wake(self) -> None:
        """Make a pending ``next_batch`` return soon, with what it has (maybe nothing)."""
        ...

    async def close(self) -> None: ...


class Endpoint(Protocol):
    """A connected backend. ``start`` before use, ``close`` once; both are the gateway's job.

    ``wildcard`` is the backend's one-level wildcard for subscriptions (MQTT ``+``), or None.
    ``bindings`` are the route's operation bindings for the endpoint's protocol (MQTT: ``qos``,
    ``retain``, ``messageExpiryInterval``).
    """

    name: str
    wildcard: str | None

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def check_address(self, address: str, action: Action) -> None:
        """Raise ``InvalidParameter`` if the backend cannot ``action`` ``address`` (a topic name
        or, subscribing, a filter)."""
        ...

    async def publish(
        self, address: str, message: Message, timeout: float, bindings: Bindings = EMPTY
    ) -> Receipt:
        """Send ``message`` and return only once the broker acknowledged it.

        Raises ``NotSent`` when nothing reached the broker, ``OutcomeUnknown`` when it was sent but
        no acknowledgement came within ``timeout`` s, ``BrokerRejected`` when the broker refused.
        """
        ...

    async def publish_many(
        self,
        address: str,
        messages: Sequence[Message],
        timeout: float,
        bindings: Bindings = EMPTY,
    ) -> list[Receipt | DeliveryError]:
        """Send ``messages`` in order, all under one deadline; return each one's outcome.

        Not atomic: each outcome is what ``publish`` would have raised or returned.
        """
        ...

    async def subscribe(
        self, address: str, cursor: str | None, start: StartAt, timeout: float
    ) -> Subscription:
        """Open a read of ``address`` right after ``cursor`` or, without one, at ``start``.

        Raises ``InvalidCursor`` for a cursor this endpoint did not mint for ``address``.
        """
        ...


class Connector(Protocol):
    """Builds endpoints for the protocols it declares."""

    protocols: frozenset[str]

    def create(self, settings: EndpointSettings) -> Endpoint: ...
