"""One client interaction: which route, with which parameter values, for whom, until when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mesh.core.routes import Route

__all__ = ["Exchange"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """``principal`` is None until authentication exists; ``deadline`` is a loop time in seconds."""

    route: Route
    values: Mapping[str, str] = field(default_factory=dict)
    principal: str | None = None
    deadline: float | None = None
