"""What is wrong with a document: every problem names its file and JSON pointer."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Severity", "SpecError", "SpecProblem"]


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class SpecProblem:
    file: str
    pointer: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        tail = " (warning)" if self.severity is Severity.WARNING else ""
        return f"{self.file}: {self.pointer or '/'}: {self.message}{tail}"


class SpecError(Exception):
    """A document was refused; ``problems`` lists every reason (and any warnings)."""

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        self.problems = tuple(problems)
        errors = [p for p in self.problems if p.severity is Severity.ERROR]
        super().__init__("\n".join(str(p) for p in errors or self.problems))
