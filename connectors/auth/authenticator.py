"""Credentials to principals, for every entrypoint: API keys and JWT bearer tokens by scheme.

A credential that is present but wrong is a 401 at once, with ``error="invalid_token"`` in the
``WWW-Authenticate`` challenge; a route whose alternatives no credential satisfies is a 401 that
names what it accepts; a valid credential without the scopes is a 403 (``authorize``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from connectors.auth.keys import KeyStore
from connectors.auth.tokens import JwtVerifier, TokenRejected
from mesh.core.auth import (
    ANONYMOUS,
    Credentials,
    Principal,
    Requirement,
    Scheme,
    SchemeKind,
    authorize,
)
from mesh.core.errors import Unauthorized

__all__ = ["Authenticator"]


class Authenticator:
    """Checks ``Requirement``s against ``Credentials`` with the schemes it was given."""

    def __init__(
        self,
        schemes: Mapping[str, Scheme],
        keys: KeyStore | None,
        verifiers: Mapping[str, JwtVerifier],
    ) -> None:
        self.schemes = dict(schemes)
        self.keys = keys
        self.verifiers = dict(verifiers)

    async def authenticate(
        self, requirement: Requirement | None, credentials: Credentials
    ) -> Principal:
        if requirement is None:
            return ANONYMOUS
        proven: dict[str, Principal] = {}
        for name in sorted(requirement.schemes):
            principal = await self._prove(self.schemes[name], credentials, requirement)
            if principal is not None:
                proven[name] = principal
        try:
            return authorize(requirement, proven)
        except Unauthorized as exc:
            raise Unauthorized(exc.detail, self.challenge(requirement), **exc.extensions) from None

    async def _prove(
        self, scheme: Scheme, credentials: Credentials, requirement: Requirement
    ) -> Principal | None:
        if scheme.kind is SchemeKind.CERTIFICATE:
            subject = credentials.certificate
            if subject is None:
                return None
            return Principal(id=f"cert:{subject}", scheme=scheme.name, claims={"sub": subject})
        if scheme.kind is SchemeKind.BEARER:
            token = credentials.bearer()
            if token is None:
                return None
            try:
                return await self.verifiers[scheme.name].verify(token)
            except TokenRejected as exc:
                challenge = self.challenge(
                    requirement, f'error="invalid_token", error_description="{exc}"'
                )
                raise Unauthorized(str(exc), challenge) from None
        key = credentials.key(scheme)
        if key is None:
            return None
        principal = self.keys.verify(key, scheme.name) if self.keys is not None else None
        if principal is None:
            raise Unauthorized("the API key is unknown or revoked", self.challenge(requirement))
        return principal

    def lapsed(self, principal: Principal) -> Unauthorized | None:
        if principal.expires is not None and principal.expires <= time.time():
            return Unauthorized(
                "the credential expired", 'Bearer realm="mesh", error="invalid_token"'
            )
        scheme = self.schemes.get(principal.scheme)
        is_key = scheme is not None and scheme.kind in (SchemeKind.API_KEY, SchemeKind.BASIC)
        if is_key and self.keys is not None and not self.keys.active(principal.id[4:]):
            assert scheme is not None
            return Unauthorized("the API key was revoked", self.challenge_for(scheme))
        return None

    def challenge_for(self, scheme: Scheme) -> str:
        return f'ApiKey realm="mesh", in="{scheme.location.value}", name="{scheme.parameter}"'

    def challenge(self, requirement: Requirement, bearer_error: str = "") -> str:
        """The ``WWW-Authenticate`` value: a challenge per kind of scheme the route accepts."""
        parts = []
        for name in sorted(requirement.schemes):
            scheme = self.schemes[name]
            if scheme.kind is SchemeKind.BEARER:
                parts.append('Bearer realm="mesh"' + (f", {bearer_error}" if bearer_error else ""))
            elif scheme.kind is SchemeKind.CERTIFICATE:
                parts.append('Mutual realm="mesh"')
            elif scheme.kind is SchemeKind.BASIC:
                parts.append('Basic realm="mesh"')
            else:
                parts.append(self.challenge_for(scheme))
        return ", ".join(dict.fromkeys(parts))
