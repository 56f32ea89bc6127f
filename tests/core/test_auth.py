"""Requirements against proven principals: any alternative, all of its schemes, their scopes."""

from __future__ import annotations

import pytest

from mesh.core.auth import ANONYMOUS, Principal, Requirement, SchemeNeed, authorize
from mesh.core.errors import Forbidden, Unauthorized

ALICE = Principal("alice", "jwt", frozenset({"read"}))
KEY = Principal("key:1", "key")
EITHER = Requirement(((SchemeNeed("jwt", frozenset({"write"})),), (SchemeNeed("key"),)))
BOTH = Requirement(((SchemeNeed("jwt"), SchemeNeed("key")),))


def test_any_alternative_suffices() -> None:
    assert authorize(EITHER, {"key": KEY}) is KEY


def test_all_schemes_of_an_alternative_are_needed() -> None:
    with pytest.raises(Unauthorized):
        authorize(BOTH, {"jwt": ALICE})
    assert authorize(BOTH, {"jwt": ALICE, "key": KEY}) is ALICE


def test_a_proven_principal_without_the_scope_is_forbidden_not_unauthorized() -> None:
    with pytest.raises(Forbidden, match="write"):
        authorize(EITHER, {"jwt": ALICE})


def test_nothing_proven_is_unauthorized_and_an_open_alternative_admits_anyone() -> None:
    with pytest.raises(Unauthorized):
        authorize(EITHER, {})
    assert authorize(Requirement(((),)), {}) is ANONYMOUS
