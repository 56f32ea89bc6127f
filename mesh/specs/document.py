"""A loaded document: its original text, its 3.x form, its object model and its warnings."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from mesh.core.pointer import escape
from mesh.specs.model import Reference
from mesh.specs.problems import SpecProblem
from mesh.specs.source import Located, Workspace

__all__ = ["Document", "Kind", "Resolved"]

M = TypeVar("M", bound=BaseModel)


class Kind(enum.Enum):
    ASYNCAPI = "asyncapi"
    OPENAPI = "openapi"


@dataclass(frozen=True, slots=True)
class Resolved(Generic[M]):
    """An object found by following references, with where it stands."""

    value: M
    file: Path
    pointer: str


@dataclass(frozen=True)
class Document:
    """``data`` is the 3.x form (a 2.6 document converted); ``text`` the original as read."""

    path: Path
    kind: Kind
    version: str
    text: str
    data: dict[str, Any]
    model: Any
    workspace: Workspace
    warnings: tuple[SpecProblem, ...] = ()

    @property
    def title(self) -> str:
        return str(self.data.get("info", {}).get("title", self.path.stem))

    def locate(self, value: Any, file: Path, pointer: str) -> Located:
        """Follow ``value`` if it is a Reference (chains included); else return it where it is."""
        ref = value.ref if isinstance(value, Reference) else None
        if isinstance(value, dict) and isinstance(value.get("$ref"), str):
            ref = value["$ref"]
        if ref is None:
            return Located(file, pointer, value)
        return self.workspace.resolve(ref, file)

    def resolve(self, value: Any, model: type[M], file: Path, pointer: str) -> Resolved[M]:
        """Return ``value`` as a ``model``, following a Reference first.

        Raises ``LookupError`` for a dangling reference and ``pydantic.ValidationError`` when the
        target is not a valid ``model``.
        """
        if isinstance(value, model):
            return Resolved(value, file, pointer)
        found = self.locate(value, file, pointer)
        data = (
            found.value.model_dump(by_alias=True)
            if isinstance(found.value, BaseModel)
            else found.value
        )
        return Resolved(model.model_validate(data), found.file, found.pointer)

    def entries(self, section: str) -> Iterator[tuple[str, Any, str]]:
        """Yield ``(name, raw value, pointer)`` for each entry of a root section like channels."""
        for name, value in (self.data.get(section) or {}).items():
            yield name, value, f"/{section}/{escape(name)}"
