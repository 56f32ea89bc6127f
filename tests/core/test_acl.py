"""Channel ACLs: principals, actions and parameter values, wildcards included."""

from __future__ import annotations

import pytest

from mesh.core.acl import AclRule, Acls
from mesh.core.auth import Principal
from mesh.core.errors import Forbidden
from mesh.core.routes import Action

PATH = "/orders.{tenant}"
ACME = Principal("id|acme-user", "jwt", frozenset({"read"}), {"tenant": "acme", "sub": "u1"})
OPS = Principal("id|ops", "jwt", frozenset({"ops"}), {"groups": ["operators"], "sub": "ops"})
ACLS = Acls(
    (
        AclRule(
            frozenset({PATH}),
            frozenset({Action.SUBSCRIBE, Action.PUBLISH}),
            parameters={"tenant": "{tenant}"},
        ),
        AclRule(
            frozenset({PATH}),
            frozenset({Action.SUBSCRIBE}),
            groups=frozenset({"operators"}),
            parameters={"tenant": "*"},
        ),
    )
)


def test_a_tenant_reads_only_its_own_partition() -> None:
    ACLS.check(PATH, Action.SUBSCRIBE, ACME, {"tenant": "acme"})
    with pytest.raises(Forbidden) as refused:
        ACLS.check(PATH, Action.SUBSCRIBE, ACME, {"tenant": "globex"})
    assert "globex" not in refused.value.detail  # nothing about other tenants


def test_a_wildcard_must_fit_inside_what_the_rule_allows() -> None:
    with pytest.raises(Forbidden):
        ACLS.check(PATH, Action.SUBSCRIBE, ACME, {"tenant": "*"})
    ACLS.check(PATH, Action.SUBSCRIBE, OPS, {"tenant": "*"})
    with pytest.raises(Forbidden):
        ACLS.check(PATH, Action.PUBLISH, OPS, {"tenant": "acme"})


def test_globs_keys_and_routes_no_rule_names() -> None:
    rules = Acls(
        (
            AclRule(
                frozenset({PATH}),
                frozenset({Action.PUBLISH}),
                keys=frozenset({"abc"}),
                parameters={"tenant": "eu-*"},
            ),
        )
    )
    key = Principal("key:abc", "key")
    rules.check(PATH, Action.PUBLISH, key, {"tenant": "eu-west"})
    with pytest.raises(Forbidden):
        rules.check(PATH, Action.PUBLISH, key, {"tenant": "us-east"})
    with pytest.raises(Forbidden):
        rules.check(PATH, Action.PUBLISH, Principal("key:other", "key"), {"tenant": "eu-west"})
    rules.check("/elsewhere", Action.PUBLISH, Principal("key:other", "key"), {})
