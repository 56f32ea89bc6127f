"""Publish-phase check: a JSON payload must parse and match one of the channel's message schemas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mesh.core.errors import SchemaViolation
from mesh.core.exchange import Exchange
from mesh.core.media import is_json, media_type, parse_json
from mesh.core.message import Message
from mesh.core.routes import ChannelMessage

__all__ = ["SchemaValidation"]


@dataclass(frozen=True, slots=True)
class SchemaValidation:
    """Refuses malformed JSON and payloads that fit none of ``messages``; returns the message
    unchanged otherwise. A content type with no schema among ``messages`` is not checked beyond
    JSON parsing."""

    messages: Sequence[ChannelMessage]

    def __call__(self, exchange: Exchange, message: Message) -> Message:
        kind = media_type(message.content_type)
        if not is_json(kind):
            return message
        value = parse_json(message.payload)
        candidates = [m for m in self.messages if m.content_type == kind and m.accepts is not None]
        if not candidates:
            return message
        errors: list[dict[str, str]] = []
        for candidate in candidates:
            assert candidate.accepts is not None
            failures = candidate.accepts(value)
            if failures is None:
                return message
            errors += [{**f, **_named(candidate, candidates)} for f in failures]
        first = errors[0]
        raise SchemaViolation(
            f"payload does not match the schema at {first['pointer'] or '/'}: {first['message']}",
            errors=errors,
        )


def _named(candidate: ChannelMessage, candidates: Sequence[ChannelMessage]) -> dict[str, str]:
    if len(candidates) == 1 or candidate.name is None:
        return {}
    return {"messageName": candidate.name}
