"""HTTP operations the gateway serves from OpenAPI documents: checked here, then proxied to an
upstream or handed to a channel.

An ``Operation`` is compiled once; ``check`` validates a request's parameters and body against the
document before anything leaves the gateway. ``Upstream`` is what an HTTP endpoint offers the
entrypoints: forward a request and stream the answer back.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mesh.core.address import AddressTemplate
from mesh.core.auth import Requirement
from mesh.core.errors import InvalidParameter, SchemaViolation, UnsupportedMediaType
from mesh.core.media import is_json, parse_json

__all__ = [
    "IDEMPOTENT_METHODS",
    "BodyCheck",
    "Forward",
    "Location",
    "Operation",
    "OperationTable",
    "ParameterCheck",
    "Upstream",
    "UpstreamReply",
]

Check = Callable[[Any], list[dict[str, str]] | None]

# RFC 9110 section 9.2.2: a retry of these has the effect of one request
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class Location(enum.Enum):
    PATH = "path"
    QUERY = "query"
    HEADER = "header"
    COOKIE = "cookie"


@dataclass(frozen=True, slots=True)
class ParameterCheck:
    """One OpenAPI parameter: a string from the request, read as its schema's ``type`` says."""

    name: str
    location: Location
    required: bool = False
    kind: str | None = None
    check: Check | None = None

    def validate(self, raw: str | None) -> None:
        if raw is None:
            if self.required:
                raise InvalidParameter(
                    f"{self.location.value} parameter {self.name!r} is required",
                    parameter=self.name,
                )
            return
        value = _typed(raw, self.kind)
        failures = None if self.check is None else self.check(value)
        if failures:
            raise InvalidParameter(
                f"{self.location.value} parameter {self.name!r}: {failures[0]['message']}",
                parameter=self.name,
            )


@dataclass(frozen=True, slots=True)
class BodyCheck:
    """The request body's media types, each with its schema check (None: anything goes)."""

    required: bool
    media: Mapping[str, Check | None]

    def validate(self, content_type: str, body: bytes) -> None:
        if not body:
            if self.required:
                raise SchemaViolation("a request body is required", errors=[])
            return
        if content_type not in self.media and "*/*" not in self.media:
            raise UnsupportedMediaType(
                f"send one of {sorted(self.media)}", accepted=sorted(self.media)
            )
        check = self.media.get(content_type)
        if check is None or not is_json(content_type):
            return
        failures = check(parse_json(body))
        if failures:
            raise SchemaViolation("the request body does not match its schema", errors=failures)


@dataclass(frozen=True, slots=True)
class Operation:
    """An OpenAPI operation at ``path`` (the gateway's path) for ``method``.

    Proxied to ``upstream`` at ``upstream_path`` (the document's path template) unless ``channel``
    names a channel route's path template to publish the request to, or to stream from.
    """

    id: str
    method: str
    path: AddressTemplate
    upstream_path: str
    upstream: str | None
    parameters: tuple[ParameterCheck, ...] = ()
    body: BodyCheck | None = None
    timeout: float = 30.0
    retries: int = 0
    channel: AddressTemplate | None = None
    security: Requirement | None = None

    @property
    def reads_cookies(self) -> bool:
        """Whether a parameter is a cookie (parsing them costs, so callers may skip it)."""
        return any(p.location is Location.COOKIE for p in self.parameters)

    def check(
        self,
        values: Mapping[str, str],
        query: Mapping[str, str],
        headers: Mapping[str, str],
        cookies: Mapping[str, str],
    ) -> None:
        """Raise ``InvalidParameter`` unless every parameter fits its schema."""
        sources = {
            Location.PATH: values,
            Location.QUERY: query,
            Location.HEADER: headers,
            Location.COOKIE: cookies,
        }
        for parameter in self.parameters:
            parameter.validate(sources[parameter.location].get(parameter.name))


@dataclass(frozen=True)
class OperationTable:
    """Operations by path, then method."""

    operations: Sequence[Operation] = ()
    _by_path: dict[str, dict[str, Operation]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for operation in self.operations:
            self._by_path.setdefault(operation.path.text, {})[operation.method] = operation

    def resolve(self, path: str) -> tuple[Mapping[str, Operation], Mapping[str, str]] | None:
        """The operations at ``path`` by method, with the path's parameter values; None if none."""
        for methods in self._by_path.values():
            values = next(iter(methods.values())).path.match(path)
            if values is not None:
                return methods, values
        return None


@dataclass(frozen=True, slots=True)
class Forward:
    """A request to send upstream: ``path`` already rendered, headers already filtered."""

    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    timeout: float
    retries: int


class UpstreamReply(Protocol):
    """An upstream's answer, its body still streaming; ``release`` once done with it."""

    status: int
    headers: Sequence[tuple[str, str]]
    length: int | None  # the body's declared length, when the upstream declared one

    async def read(self) -> bytes:
        """The whole body (for one whose ``length`` is known to be small)."""
        ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def release(self) -> None: ...


class Upstream(Protocol):
    """A set of upstream URLs behind one name: balanced, health-checked, retried."""

    name: str

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def forward(self, request: Forward) -> UpstreamReply:
        """Send ``request`` to a healthy upstream; retry it on another one ``request.retries``
        times when it failed before an answer. Raises ``UpstreamUnavailable``,
        ``UpstreamTimeout`` or ``CircuitOpen``."""
        ...


def _typed(raw: str, kind: str | None) -> Any:
    """The parameter as its schema's type reads it; left as text when it does not parse."""
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    if kind in ("array", "object"):
        return raw.split(",") if kind == "array" else raw
    return raw
