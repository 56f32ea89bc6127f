"""Compile the JSON Schemas inside documents once, at load, for checks on the hot path.

A schema is compiled by reference to where it stands (file URI + JSON pointer) in a registry of
every file the document set spans, so ``$ref`` inside it resolves as its author wrote it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema_rs

from mesh.core.pointer import join_pointer

__all__ = ["JSON_SCHEMA_FORMATS", "Check", "SchemaCompiler", "payload_location"]

# Schema formats that are JSON Schema (draft-07 based) and so can be checked here.
JSON_SCHEMA_FORMATS = (
    "application/vnd.aai.asyncapi",
    "application/vnd.aai.asyncapi+json",
    "application/vnd.aai.asyncapi+yaml",
    "application/schema+json;version=draft-07",
    "application/schema+yaml;version=draft-07",
)
MAX_REPORTED = 10

Check = Callable[[Any], list[dict[str, str]] | None]


def payload_location(payload: Any, pointer: str) -> tuple[Any, str] | None:
    """Return the JSON Schema inside an AsyncAPI payload and its pointer, or None when the payload
    is a Multi Format Schema Object of another format (Avro, Protobuf...)."""
    if isinstance(payload, dict) and "schemaFormat" in payload:
        fmt = str(payload["schemaFormat"]).replace(" ", "")
        if not fmt.startswith(JSON_SCHEMA_FORMATS):
            return None
        return payload.get("schema"), pointer + "/schema"
    return payload, pointer


class SchemaCompiler:
    """Compiles schemas of one document set; ``files`` maps each file to its parsed content."""

    def __init__(self, files: dict[Path, Any], draft: int = jsonschema_rs.Draft7) -> None:
        self._draft = draft
        resources = [(p.as_uri(), _plain(doc)) for p, doc in files.items()]
        self._registry = jsonschema_rs.Registry(resources, draft=draft)

    def compile(self, file: Path, pointer: str) -> Check:
        """Return a check for the schema at ``pointer`` in ``file``.

        The check returns None for an accepted instance, else up to ten failures, each with the
        JSON ``pointer`` into the instance, the schema ``keyword`` and a ``message``.
        Raises ``ValueError`` when the schema itself is invalid or a reference inside it dangles.
        """
        root = {"$ref": _uri(file, pointer)}
        try:
            validator = _validator(self._draft, root, self._registry)
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
            raise ValueError(_first_line(exc)) from exc

        def check(instance: Any) -> list[dict[str, str]] | None:
            if validator.is_valid(instance):
                return None
            return [_failure(e) for e in islice(validator.iter_errors(instance), MAX_REPORTED)]

        return check

    def inline(self, file: Path, pointer: str) -> Any:
        """The schema at ``pointer`` with every reference inlined, for documents that describe it
        elsewhere; a recursive reference becomes the schema that accepts anything."""
        root = {"$ref": _uri(file, pointer)}
        try:
            schema = jsonschema_rs.dereference(root, registry=self._registry, draft=self._draft)
        except (jsonschema_rs.ReferencingError, ValueError):
            return {}
        return _drop_refs(schema)

    def check_schema(self, schema: Any) -> str | None:
        """Return why ``schema`` is not a valid JSON Schema, or None."""
        if isinstance(schema, bool):
            return None
        try:
            jsonschema_rs.meta.validate(_plain(schema))
        except jsonschema_rs.ValidationError as exc:
            where = join_pointer(exc.instance_path)
            return f"invalid schema at {where or '/'}: {exc.message}"
        return None


def _uri(file: Path, pointer: str) -> str:
    """A reference to ``pointer`` in ``file``, the pointer percent-encoded as a URI fragment
    (OpenAPI paths carry ``{`` and ``}``)."""
    return file.as_uri() + "#" + quote(pointer, safe="/~!$&'()*+,;=:@-._")


def _drop_refs(value: Any) -> Any:
    if isinstance(value, dict):
        if "$ref" in value:
            return {}
        return {k: _drop_refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_drop_refs(v) for v in value]
    return value


def _validator(draft: int, root: dict[str, str], registry: Any) -> Any:
    if draft == jsonschema_rs.Draft202012:
        return jsonschema_rs.Draft202012Validator(root, registry=registry)
    return jsonschema_rs.Draft7Validator(root, registry=registry)


def _failure(error: Any) -> dict[str, str]:
    path = list(error.schema_path)
    return {
        "pointer": join_pointer(error.instance_path),
        "keyword": str(path[-1]) if path else "",
        "message": _shorten(error.message),
    }


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _plain(value: Any) -> Any:
    """JSON-compatible copy (YAML may carry tuples or non-string keys the registry refuses)."""
    return json.loads(json.dumps(value, default=str))
