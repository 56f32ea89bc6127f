"""The catalogue of problem types every entrypoint answers with (RFC 9457).

A problem type is identified by a stable ``code``; its ``type`` URI is the relative reference
``/_mesh/problems/{code}``, which the gateway itself serves, so a client can always look it up.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROBLEM_TYPES", "ProblemType", "problem_uri"]


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One kind of failure: a stable code, its HTTP status, a title and what the client can do."""

    code: str
    status: int
    title: str
    description: str


def problem_uri(code: str) -> str:
    """Return the ``type`` URI of the problem with ``code``."""
    return f"/_mesh/problems/{code}"


_TYPES = (
    ProblemType(
        "route-not-found",
        404,
        "No such route",
        "No channel or gateway route is served at this path. `GET /openapi.json` lists them.",
    ),
    ProblemType(
        "method-not-allowed",
        405,
        "Method not allowed",
        "The route exists but not for this method; the `Allow` header lists the methods it takes. "
        "A channel takes POST when it can be published to and GET when it can be subscribed to.",
    ),
    ProblemType(
        "origin-not-allowed",
        403,
        "Origin not allowed",
        "The request's `Origin` is not in the gateway's `cors.allow_origins`.",
    ),
    ProblemType(
        "not-acceptable",
        406,
        "Not acceptable",
        "A channel answers GET as `text/event-stream` (a stream) or `application/json` (a poll).",
    ),
    ProblemType(
        "payload-too-large",
        413,
        "Payload too large",
        "The body is larger than the configured `limits.max_body_bytes`; nothing was published.",
    ),
    ProblemType(
        "unsupported-media-type",
        415,
        "Unsupported media type",
        "The request's `Content-Type` is not one of the channel's message content types "
        "(or `application/vnd.mesh.batch+json` for a batch).",
    ),
    ProblemType(
        "malformed-json",
        400,
        "Malformed JSON",
        "The body is not valid JSON (or not valid UTF-8); nothing was published.",
    ),
    ProblemType(
        "schema-violation",
        400,
        "Payload does not match the message schema",
        "The payload breaks the message's schema in the AsyncAPI document. `errors` lists each "
        "failure with the JSON `pointer` into the payload and the schema keyword that failed.",
    ),
    ProblemType(
        "invalid-parameter",
        400,
        "Invalid channel parameter",
        "An address parameter is not allowed: it is outside the parameter's `enum`, empty, or "
        "contains `/`, `#`, `+`, `..`, NUL, a control character or a character the broker refuses.",
    ),
    ProblemType(
        "invalid-cursor",
        400,
        "Invalid cursor",
        "The `Last-Event-ID` header or `cursor` parameter cannot be decoded, has an unknown "
        "version, or belongs to another channel. Nothing is replayed; start again with "
        "`from=earliest` or `from=latest`.",
    ),
    ProblemType(
        "invalid-request",
        400,
        "Invalid request",
        "A query parameter or header has a value the gateway does not accept; `detail` says which.",
    ),
    ProblemType(
        "idempotency-key-in-use",
        409,
        "Request with this Idempotency-Key is in progress",
        "A request with the same `Idempotency-Key` is still being processed. Retry later.",
    ),
    ProblemType(
        "idempotency-key-reused",
        422,
        "Idempotency-Key reused with another request",
        "The `Idempotency-Key` was already used on this route with a different body or key.",
    ),
    ProblemType(
        "broker-unavailable",
        503,
        "Broker unavailable",
        "The broker could not be reached within the deadline; nothing was sent. Safe to retry.",
    ),
    ProblemType(
        "outcome-unknown",
        504,
        "Outcome unknown",
        "The message was handed to the broker but no acknowledgement arrived within the deadline: "
        "it may or may not have been stored. Retry with the same `Idempotency-Key`.",
    ),
    ProblemType(
        "broker-rejected",
        502,
        "Broker rejected the message",
        "The broker refused the message (for example it is larger than the topic allows); "
        "nothing was stored. `detail` names the broker's reason.",
    ),
    ProblemType(
        "unauthorized",
        401,
        "Unauthorized",
        "The route needs a credential and the request carried none that is valid (missing, "
        "expired, not yet valid, for another audience or issuer, badly signed, or revoked). "
        "`WWW-Authenticate` names what the route accepts.",
    ),
    ProblemType(
        "forbidden",
        403,
        "Forbidden",
        "The credential is valid but does not allow this: it lacks a scope the route needs.",
    ),
    ProblemType(
        "invalid-document",
        400,
        "Invalid document",
        "The document registered with the catalog is not valid; `problems` lists every problem "
        "with its JSON pointer, as `mesh validate` prints them.",
    ),
    ProblemType(
        "breaking-change",
        409,
        "Breaking change",
        "The catalog refuses versions that break consumers of the previous one; `changes` lists "
        "each breaking change with its JSON pointer.",
    ),
    ProblemType(
        "catalog-conflict",
        409,
        "Version registered already",
        "The catalog has this document's name and `info.version` already; versions do not change. "
        "Register a new version.",
    ),
    ProblemType(
        "quota-exceeded",
        429,
        "Quota exceeded",
        "The consumer's plan allows no more of this now (requests, messages or bytes in a "
        "period, or concurrent streams). `Retry-After` says when to try again; `RateLimit` and "
        "`RateLimit-Policy` describe the limit.",
    ),
    ProblemType(
        "quota-unavailable",
        503,
        "Quota counters unavailable",
        "The shared quota counters (Redis) could not be reached in time and the gateway is "
        "configured to fail closed. Safe to retry.",
    ),
    ProblemType(
        "broker-forbidden",
        403,
        "Broker refused: not authorized",
        "The broker's own access rules do not let the gateway publish there (MQTT reason code "
        "0x87); nothing was stored. Retrying will not help until the broker's ACL changes.",
    ),
    ProblemType(
        "upstream-unavailable",
        502,
        "Upstream unavailable",
        "The HTTP upstream refused the connection, reset it or failed before answering, on every "
        "attempt the route allows.",
    ),
    ProblemType(
        "upstream-timeout",
        504,
        "Upstream timeout",
        "The HTTP upstream did not answer within the route's timeout. The request may have been "
        "processed; only idempotent methods are retried.",
    ),
    ProblemType(
        "circuit-open",
        503,
        "Circuit open",
        "Every upstream of this route failed repeatedly and is ejected for a while; the request "
        "was not sent. `Retry-After` says when one will be tried again.",
    ),
    ProblemType(
        "subscriber-too-slow",
        503,
        "Subscriber too slow",
        "A stream's client did not keep up: its buffer filled, so the gateway ended the stream "
        "rather than stall other subscribers or grow memory. It ends with the client's last "
        "cursor; reconnect with it to resume without losing anything.",
    ),
    ProblemType(
        "not-ready",
        503,
        "Gateway not ready",
        "An endpoint is not connected yet or the gateway is shutting down.",
    ),
    ProblemType(
        "internal-error",
        500,
        "Internal error",
        "The gateway failed unexpectedly. The request id in the log identifies the failure.",
    ),
)

PROBLEM_TYPES: dict[str, ProblemType] = {t.code: t for t in _TYPES}
