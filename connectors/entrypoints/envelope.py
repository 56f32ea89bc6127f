"""Messages given as JSON envelopes — batch entries, WebSocket frames — and their outcomes.

An envelope is ``{"payload": <JSON>}`` or ``{"data": "<base64>", "contentType": "..."}``, with an
optional ``"key"`` (string) and ``"headers"`` (names to strings).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from connectors.entrypoints.problem import problem_body
from mesh.core.errors import InvalidRequest, MeshError, UnsupportedMediaType
from mesh.core.media import BATCH_MEDIA_TYPE, dump_json, media_type
from mesh.core.message import Headers, Message, Receipt
from mesh.core.routes import Route

__all__ = ["ENVELOPE_FIELDS", "accept_content_type", "message_from_envelope", "outcome_json"]

ENVELOPE_FIELDS = frozenset({"payload", "data", "contentType", "key", "headers"})


def accept_content_type(route: Route, content_type: str | None) -> str:
    """The media type of ``content_type``, or ``UnsupportedMediaType`` when the route refuses it."""
    kind = media_type(content_type)
    if kind not in route.content_types:
        accepted = sorted({*route.content_types, BATCH_MEDIA_TYPE})
        raise UnsupportedMediaType(
            f"content type {kind or '(none)'!r} is not accepted here", accepted=accepted
        )
    return kind


def message_from_envelope(
    route: Route, envelope: Any, common: Headers = (), allowed: frozenset[str] = ENVELOPE_FIELDS
) -> Message:
    """Build the message an envelope describes; raise a ``RequestError`` saying what is wrong."""
    if not isinstance(envelope, dict):
        raise InvalidRequest("a message envelope is a JSON object")
    if unknown := sorted(set(envelope) - allowed):
        raise InvalidRequest(f"unknown envelope field(s) {unknown}")
    if ("payload" in envelope) == ("data" in envelope):
        raise InvalidRequest("an envelope has either 'payload' (JSON) or 'data' (base64)")
    key, headers = envelope.get("key"), envelope.get("headers") or {}
    if not (key is None or isinstance(key, str)):
        raise InvalidRequest("'key' is a string")
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise InvalidRequest("'headers' maps names to strings")
    default = "application/json" if "payload" in envelope else "application/octet-stream"
    kind = accept_content_type(route, envelope.get("contentType") or default)
    return Message(
        payload=_payload(envelope),
        key=None if key is None else key.encode(),
        headers=common + tuple((k.lower(), v.encode()) for k, v in headers.items()),
        content_type=kind,
    )


def _payload(envelope: dict[str, Any]) -> bytes:
    if "payload" in envelope:
        return dump_json(envelope["payload"])
    data = envelope["data"]
    try:
        return base64.b64decode(data if isinstance(data, str) else "?", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest("'data' is base64 text") from exc


def outcome_json(outcome: Receipt | MeshError, instance: str | None = None) -> dict[str, Any]:
    """``{"status": 201, partition, offset, cursor}`` for a receipt (202 when the broker gives no
    acknowledgement); a problem body otherwise."""
    if isinstance(outcome, MeshError):
        return problem_body(outcome.code, outcome.detail, instance, **outcome.extensions)
    return {"status": receipt_status(outcome), **outcome.position, "cursor": outcome.cursor}


def receipt_status(receipt: Receipt) -> int:
    """201 once the broker acknowledged; 202 when it gives no acknowledgement (MQTT QoS 0)."""
    return 201 if receipt.acknowledged else 202
