"""The one exception tree of the gateway.

::

    MeshError                       code, status: one ProblemType each
    ├── RequestError                the client's input is refused (4xx); nothing was sent
    │   ├── RouteNotFound           route-not-found 404
    │   ├── MethodNotAllowed        method-not-allowed 405 (carries the allowed methods)
    │   ├── OriginNotAllowed        origin-not-allowed 403
    │   ├── NotAcceptable           not-acceptable 406
    │   ├── PayloadTooLarge         payload-too-large 413
    │   ├── UnsupportedMediaType    unsupported-media-type 415
    │   ├── MalformedJson           malformed-json 400
    │   ├── SchemaViolation         schema-violation 400 (carries each failing pointer)
    │   ├── InvalidParameter        invalid-parameter 400
    │   ├── InvalidCursor           invalid-cursor 400
    │   ├── InvalidRequest          invalid-request 400
    │   ├── IdempotencyKeyInUse     idempotency-key-in-use 409
    │   ├── IdempotencyKeyReused    idempotency-key-reused 422
    │   ├── Unauthorized            unauthorized 401 (carries the WWW-Authenticate challenge)
    │   ├── Forbidden               forbidden 403: authenticated, not allowed
    │   ├── CatalogConflict         catalog-conflict 409: that version is registered already
    │   ├── BreakingChange          breaking-change 409: refused, it breaks consumers
    │   ├── InvalidDocument         invalid-document 400 (carries every problem)
    │   ├── QuotaExceeded           quota-exceeded 429 (carries retry_after)
    │   └── QuotaUnavailable        quota-unavailable 503: counters unreachable, failing closed
    ├── DeliveryError               the backend failed; ``remember`` says if a retry may differ
    │   ├── NotSent                 broker-unavailable 503: nothing reached the broker
    │   ├── OutcomeUnknown          outcome-unknown 504: sent, no acknowledgement in time
    │   ├── BrokerRejected          broker-rejected 502: the broker refused it, nothing stored
    │   ├── BrokerForbidden         broker-forbidden 403: the broker's ACL refused the gateway
    │   ├── NotReady                not-ready 503
    │   └── SubscriberTooSlow       subscriber-too-slow 503: a stream fell behind (has ``cursor``)
    └── UpstreamError               an HTTP upstream gave no answer
        ├── UpstreamUnavailable     upstream-unavailable 502: refused, reset or failed
        ├── UpstreamTimeout         upstream-timeout 504: no answer within the route's timeout
        └── CircuitOpen             circuit-open 503: every upstream is ejected; not tried

Connectors map their client library's exceptions to the most specific ``DeliveryError`` and
``raise ... from exc``; each entrypoint maps ``MeshError`` to its protocol in exactly one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from mesh.core.problems import PROBLEM_TYPES, ProblemType

__all__ = [
    "BreakingChange",
    "BrokerForbidden",
    "BrokerRejected",
    "CatalogConflict",
    "CircuitOpen",
    "DeliveryError",
    "Forbidden",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "InvalidCursor",
    "InvalidDocument",
    "InvalidParameter",
    "InvalidRequest",
    "MalformedJson",
    "MeshError",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotReady",
    "NotSent",
    "OriginNotAllowed",
    "OutcomeUnknown",
    "PayloadTooLarge",
    "QuotaExceeded",
    "QuotaUnavailable",
    "RequestError",
    "RouteNotFound",
    "SchemaViolation",
    "SubscriberTooSlow",
    "Unauthorized",
    "UnsupportedMediaType",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class MeshError(Exception):
    """Base of every error the gateway reports to a client.

    ``detail`` is safe to show to the client: it never names broker addresses or internals.
    ``extensions`` are extra members of the problem document.
    """

    code: ClassVar[str] = "internal-error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions: Mapping[str, Any] = extensions

    @property
    def problem_type(self) -> ProblemType:
        return PROBLEM_TYPES[self.code]

    @property
    def status(self) -> int:
        return self.problem_type.status


class RequestError(MeshError):
    """The client's input is refused; nothing was sent to any backend."""


class RouteNotFound(RequestError):
    code = "route-not-found"


class MethodNotAllowed(RequestError):
    code = "method-not-allowed"

    def __init__(self, detail: str, allowed: Sequence[str]) -> None:
        super().__init__(detail)
        self.allowed = tuple(allowed)


class OriginNotAllowed(RequestError):
    code = "origin-not-allowed"


class NotAcceptable(RequestError):
    code = "not-acceptable"


class PayloadTooLarge(RequestError):
    code = "payload-too-large"


class UnsupportedMediaType(RequestError):
    code = "unsupported-media-type"


class MalformedJson(RequestError):
    code = "malformed-json"


class SchemaViolation(RequestError):
    code = "schema-violation"


class InvalidParameter(RequestError):
    code = "invalid-parameter"


class InvalidCursor(RequestError):
    code = "invalid-cursor"


class InvalidRequest(RequestError):
    code = "invalid-request"


class IdempotencyKeyInUse(RequestError):
    code = "idempotency-key-in-use"


class IdempotencyKeyReused(RequestError):
    code = "idempotency-key-reused"


class Unauthorized(RequestError):
    """No valid credential. ``challenge`` is the ``WWW-Authenticate`` value to answer with."""

    code = "unauthorized"

    def __init__(self, detail: str, challenge: str = 'Bearer realm="mesh"', **extensions: Any):
        super().__init__(detail, **extensions)
        self.challenge = challenge


class Forbidden(RequestError):
    code = "forbidden"


class InvalidDocument(RequestError):
    code = "invalid-document"


class BreakingChange(RequestError):
    code = "breaking-change"


class CatalogConflict(RequestError):
    code = "catalog-conflict"


class QuotaExceeded(RequestError):
    code = "quota-exceeded"


class QuotaUnavailable(RequestError):
    code = "quota-unavailable"


class DeliveryError(MeshError):
    """The backend did not take the message.

    ``remember`` is False when a retry may succeed (nothing was stored, or the outcome is unknown),
    so an idempotency store must not replay this answer.
    """

    remember: ClassVar[bool] = True


class NotSent(DeliveryError):
    code = "broker-unavailable"
    remember = False


class OutcomeUnknown(DeliveryError):
    code = "outcome-unknown"
    remember = False


class BrokerRejected(DeliveryError):
    code = "broker-rejected"


class BrokerForbidden(DeliveryError):
    code = "broker-forbidden"


class SubscriberTooSlow(DeliveryError):
    code = "subscriber-too-slow"
    remember = False


class NotReady(DeliveryError):
    code = "not-ready"
    remember = False


class UpstreamError(MeshError):
    """An HTTP upstream gave no answer to relay."""


class UpstreamUnavailable(UpstreamError):
    code = "upstream-unavailable"


class UpstreamTimeout(UpstreamError):
    code = "upstream-timeout"


class CircuitOpen(UpstreamError):
    code = "circuit-open"
