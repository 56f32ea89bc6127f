"""The admin API: issue, list and revoke API keys, behind the admin bearer token.

``POST /_mesh/admin/keys`` with ``{"name": ..., "scopes": [...]}`` answers ``201`` with the key
(shown once); ``GET /_mesh/admin/keys`` lists the records (never keys); ``DELETE
/_mesh/admin/keys/{id}`` revokes one, at once in this process and within the store's reload time
in the others sharing its file.
"""

from __future__ import annotations

import hmac
from dataclasses import asdict

from aiohttp import web

from connectors.auth.keys import KeyStore
from connectors.entrypoints.problem import json_response
from mesh.core.errors import InvalidRequest, RouteNotFound, Unauthorized
from mesh.core.media import parse_json

__all__ = ["ADMIN_KEYS", "AdminKeys", "require_admin"]

ADMIN_KEYS = "/_mesh/admin/keys"
_CHALLENGE = 'Bearer realm="mesh-admin"'


class AdminKeys:
    """Handlers for ``ADMIN_KEYS``; ``token`` is the admin bearer token."""

    def __init__(self, store: KeyStore, token: str) -> None:
        self._store = store
        self._token = token.encode()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(ADMIN_KEYS, self.issue)
        app.router.add_get(ADMIN_KEYS, self.list)
        app.router.add_delete(ADMIN_KEYS + "/{id}", self.revoke)

    async def issue(self, request: web.Request) -> web.Response:
        self._check(request)
        body = parse_json(await request.read() or b"{}")
        if not isinstance(body, dict):
            body = {}
        name, scopes, plan = body.get("name"), body.get("scopes", []), body.get("plan")
        if not isinstance(name, str) or not name or not isinstance(scopes, list):
            raise InvalidRequest('send {"name": "...", "scopes": ["..."], "plan": "..."}')
        if plan is not None and not isinstance(plan, str):
            raise InvalidRequest("'plan' is a plan's name")
        issued = self._store.issue(name, [str(s) for s in scopes], plan)
        return json_response({"key": issued.key, **_public(asdict(issued.record))}, 201)

    async def list(self, request: web.Request) -> web.Response:
        self._check(request)
        return json_response({"keys": [_public(asdict(r)) for r in self._store.records()]})

    async def revoke(self, request: web.Request) -> web.Response:
        self._check(request)
        try:
            record = self._store.revoke(request.match_info["id"])
        except KeyError:
            raise RouteNotFound("no such key") from None
        return json_response(_public(asdict(record)))

    def _check(self, request: web.Request) -> None:
        require_admin(request, self._token)


def require_admin(request: web.Request, token: bytes) -> None:
    """Raise ``Unauthorized`` unless the request carries the admin bearer token."""
    kind, _, given = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
        raise Unauthorized("the admin API needs the admin token", _CHALLENGE)


def _public(record: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in record.items() if k != "digest"}
