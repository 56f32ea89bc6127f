"""Compiled wiring from HTTP paths to channels: immutable, resolved per request, swapped whole."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mesh.core.address import WILDCARD, AddressTemplate, check_parameter_value
from mesh.core.auth import Requirement
from mesh.core.errors import InvalidParameter, RouteNotFound
from mesh.core.policy import PolicyChain

__all__ = ["Action", "ChannelMessage", "KeySource", "Route", "RouteMatch", "RouteTable"]


class Action(enum.Enum):
    """What a client may do on a channel through the gateway."""

    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"


@dataclass(frozen=True, slots=True)
class ChannelMessage:
    """A message the channel carries: its name, content type and payload check (if any).

    ``accepts`` returns None when the payload fits, or the list of failures otherwise.
    """

    name: str | None
    content_type: str
    accepts: Callable[[Any], list[dict[str, str]] | None] | None = None
    title: str | None = None
    payload_schema: Mapping[str, Any] | bool | None = None


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where the Kafka message key comes from: a request header, a query parameter, or a
    JSON pointer into the payload (``field``), in that order of precedence."""

    header: str = "Message-Key"
    query: str = "key"
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """One channel served at ``path``: published to and/or read from ``address`` on ``endpoint``."""

    id: str
    path: AddressTemplate
    address: AddressTemplate
    endpoint: str
    actions: frozenset[Action]
    messages: tuple[ChannelMessage, ...]
    parameters: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    key: KeySource = field(default_factory=KeySource)
    forward_headers: tuple[str, ...] = ()
    publish_chain: PolicyChain = field(default_factory=PolicyChain)
    subscribe_chain: PolicyChain = field(default_factory=PolicyChain)
    title: str | None = None
    description: str | None = None
    bindings: Mapping[str, Any] = field(default_factory=dict)
    security: Mapping[Action, Requirement] = field(default_factory=dict)

    content_types: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_types", frozenset(m.content_type for m in self.messages))

    def topic(self, values: Mapping[str, str], wildcard: str | None = None) -> str:
        """Check ``values`` against each parameter's rules and render the address.

        With ``wildcard`` (the backend's one-level wildcard, MQTT ``+``), the value ``*`` of a
        parameter without an ``enum`` renders as ``wildcard``: a filter that stays inside what
        the route allows. Anything else that is not a plain value is refused.
        """
        rendered = dict(values)
        for name in self.address.parameters:
            allowed = self.parameters.get(name)
            if wildcard is not None and values[name] == WILDCARD:
                if allowed is not None:
                    raise InvalidParameter(
                        f"parameter {name!r} is limited to {sorted(allowed)}; "
                        "a wildcard would reach beyond them",
                        parameter=name,
                    )
                rendered[name] = wildcard
                continue
            check_parameter_value(name, values[name], allowed)
        return self.address.render(rendered)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    values: Mapping[str, str]


class RouteTable:
    """Routes by path: literal paths in a dict, templated ones tried in order after them."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self._literal = {r.path.text: r for r in routes if r.path.is_literal}
        self._templated = tuple(r for r in routes if not r.path.is_literal)

    def resolve(self, path: str) -> RouteMatch:
        """Return the route serving ``path`` and its parameter values, or raise RouteNotFound."""
        route = self._literal.get(path)
        if route is not None:
            return RouteMatch(route, {})
        for route in self._templated:
            values = route.path.match(path)
            if values is not None:
                return RouteMatch(route, values)
        raise RouteNotFound(f"no route at {path!r}")
