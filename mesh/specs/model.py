"""Shared pieces of the spec object models: strict objects, extensions and references.

Every object refuses unknown fields except ``x-`` extensions, as the specifications do. A field
that may hold a Reference Object or the object itself is ``Ref[T]``; references are checked and
followed after parsing, so one model serves documents split across files.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from mesh.core.pointer import join_pointer
from mesh.specs.problems import SpecProblem

__all__ = [
    "EXTENSION",
    "REF_TAG",
    "Ref",
    "Reference",
    "SpecObject",
    "problems_from",
]

EXTENSION = re.compile(r"^x-[\w\d.\-_]+$")
REF_TAG = "<reference>"
OBJECT_TAG = "<object>"
UNKNOWN_FIELDS = "unknown_fields"


class SpecObject(BaseModel):
    """A specification object: frozen, field names as in the spec, only ``x-`` extras allowed."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _only_extensions(self) -> SpecObject:
        unknown = sorted(k for k in self.model_extra or {} if not EXTENSION.match(k))
        if unknown:
            raise PydanticCustomError(
                UNKNOWN_FIELDS, "unknown field(s) {fields}", {"fields": unknown}
            )
        return self

    def extension(self, name: str) -> Any:
        return (self.model_extra or {}).get(name)


class Reference(BaseModel):
    """A Reference Object: ``{"$ref": "..."}`` and nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    ref: str = Field(alias="$ref")


def _kind(value: Any) -> str:
    return REF_TAG if isinstance(value, dict) and "$ref" in value else OBJECT_TAG


T = TypeVar("T")

# ``Ref[T]``: a Reference Object or a ``T``, told apart by the ``$ref`` key, so errors point into
# the object the author meant instead of listing both alternatives.
Ref = Annotated[
    Annotated[Reference, Tag(REF_TAG)] | Annotated[T, Tag(OBJECT_TAG)],
    Discriminator(_kind),
]


def problems_from(
    error: ValidationError, file: str, prefix: tuple[object, ...] = ()
) -> list[SpecProblem]:
    """Translate pydantic errors into problems with JSON pointers into the document."""
    problems = []
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if p not in (REF_TAG, OBJECT_TAG)]
        if item["type"] == UNKNOWN_FIELDS:
            problems += [
                SpecProblem(file, join_pointer((*prefix, *loc, name)), f"unknown field {name!r}")
                for name in item["ctx"]["fields"]
            ]
            continue
        message = _message(item)
        if item["type"] == "extra_forbidden" and loc:
            message = f"unknown field {loc[-1]!r}"
        problems.append(SpecProblem(file, join_pointer((*prefix, *loc)), message))
    return problems


def _message(item: Any) -> str:
    text: str = item["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        text = text.removeprefix(prefix)
    if item["type"] == "missing":
        return "required field is missing"
    return text
