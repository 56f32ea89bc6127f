"""Media type helpers shared by entrypoints and policies."""

from __future__ import annotations

import json
from typing import Any

import orjson

from mesh.core.errors import MalformedJson

__all__ = ["BATCH_MEDIA_TYPE", "dump_json", "is_json", "media_type", "parse_json"]

BATCH_MEDIA_TYPE = "application/vnd.mesh.batch+json"


def media_type(content_type: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` -> ``"application/json"``; ``""`` when absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or kind.endswith("+json")


def parse_json(payload: bytes | str) -> Any:
    """Parse a UTF-8 JSON payload or raise ``MalformedJson`` saying where it breaks.

    JSON is RFC 8259's: integers of any size (orjson would turn those beyond 64 bits into floats,
    so parsing stays with the standard library), no ``NaN`` or ``Infinity``.
    """
    try:
        return json.loads(payload, parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise MalformedJson(f"payload is not valid UTF-8 at byte {exc.start}") from exc
    except ValueError as exc:
        if not isinstance(exc, json.JSONDecodeError):
            raise MalformedJson(f"payload is not valid JSON: {exc}") from exc
        raise MalformedJson(
            f"payload is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def dump_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, by orjson (~15x faster than the standard library here); what orjson
    refuses to write (integers beyond 64 bits) the standard library writes."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
