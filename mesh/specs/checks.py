"""Semantic checks of an AsyncAPI document, beyond what its JSON Schema can say.

Errors: dangling references, references to the wrong kind of object, operation messages that are
not in their channel, address parameters or server variables without a definition, payload schemas
that are not valid JSON Schema. Warnings: examples that break their own payload schema, parameters
the address never uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mesh.core.address import parse_template
from mesh.core.pointer import escape, split_pointer
from mesh.specs import asyncapi as aa
from mesh.specs.document import Document
from mesh.specs.model import problems_from
from mesh.specs.problems import Severity, SpecProblem
from mesh.specs.schemas import SchemaCompiler, payload_location
from mesh.specs.source import walk_refs

__all__ = ["channel_messages", "check_asyncapi"]

_TARGETS: dict[str, tuple[str, ...]] = {
    "channel": ("/channels/", "/components/channels/"),
    "server": ("/servers/", "/components/servers/"),
}


def check_asyncapi(doc: Document) -> list[SpecProblem]:
    """Return every semantic problem of ``doc`` (errors and warnings)."""
    problems = list(_dangling(doc))
    if problems:
        return problems  # later checks follow references; they need them to resolve
    compiler = SchemaCompiler(doc.workspace.files)
    problems += _servers(doc)
    problems += _channels(doc, compiler)
    problems += _operations(doc)
    return problems


def _servers(doc: Document) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    for server in _loaded(doc, "servers", aa.Server, problems):
        declared = set(server.value.variables or {})
        for field in ("host", "pathname"):
            text = getattr(server.value, field) or ""
            _, found = _undeclared(
                doc,
                text,
                declared,
                f"{server.pointer}/{field}",
                server.file,
                "variable {!r} is not in 'variables'",
            )
            problems += found
    return problems


def _loaded(
    doc: Document, section: str, model: type[BaseModel], problems: list[SpecProblem]
) -> Iterator[Any]:
    """Yield each entry of a root section resolved as ``model``; collect the invalid ones."""
    for _, raw, pointer in doc.entries(section):
        try:
            yield _load(doc, raw, model, doc.path, pointer)
        except _Invalid as exc:
            problems += exc.problems


def _undeclared(
    doc: Document, text: str, declared: set[str], pointer: str, file: Path, message: str
) -> tuple[tuple[str, ...], list[SpecProblem]]:
    """The ``{names}`` in ``text``, and a problem for each one not ``declared``."""
    try:
        used = parse_template(text).parameters
    except ValueError as exc:
        return (), [_error(doc, pointer, str(exc), file)]
    return used, [_error(doc, pointer, message.format(n), file) for n in used if n not in declared]


def _error(doc: Document, pointer: str, message: str, file: Path | None = None) -> SpecProblem:
    return SpecProblem(str(file or doc.path), pointer, message)


def _warning(doc: Document, pointer: str, message: str, file: Path | None = None) -> SpecProblem:
    return SpecProblem(str(file or doc.path), pointer, message, Severity.WARNING)


def _dangling(doc: Document) -> Iterator[SpecProblem]:
    for pointer, ref in walk_refs(doc.data):
        try:
            doc.workspace.resolve(ref, doc.path)
        except LookupError as exc:
            yield _error(doc, pointer + "/$ref", str(exc))


def _load(doc: Document, value: Any, model: type[BaseModel], file: Path, pointer: str) -> Any:
    """Resolve and validate; problems surface as ``_Invalid``."""
    try:
        return doc.resolve(value, model, file, pointer)
    except ValidationError as exc:
        found = doc.locate(value, file, pointer)
        raise _Invalid(problems_from(exc, str(found.file), split_pointer(found.pointer))) from exc


class _Invalid(Exception):
    def __init__(self, problems: list[SpecProblem]) -> None:
        super().__init__("invalid")
        self.problems = problems


def channel_messages(
    doc: Document, channel: aa.Channel, file: Path, pointer: str
) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, Resolved[Message])`` for each message of a channel."""
    for name, value in (channel.messages or {}).items():
        yield name, doc.resolve(value, aa.Message, file, f"{pointer}/messages/{escape(name)}")


