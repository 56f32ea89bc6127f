from __future__ import annotations

import re
from pathlib import Path

import mesh.core.errors as errors
from mesh.core.problems import PROBLEM_TYPES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "problems.md"


def test_every_error_class_has_a_problem_type() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert cls.code in PROBLEM_TYPES, name


def test_every_problem_type_is_documented() -> None:
    documented = set(re.findall(r"^## `([a-z-]+)`", DOCS.read_text(), re.MULTILINE))
    assert documented == set(PROBLEM_TYPES)
