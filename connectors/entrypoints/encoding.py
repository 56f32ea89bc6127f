"""How messages are written to clients: SSE event text and the JSON form used by long poll."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from mesh.core.connector import Restart
from mesh.core.errors import MalformedJson
from mesh.core.media import dump_json, is_json, parse_json
from mesh.core.message import Message

__all__ = ["EncodingCache", "message_json", "sse_comment", "sse_event", "sse_notice", "sse_restart"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def sse_event(message: Message) -> bytes:
    """One SSE event: ``id:`` the cursor, ``event:`` the message name, ``data:`` the payload.

    A payload that is not UTF-8 is sent as base64 after an ``encoding: base64`` line (a field that
    ``EventSource`` ignores and raw SSE parsers can read).
    """
    lines = [f"id: {message.cursor}"] if message.cursor else []
    if message.name:
        lines.append(f"event: {_single_line(message.name)}")
    try:
        text = message.payload.decode("utf-8")
    except UnicodeDecodeError:
        lines.append("encoding: base64")
        text = base64.b64encode(message.payload).decode()
    lines += [f"data: {line}" for line in _LINE_BREAK.split(text)]
    return ("\n".join(lines) + "\n\n").encode()


class EncodingCache:
    """Each message a shared reader hands to many streams is named and encoded once per route and
    form (``kind``: an SSE event, a WebSocket frame).

    Entries keep the message they were made from, so an identity check makes a stale hit
    impossible; past ``size`` entries the cache starts afresh (cheaper than tracking age).
    Sound only while a route's subscribe chain depends on the route and the message alone: a
    policy that depends on the client (a filter by principal) must key the cache by it too.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._entries: dict[tuple[int, int, str], tuple[Message, bytes]] = {}

    def event(
        self, message: Message, route: object, encode: Callable[[Message], bytes], kind: str = "sse"
    ) -> bytes:
        key = (id(message), id(route), kind)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is message:
            return entry[1]
        if len(self._entries) >= self._size:
            self._entries.clear()
        encoded = encode(message)
        self._entries[key] = (message, encoded)
        return encoded


def sse_restart(restart: Restart) -> bytes:
    """The ``mesh.restart`` event: the stream could not resume exactly and restarts at its id."""
    data = {"reason": restart.reason, **restart.detail}
    return sse_notice("mesh.restart", data, restart.cursor)


def sse_notice(event: str, data: dict[str, Any], cursor: str | None = None) -> bytes:
    head = f"id: {cursor}\n" if cursor else ""
    return f"{head}event: {event}\ndata: ".encode() + dump_json(data) + b"\n\n"


def sse_comment(text: str) -> bytes:
    return f": {_single_line(text)}\n\n".encode()


def message_json(message: Message) -> dict[str, Any]:
    """A message as JSON: the payload as a JSON value, UTF-8 text or base64 (see ``encoding``)."""
    payload, encoding = _payload(message)
    return {
        "cursor": message.cursor,
        "name": message.name,
        **({"address": message.address} if message.address else {}),
        **message.position,
        "timestamp": message.timestamp_ms,
        "key": None if message.key is None else message.key.decode("utf-8", errors="replace"),
        "headers": {k: v.decode("utf-8", errors="replace") for k, v in message.headers},
        "contentType": message.content_type,
        "encoding": encoding,
        "payload": payload,
    }


def _payload(message: Message) -> tuple[Any, str]:
    try:
        text = message.payload.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(message.payload).decode(), "base64"
    if is_json(message.content_type or "application/json"):
        try:
            return parse_json(text), "json"
        except MalformedJson:
            pass
    return text, "text"


def _single_line(text: str) -> str:
    return _LINE_BREAK.sub(" ", text)