def _channels(doc: Document, compiler: SchemaCompiler) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    seen: set[tuple[Path, str]] = set()
    for channel in _loaded(doc, "channels", aa.Channel, problems):
        problems += _address(doc, channel.value, channel.file, channel.pointer)
        problems += _channel_servers(doc, channel.value, channel.pointer)
        for name, value in (channel.value.messages or {}).items():
            pointer = f"{channel.pointer}/messages/{escape(name)}"
            try:
                message = _load(doc, value, aa.Message, channel.file, pointer)
            except _Invalid as exc:
                problems += exc.problems
                continue
            if (message.file, message.pointer) not in seen:
                seen.add((message.file, message.pointer))
                problems += _message(doc, message, compiler)
    return problems


def _address(doc: Document, channel: aa.Channel, file: Path, pointer: str) -> list[SpecProblem]:
    if channel.address is None:
        return []
    declared = set(channel.parameters or {})
    used, problems = _undeclared(
        doc,
        channel.address,
        declared,
        pointer + "/address",
        file,
        "parameter {!r} has no 'parameters' entry",
    )
    problems += [
        _warning(
            doc, f"{pointer}/parameters/{escape(n)}", "parameter not used in the address", file
        )
        for n in sorted(declared - set(used))
    ]
    return problems


def _channel_servers(doc: Document, channel: aa.Channel, pointer: str) -> list[SpecProblem]:
    return [
        _error(doc, f"{pointer}/servers/{i}", f"{ref.ref!r} does not point to a server")
        for i, ref in enumerate(channel.servers or [])
        if not _points_into(doc, ref.ref, "server")
    ]


def _points_into(doc: Document, ref: str, kind: str) -> bool:
    target = doc.workspace.resolve(ref, doc.path)
    return target.file == doc.path.resolve() and target.pointer.startswith(_TARGETS[kind])


def _message(doc: Document, message: Any, compiler: SchemaCompiler) -> list[SpecProblem]:
    value: aa.Message = message.value
    file = message.file
    pointer = message.pointer + "/payload"
    located = doc.locate(value.payload, file, pointer)
    found = payload_location(located.value, located.pointer)
    if value.payload is None or found is None:
        return []
    schema, schema_pointer = found
    reason = compiler.check_schema(schema)
    if reason is not None:
        return [_error(doc, schema_pointer, reason, located.file)]
    try:
        check = compiler.compile(located.file, schema_pointer)
    except ValueError as exc:
        return [_error(doc, schema_pointer, f"schema cannot be compiled: {exc}", located.file)]
    problems = []
    for index, example in enumerate(value.examples or []):
        if "payload" in example.model_fields_set and (failures := check(example.payload)):
            first = failures[0]
            problems.append(
                _warning(
                    doc,
                    f"{message.pointer}/examples/{index}/payload",
                    f"example does not match the payload schema at {first['pointer'] or '/'}: "
                    f"{first['message']}",
                    file,
                )
            )
    return problems


def _operations(doc: Document) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    for op in _loaded(doc, "operations", aa.Operation, problems):
        problems += _operation(doc, op.value, op.file, op.pointer)
    return problems


def _operation(doc: Document, op: aa.Operation, file: Path, pointer: str) -> list[SpecProblem]:
    if not _points_into(doc, op.channel.ref, "channel"):
        return [
            _error(doc, pointer + "/channel", f"{op.channel.ref!r} does not point to a channel")
        ]
    try:
        channel = _load(doc, op.channel, aa.Channel, file, pointer + "/channel")
    except _Invalid as exc:
        return exc.problems
    allowed = {
        (m.file, m.pointer)
        for name, value in (channel.value.messages or {}).items()
        for m in [doc.locate(value, channel.file, f"{channel.pointer}/messages/{escape(name)}")]
    } | {
        (channel.file, f"{channel.pointer}/messages/{escape(name)}")
        for name in channel.value.messages or {}
    }
    problems = []
    for index, ref in enumerate(op.messages or []):
        target = doc.workspace.resolve(ref.ref, file)
        direct = doc.workspace.target(ref.ref, file)
        if (target.file, target.pointer) not in allowed and direct not in allowed:
            problems.append(
                _error(
                    doc,
                    f"{pointer}/messages/{index}",
                    f"message {ref.ref!r} is not one of the messages of channel {op.channel.ref!r}",
                    file,
                )
            )
    return problems
