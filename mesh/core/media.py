"""Media type helpers shared by entrypoints and policies."""

from __future__ import annotations

import json
from typing import Any

from mesh.core.errors import MalformedJson

__all__ = ["BATCH_MEDIA_TYPE", "is_json", "media_type", "parse_json"]

BATCH_MEDIA_TYPE = "application/vnd.mesh.batch+json"


def media_type(content_type: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` -> ``"application/json"``; ``""`` when absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or kind.endswith("+json")


def parse_json(payload: bytes) -> Any:
    """Parse a UTF-8 JSON payload or raise ``MalformedJson`` saying where it breaks."""
    try:
        return json.loads(payload)
    except UnicodeDecodeError as exc:
        raise MalformedJson(f"payload is not valid UTF-8 at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise MalformedJson(
            f"payload is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
