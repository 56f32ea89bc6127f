"""Channel ACLs: which principals may publish to or subscribe to which channels and parameter
values, checked after authentication on every entrypoint.

A route with rules admits a request only when one rule matches: the principal (by key, subject,
scope, claim or group), the action, and every constrained parameter. A constraint is a glob
(``acme-*``, ``*``) or ``{claim}``, the principal's value of that claim, so a tenant reads only
its own partition of a channel. A wildcard subscription (``*``) fits only where the rule allows
every value. Routes that no rule names are left to the documents' security alone.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field

from mesh.core.address import WILDCARD
from mesh.core.auth import Principal
from mesh.core.errors import Forbidden
from mesh.core.routes import Action

__all__ = ["AclRule", "Acls"]


@dataclass(frozen=True, slots=True)
class AclRule:
    """``channels`` are route paths as the gateway serves them (``/iot/devices/{deviceId}``)."""

    channels: frozenset[str]
    actions: frozenset[Action]
    keys: frozenset[str] = frozenset()
    subjects: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    claims: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)
    groups_claim: str = "groups"

    def admits(self, principal: Principal) -> bool:
        """Whether the principal is one this rule names (a rule naming no one names everyone)."""
        claims = principal.claims
        if self.keys and principal.id.removeprefix("key:") not in self.keys:
            return False
        if self.subjects and str(claims.get("sub")) not in self.subjects:
            return False
        if self.scopes and not self.scopes <= principal.scopes:
            return False
        if self.groups and not self.groups & _strings(claims.get(self.groups_claim)):
            return False
        return all(str(claims.get(name)) == value for name, value in self.claims.items())

    def fits(self, principal: Principal, values: Mapping[str, str]) -> bool:
        """Whether every constrained parameter's requested value lies inside the rule."""
        for name, pattern in self.parameters.items():
            value = values.get(name)
            if value is None:
                continue
            if pattern.startswith("{") and pattern.endswith("}"):
                claim = principal.claims.get(pattern[1:-1])
                if claim is None or value != str(claim):
                    return False
            elif value == WILDCARD:
                if pattern != "*":
                    return False
            elif not fnmatch.fnmatchcase(value, pattern):
                return False
        return True


@dataclass(frozen=True)
class Acls:
    rules: tuple[AclRule, ...] = ()

    def check(
        self, path: str, action: Action, principal: Principal, values: Mapping[str, str]
    ) -> None:
        """Raise ``Forbidden`` unless a rule for ``path`` admits the request (or none names it)."""
        relevant = [rule for rule in self.rules if path in rule.channels]
        if not relevant:
            return
        for rule in relevant:
            if action in rule.actions and rule.admits(principal) and rule.fits(principal, values):
                return
        # say no more than that: naming the rules would tell about other consumers
        raise Forbidden(f"not allowed to {action.value} here")


def _strings(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list | tuple):
        return frozenset(str(v) for v in value)
    return frozenset()
