"""Protocol bindings of AsyncAPI documents, each followed through its references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mesh.core.pointer import escape
from mesh.specs import asyncapi as aa
from mesh.specs.document import Document

__all__ = ["bindings", "operation_bindings"]


def bindings(doc: Document, value: Any, file: Path, pointer: str) -> dict[str, Any]:
    """A Bindings Object by protocol, each binding followed through its reference."""
    if value is None:
        return {}
    found = doc.locate(value, file, pointer + "/bindings")
    out = {}
    for protocol, binding in (found.value or {}).items():
        located = doc.locate(binding, found.file, f"{found.pointer}/{escape(protocol)}")
        if isinstance(located.value, dict):
            out[protocol] = located.value
    return out


def operation_bindings(doc: Document, channel_pointer: str, protocol: str) -> dict[str, Any]:
    """The ``protocol`` binding of the ``receive`` operations on the channel (what a client
    publishes through the gateway): the first one that has one."""
    for _, raw, pointer in doc.entries("operations"):
        op = doc.resolve(raw, aa.Operation, doc.path, pointer)
        if op.value.action != "receive":
            continue
        if doc.workspace.resolve(op.value.channel.ref, doc.path).pointer != channel_pointer:
            continue
        binding = bindings(doc, op.value.bindings, op.file, op.pointer).get(protocol)
        if binding:
            return dict(binding)
    return {}
