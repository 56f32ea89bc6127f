"""Publish-phase key: take the message key from a payload field named by a JSON pointer."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mesh.core.exchange import Exchange
from mesh.core.media import dump_json, is_json, parse_json
from mesh.core.message import Message
from mesh.core.pointer import resolve_pointer

__all__ = ["KeyFromField"]


@dataclass(frozen=True, slots=True)
class KeyFromField:
    """Sets the key from ``pointer`` when the client gave none; a missing field leaves no key.

    Strings are used as they are, other values as their JSON text.
    """

    pointer: str

    def __call__(self, exchange: Exchange, message: Message) -> Message:
        if message.key is not None or not is_json(message.content_type):
            return message
        try:
            found = resolve_pointer(parse_json(message.payload), self.pointer)
        except LookupError:
            return message
        key = found.encode() if isinstance(found, str) else dump_json(found)
        return replace(message, key=key)
