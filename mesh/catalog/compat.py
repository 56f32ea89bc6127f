"""What changed between two versions of a document, and which changes break its consumers.

Breaking: a removed channel, operation or OpenAPI operation; a changed channel address or
operation action or channel; a payload schema that no longer accepts what it accepted — a
removed property, a new required property, a narrowed type, a narrowed or new ``enum``; a new
required OpenAPI parameter. Additions and relaxations are listed as non-breaking.
Both documents are in their normalised form (AsyncAPI 3.x; OpenAPI 3.1).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mesh.core.pointer import escape

__all__ = ["Change", "diff", "readable"]

_NUMBER_TYPES = {"integer": {"integer"}, "number": {"integer", "number"}}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Change:
    pointer: str
    kind: str
    detail: str
    breaking: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every change from ``old`` to ``new``, breaking ones first."""
    changes = list(_openapi(old, new) if "openapi" in new else _asyncapi(old, new))
    return sorted(changes, key=lambda c: (not c.breaking, c.pointer))


def readable(changes: list[Change]) -> str:
    if not changes:
        return "no changes\n"
    lines = [f"{'BREAKING' if c.breaking else 'change  '} {c.pointer}: {c.detail}" for c in changes]
    return "\n".join(lines) + "\n"


def _asyncapi(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Change]:
    old_channels, new_channels = old.get("channels") or {}, new.get("channels") or {}
    for name, channel in old_channels.items():
        pointer = f"/channels/{escape(name)}"
        if name not in new_channels:
            yield Change(pointer, "channel-removed", "the channel was removed", True)
            continue
        after = new_channels[name]
        if channel.get("address") != after.get("address"):
            detail = f"address {channel.get('address')!r} became {after.get('address')!r}"
            yield Change(pointer + "/address", "address-changed", detail, True)
        yield from _messages(old, new, channel, after, pointer)
    for name in new_channels.keys() - old_channels.keys():
        yield Change(f"/channels/{escape(name)}", "channel-added", "a new channel", False)
    old_ops, new_ops = old.get("operations") or {}, new.get("operations") or {}
    for name, operation in old_ops.items():
        pointer = f"/operations/{escape(name)}"
        if name not in new_ops:
            yield Change(pointer, "operation-removed", "the operation was removed", True)
            continue
        for field in ("action", "channel"):
            if operation.get(field) != new_ops[name].get(field):
                yield Change(f"{pointer}/{field}", f"{field}-changed", f"the {field} changed", True)
    for name in new_ops.keys() - old_ops.keys():
        yield Change(f"/operations/{escape(name)}", "operation-added", "a new operation", False)


def _messages(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    channel: Mapping[str, Any],
    after: Mapping[str, Any],
    pointer: str,
) -> Iterator[Change]:
    before_messages, after_messages = channel.get("messages") or {}, after.get("messages") or {}
    for key, message in before_messages.items():
        where = f"{pointer}/messages/{escape(key)}"
        if key not in after_messages:
            yield Change(where, "message-removed", "the message was removed", True)
            continue
        was = _resolve(old, _resolve(old, message).get("payload"))
        now = _resolve(new, _resolve(new, after_messages[key]).get("payload"))
        if isinstance(was, dict) and isinstance(now, dict):
            yield from _schema(old, new, was, now, where + "/payload")


def _schema(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    was: Mapping[str, Any],
    now: Mapping[str, Any],
    pointer: str,
) -> Iterator[Change]:
    """Whether ``now`` still accepts what ``was`` accepted, part by part."""
    if "schema" in was and "schema" in now and "schemaFormat" in was:  # a multi-format schema
        was, now = _resolve(old, was["schema"]), _resolve(new, now["schema"])
    before_types, after_types = _types(was.get("type")), _types(now.get("type"))
    if after_types and not (before_types and before_types <= after_types):
        detail = f"type {sorted(before_types) or 'any'} narrowed to {sorted(after_types)}"
        yield Change(pointer + "/type", "type-narrowed", detail, True)
    if "enum" in now:
        lost = [v for v in was.get("enum", []) if v not in now["enum"]]
        if "enum" not in was or lost:
            detail = f"values {lost} no longer accepted" if lost else "values now limited"
            yield Change(pointer + "/enum", "enum-narrowed", detail, True)
    required_before, required_after = set(was.get("required", [])), set(now.get("required", []))
    for name in sorted(required_after - required_before):
        yield Change(pointer + "/required", "property-required", f"{name!r} is now required", True)
    before, after = was.get("properties") or {}, now.get("properties") or {}
    for name, schema in before.items():
        where = f"{pointer}/properties/{escape(name)}"
        if name not in after:
            yield Change(where, "property-removed", f"property {name!r} was removed", True)
            continue
        a, b = _resolve(old, schema), _resolve(new, after[name])
        if isinstance(a, dict) and isinstance(b, dict):
            yield from _schema(old, new, a, b, where)
    for name in sorted(after.keys() - before.keys()):
        where = f"{pointer}/properties/{escape(name)}"
        yield Change(where, "property-added", f"property {name!r} was added", False)
    items_before, items_after = _resolve(old, was.get("items")), _resolve(new, now.get("items"))
    if isinstance(items_before, dict) and isinstance(items_after, dict):
        yield from _schema(old, new, items_before, items_after, pointer + "/items")


def _openapi(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Change]:
    old_paths, new_paths = old.get("paths") or {}, new.get("paths") or {}
    for path, item in old_paths.items():
        for method in _METHODS:
            if method not in item:
                continue
            pointer = f"/paths/{escape(path)}/{method}"
            after = (new_paths.get(path) or {}).get(method)
            if after is None:
                yield Change(pointer, "operation-removed", "the operation was removed", True)
                continue
            before_required = _required_parameters(old, item, item[method])
            for name in sorted(_required_parameters(new, new_paths[path], after) - before_required):
                detail = f"parameter {name} is now required"
                yield Change(pointer + "/parameters", "parameter-required", detail, True)
    for path, item in new_paths.items():
        for method in _METHODS:
            if method in item and method not in (old_paths.get(path) or {}):
                pointer = f"/paths/{escape(path)}/{method}"
                yield Change(pointer, "operation-added", "a new operation", False)


def _required_parameters(
    doc: Mapping[str, Any], item: Mapping[str, Any], operation: Mapping[str, Any]
) -> set[str]:
    found = set()
    for raw in [*(item.get("parameters") or []), *(operation.get("parameters") or [])]:
        parameter = _resolve(doc, raw)
        if isinstance(parameter, dict) and parameter.get("required"):
            found.add(f"{parameter.get('in')}:{parameter.get('name')}")
    return found


def _types(value: Any) -> set[str]:
    names = {value} if isinstance(value, str) else set(value or [])
    return {t for name in names for t in _NUMBER_TYPES.get(name, {name})}


def _resolve(doc: Mapping[str, Any], value: Any) -> Any:
    """Follow a local reference (``#/...``) in ``doc``; anything else as it is."""
    seen = 0
    while isinstance(value, dict) and isinstance(value.get("$ref"), str) and seen < 32:
        ref = value["$ref"]
        if not ref.startswith("#/"):
            return value
        target: Any = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        value, seen = target, seen + 1
    return value
