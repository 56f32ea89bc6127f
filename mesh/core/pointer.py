"""JSON pointers (RFC 6901): build, split and follow them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["escape", "join_pointer", "resolve_pointer", "split_pointer"]


def escape(token: object) -> str:
    """Escape one reference token."""
    return str(token).replace("~", "~0").replace("/", "~1")


def join_pointer(tokens: Iterable[object]) -> str:
    return "".join("/" + escape(t) for t in tokens)


def split_pointer(pointer: str) -> tuple[str, ...]:
    """``"/a~1b/0"`` -> ``("a/b", "0")``; raises ``ValueError`` unless it starts with ``/``."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer {pointer!r} must start with '/'")
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def resolve_pointer(document: Any, pointer: str) -> Any:
    """Return the value at ``pointer``; raises ``LookupError`` when nothing is there."""
    value = document
    for token in split_pointer(pointer):
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            raise LookupError(f"nothing at {pointer!r}")
    return value
