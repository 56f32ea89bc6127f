"""Read YAML or JSON documents and resolve ``$ref`` across files by JSON pointer.

YAML is read with the safe loader minus timestamp conversion, so ``2024-01-01`` stays a string as
JSON Schema expects. Remote (``http:``) references are refused: the gateway never fetches at load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag

import yaml

from mesh.core.pointer import join_pointer, resolve_pointer
from mesh.specs.problems import SpecError, SpecProblem

__all__ = ["Located", "Workspace", "lookup", "parse_text", "walk_refs"]


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_text(text: str, name: str) -> Any:
    """Parse JSON or YAML ``text``; syntax errors become a ``SpecError`` naming ``name``."""
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            raise SpecError([SpecProblem(name, "", f"invalid JSON at {where}: {exc.msg}")]) from exc
    try:
        return _jsonable(yaml.load(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        raise SpecError([SpecProblem(name, "", f"invalid YAML: {exc}")]) from exc


def _jsonable(value: Any) -> Any:
    """Make YAML's data JSON's: mapping keys become strings (``on:`` is ``"true"`` in JSON too)."""
    if isinstance(value, dict):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


@dataclass(frozen=True, slots=True)
class Located:
    """A value found by reference: the file it is in and its pointer there."""

    file: Path
    pointer: str
    value: Any


class Workspace:
    """The files one document set spans, each read once, and reference resolution between them."""

    def __init__(self) -> None:
        self.files: dict[Path, Any] = {}
        self.texts: dict[Path, str] = {}

    def load(self, path: Path) -> Any:
        path = path.resolve()
        if path not in self.files:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise SpecError([SpecProblem(str(path), "", f"cannot read: {exc}")]) from exc
            self.texts[path] = text
            self.files[path] = parse_text(text, str(path))
        return self.files[path]

    def add(self, path: Path, data: Any) -> None:
        """Register an already parsed (or converted) document under ``path``."""
        self.files[path.resolve()] = data

    def resolve(self, ref: str, base: Path) -> Located:
        """Follow ``ref`` (and any chain of references it lands on) from a value in ``base``.

        Raises ``LookupError`` with a readable reason when the target does not exist.
        """
        seen: set[tuple[Path, str]] = set()
        file, pointer = self.target(ref, base)
        while True:
            if (file, pointer) in seen:
                raise LookupError(f"reference cycle through {ref!r}")
            seen.add((file, pointer))
            value = lookup(self._document(file, ref), pointer, ref)
            if isinstance(value, dict) and isinstance(value.get("$ref"), str) and len(value) == 1:
                file, pointer = self.target(value["$ref"], file)
                continue
            return Located(file, pointer, value)

    def target(self, ref: str, base: Path) -> tuple[Path, str]:
        """Return the file and pointer ``ref`` names, without reading anything."""
        location, fragment = urldefrag(ref)
        if "://" in location:
            raise LookupError(f"remote reference {ref!r} is not fetched; use a local file")
        file = (base.parent / unquote(location)).resolve() if location else base.resolve()
        return file, unquote(fragment)

    def _document(self, file: Path, ref: str) -> Any:
        if file in self.files:
            return self.files[file]
        if not file.is_file():
            raise LookupError(f"reference {ref!r}: file {file} does not exist")
        try:
            return self.load(file)
        except SpecError as exc:
            raise LookupError(f"reference {ref!r}: {exc}") from exc


def lookup(document: Any, pointer: str, ref: str) -> Any:
    """Return the value at ``pointer`` in ``document``; ``LookupError`` names ``ref``."""
    try:
        return resolve_pointer(document, pointer)
    except ValueError as exc:
        raise LookupError(f"reference {ref!r}: the fragment is not a JSON pointer") from exc
    except LookupError as exc:
        raise LookupError(f"reference {ref!r} points to nothing") from exc


def walk_refs(value: Any, path: tuple[object, ...] = ()) -> Iterator[tuple[str, str]]:
    """Yield ``(pointer, ref)`` for every ``$ref`` string inside ``value``."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str):
            yield join_pointer(path), ref
        for key, item in value.items():
            if key != "$ref":
                yield from walk_refs(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_refs(item, (*path, index))
