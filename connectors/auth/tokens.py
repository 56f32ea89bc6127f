"""JWT bearer tokens: signatures checked with algorithms pinned per scheme, then ``exp``, ``nbf``
(with a small leeway), ``iss`` and ``aud``.

Keys come from a PEM file, a shared secret (HS algorithms only) or a JWKS URL. JWKS keys are
fetched asynchronously and cached; a token with an unknown ``kid`` triggers a refetch at most once
per ``refetch_seconds``, so a flood of random kids costs one request, not one each. Verified
tokens are cached until they expire: an RS256 check costs about as much as a whole request.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import ClientError, ClientSession, ClientTimeout

from mesh.core.auth import Principal

__all__ = ["JwtSettings", "JwtVerifier", "TokenRejected"]

_CACHE_SIZE = 10_000


class TokenRejected(Exception):
    """The token is not acceptable; the message says why, for the ``WWW-Authenticate`` error."""


@dataclass(frozen=True)
class JwtSettings:
    algorithms: tuple[str, ...]
    issuer: str | None = None
    audience: str | None = None
    public_key: str | None = None
    secret: str | None = None
    jwks_url: str | None = None
    leeway_seconds: float = 30.0
    scopes_claim: str = "scope"
    refetch_seconds: float = 30.0


class JwtVerifier:
    """Verifies the tokens of one scheme."""

    def __init__(self, scheme: str, settings: JwtSettings) -> None:
        self.scheme = scheme
        self.settings = settings
        self._jwks: dict[str, Any] = {}
        self._fetched = float("-inf")
        self._fetching: asyncio.Lock | None = None
        self._verified: dict[str, Principal] = {}

    async def verify(self, token: str) -> Principal:
        """The token's principal; raises ``TokenRejected``."""
        cached = self._verified.get(token)
        if cached is not None and (cached.expires is None or cached.expires > time.time()):
            return cached
        key = await self._key(token)
        principal = self._decode(token, key)
        if len(self._verified) >= _CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = principal
        return principal

    def _decode(self, token: str, key: Any) -> Principal:
        settings = self.settings
        options = {"require": ["exp"]}
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(settings.algorithms),
                issuer=settings.issuer,
                audience=settings.audience,
                leeway=settings.leeway_seconds,
                options=options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenRejected("the token is not valid yet") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRejected("the token is for another audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRejected("the token is from another issuer") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRejected("the token is invalid") from exc
        return Principal(
            id=f"{claims.get('iss', '')}|{claims.get('sub', '')}",
            scheme=self.scheme,
            scopes=_scopes(claims.get(settings.scopes_claim)),
            claims=claims,
            expires=float(claims["exp"]),
        )

    async def _key(self, token: str) -> Any:
        settings = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenRejected("the token is malformed") from exc
        if header.get("alg") not in settings.algorithms:
            raise TokenRejected("the token's algorithm is not accepted")
        if settings.public_key is not None:
            return settings.public_key
        if settings.secret is not None:
            return settings.secret
        kid = header.get("kid")
        if kid not in self._jwks:
            await self._refetch()
        if kid not in self._jwks:
            raise TokenRejected("the token's key is unknown")
        return self._jwks[kid]

    async def _refetch(self) -> None:
        """Fetch the JWKS unless it was fetched less than ``refetch_seconds`` ago."""
        if self._fetching is None:
            self._fetching = asyncio.Lock()
        async with self._fetching:
            if time.monotonic() - self._fetched < self.settings.refetch_seconds:
                return
            self._fetched = time.monotonic()
            assert self.settings.jwks_url is not None
            try:
                async with (
                    ClientSession(timeout=ClientTimeout(total=5)) as http,
                    http.get(self.settings.jwks_url) as response,
                ):
                    document = await response.json(content_type=None)
            except (ClientError, TimeoutError, ValueError):
                return  # keep the keys we have; the next unknown kid may try again
            keys = {}
            for entry in document.get("keys", []) if isinstance(document, dict) else []:
                try:
                    keys[entry.get("kid")] = jwt.PyJWK.from_json(json.dumps(entry)).key
                except (jwt.InvalidKeyError, jwt.PyJWKError):
                    continue
            self._jwks = keys


def _scopes(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(str(v) for v in value)
    return frozenset()
