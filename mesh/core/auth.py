"""Who is calling, and what a route asks of them: principals, schemes and requirements.

A route's ``Requirement`` is a list of alternatives, any one of which suffices (as both OpenAPI
and AsyncAPI define ``security``); an alternative names schemes that must all be satisfied, each
with the scopes it needs. An empty alternative lets anyone in. A route with no requirement is
open. Entrypoints read ``Credentials`` from the request; an authenticator turns them into a
``Principal`` or raises ``Unauthorized`` (401); a principal without the scopes is ``Forbidden``.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from mesh.core.errors import Forbidden, Unauthorized

__all__ = [
    "ANONYMOUS",
    "Authenticator",
    "Credentials",
    "KeyLocation",
    "NoAuthenticator",
    "Principal",
    "Requirement",
    "Scheme",
    "SchemeKind",
    "SchemeNeed",
    "authorize",
]


class SchemeKind(enum.Enum):
    API_KEY = "apiKey"  # a key issued by the gateway (mesh keys ...), in a header, query or cookie
    BASIC = "basic"  # a key issued by the gateway as HTTP Basic's password (or user)
    BEARER = "bearer"  # a JWT in Authorization: Bearer (or the access_token query parameter)
    CERTIFICATE = "certificate"  # a client certificate the TLS listener verified (mTLS)


class KeyLocation(enum.Enum):
    HEADER = "header"
    QUERY = "query"
    COOKIE = "cookie"


@dataclass(frozen=True, slots=True)
class Scheme:
    """A security scheme of the documents, by its name there."""

    name: str
    kind: SchemeKind
    location: KeyLocation = KeyLocation.HEADER
    parameter: str = "Authorization"


@dataclass(frozen=True, slots=True)
class SchemeNeed:
    scheme: str
    scopes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Requirement:
    """Alternatives, any one of which suffices; each needs all of its schemes."""

    alternatives: tuple[tuple[SchemeNeed, ...], ...]

    @property
    def open(self) -> bool:
        return any(not alternative for alternative in self.alternatives)

    @property
    def schemes(self) -> frozenset[str]:
        return frozenset(n.scheme for a in self.alternatives for n in a)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``scheme`` names how; ``expires`` is a UNIX time or None."""

    id: str
    scheme: str
    scopes: frozenset[str] = frozenset()
    claims: Mapping[str, object] = field(default_factory=dict)
    expires: float | None = None


ANONYMOUS = Principal(id="anonymous", scheme="")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request carries that may prove who sent it (lowercase header names)."""

    headers: Mapping[str, str]
    query: Mapping[str, str]
    cookies: Mapping[str, str]
    certificate: str | None = None  # the verified client certificate's subject

    def bearer(self) -> str | None:
        """A bearer token: the ``Authorization`` header, else the ``access_token`` query
        parameter (``EventSource`` cannot set headers)."""
        value = self.headers.get("authorization", "")
        kind, _, token = value.partition(" ")
        if kind.lower() == "bearer" and token.strip():
            return token.strip()
        return self.query.get("access_token") or None

    def basic(self) -> tuple[str, str] | None:
        """HTTP Basic's user and password, when the request carries them."""
        kind, _, encoded = self.headers.get("authorization", "").partition(" ")
        if kind.lower() != "basic":
            return None
        try:
            user, _, password = (
                base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
            )
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password

    def key(self, scheme: Scheme) -> str | None:
        if scheme.kind is SchemeKind.BASIC:
            found = self.basic()
            if found is None:
                return None
            return (found[0] if scheme.parameter == "user" else found[1]) or None
        source = {
            KeyLocation.HEADER: self.headers,
            KeyLocation.QUERY: self.query,
            KeyLocation.COOKIE: self.cookies,
        }[scheme.location]
        name = (
            scheme.parameter.lower() if scheme.location is KeyLocation.HEADER else scheme.parameter
        )
        return source.get(name) or None


class Authenticator(Protocol):
    """What entrypoints ask: the principal ``credentials`` prove for ``requirement`` (anonymous
    when there is none), or ``Unauthorized``/``Forbidden``."""

    async def authenticate(
        self, requirement: Requirement | None, credentials: Credentials
    ) -> Principal: ...

    def lapsed(self, principal: Principal) -> Unauthorized | None:
        """Why ``principal``'s credential no longer holds (expired, revoked), or None."""
        ...


class NoAuthenticator:
    """For a gateway with no protected routes: anyone may use an open route, nobody a closed one."""

    async def authenticate(
        self, requirement: Requirement | None, credentials: Credentials
    ) -> Principal:
        if requirement is None or requirement.open:
            return ANONYMOUS
        raise Unauthorized("this route needs credentials the gateway cannot check")

    def lapsed(self, principal: Principal) -> Unauthorized | None:
        return None


def authorize(requirement: Requirement, proven: Mapping[str, Principal]) -> Principal:
    """The principal of the first alternative that ``proven`` (principals by scheme) satisfies.

    Raises ``Unauthorized`` when no alternative's schemes were all proven, ``Forbidden`` when one
    was but lacks a scope.
    """
    if requirement.open:
        return next(iter(proven.values()), ANONYMOUS)
    lacking: str | None = None
    for alternative in requirement.alternatives:
        if not all(need.scheme in proven for need in alternative):
            continue
        missing = [
            scope
            for need in alternative
            for scope in sorted(need.scopes - proven[need.scheme].scopes)
        ]
        if not missing:
            return proven[alternative[0].scheme]
        lacking = lacking or ", ".join(missing)
    if lacking is not None:
        raise Forbidden(f"the credential lacks the scope(s) {lacking}", scope=lacking)
    raise Unauthorized("this route needs credentials", schemes=sorted(requirement.schemes))
