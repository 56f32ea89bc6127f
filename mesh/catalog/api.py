"""The catalog's REST API under ``/_mesh/catalog``: register documents, list, read, and move
versions through their lifecycle. Writing needs the admin token; reading too, unless the
catalog is open for reading.

- ``POST /_mesh/catalog/documents[?name=&state=]``: the document's YAML or JSON as the body;
  ``201`` with the new version, or ``400 invalid-document`` listing every problem.
- ``GET /_mesh/catalog/documents``: every document with its versions.
- ``GET /_mesh/catalog/documents/{name}``: one document's versions.
- ``GET /_mesh/catalog/documents/{name}/{version}``: the version with its normalised form;
  ``?format=original`` gives the text as registered.
- ``PUT /_mesh/catalog/documents/{name}/{version}/state`` with ``{"state": "active"}``.
- ``PUT /_mesh/catalog/documents/{name}/{version}/live`` serves the version on the gateway;
  ``DELETE /_mesh/catalog/documents/{name}/live`` takes it down.
- ``GET /_mesh/catalog``: the browse page (the API calls it makes follow the same rules).
- ``GET /_mesh/catalog/search?q=&channel=&message=&tag=&protocol=&server=&owner=&state=``
  (``limit``, ``offset``): ranked newest versions; ``GET /_mesh/catalog/lineage?channel=``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from connectors.entrypoints.admin import require_admin
from connectors.entrypoints.problem import json_response
from mesh.catalog.compat import diff, readable
from mesh.catalog.store import STATES, Catalog, Query
from mesh.core.errors import InvalidDocument, InvalidRequest
from mesh.core.media import parse_json
from mesh.specs.problems import SpecError

__all__ = ["CATALOG", "CatalogApi"]

CATALOG = "/_mesh/catalog/documents"
_PAGE = (Path(__file__).parent / "ui.html").read_text(encoding="utf-8")
_MAX_DOCUMENT = 4 * 1024 * 1024


class CatalogApi:
    def __init__(
        self, catalog: Catalog, admin_token: str, public_read: bool, refuse_breaking: bool
    ) -> None:
        self.catalog = self._catalog = catalog
        self._token = admin_token.encode()
        self._public_read = public_read
        self._refuse_breaking = refuse_breaking
        self.reload: Callable[[], object] = lambda: None  # set by the gateway once it runs

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(CATALOG, self.register)
        app.router.add_get(CATALOG, self.documents)
        app.router.add_get(CATALOG + "/{name}", self.versions)
        app.router.add_get(CATALOG + "/{name}/diff", self.diff)  # before /{version}
        app.router.add_get(CATALOG + "/{name}/{version}", self.version)
        app.router.add_put(CATALOG + "/{name}/{version}/state", self.state)
        app.router.add_put(CATALOG + "/{name}/{version}/live", self.go_live)
        app.router.add_delete(CATALOG + "/{name}/live", self.take_down)
        app.router.add_get("/_mesh/catalog/search", self.search)
        app.router.add_get("/_mesh/catalog/lineage", self.lineage)
        app.router.add_get("/_mesh/catalog", self.page)

    async def register(self, request: web.Request) -> web.Response:
        require_admin(request, self._token)
        if (request.content_length or 0) > _MAX_DOCUMENT:
            raise InvalidRequest(f"a document is at most {_MAX_DOCUMENT} bytes")
        text = (await request.read()).decode("utf-8", errors="replace")
        name, state = request.query.get("name"), request.query.get("state", "draft")
        if state not in STATES:
            raise InvalidRequest(f"state is one of {', '.join(STATES)}")
        refuse = request.query.get("refuse_breaking", str(self._refuse_breaking)).lower() == "true"
        try:
            version, changes = await asyncio.to_thread(
                self._catalog.register, text, name, state, refuse
            )
        except SpecError as exc:
            raise _invalid(exc) from None
        return json_response(
            {
                **version.summary(),
                "breaking": any(c.breaking for c in changes),
                "changes": [c.as_json() for c in changes],
            },
            201,
        )

    async def documents(self, request: web.Request) -> web.Response:
        self._check_read(request)
        return json_response({"documents": await asyncio.to_thread(self._catalog.documents)})

    async def versions(self, request: web.Request) -> web.Response:
        self._check_read(request)
        found = await asyncio.to_thread(self._catalog.versions, request.match_info["name"])
        return json_response({"name": found[0].name, "versions": [v.summary() for v in found]})

    async def version(self, request: web.Request) -> web.Response:
        self._check_read(request)
        info = request.match_info
        found = await asyncio.to_thread(self._catalog.version, info["name"], info["version"])
        if request.query.get("format") == "original":
            return web.Response(text=found.text, content_type="text/yaml")
        return json_response({**found.summary(), "document": found.normalized})

    async def diff(self, request: web.Request) -> web.Response:
        """``?from=&to=`` (versions); JSON, or readable text with ``Accept: text/plain``."""
        self._check_read(request)
        name, query = request.match_info["name"], request.query
        if "from" not in query or "to" not in query:
            raise InvalidRequest("give the versions to compare: ?from=1.0.0&to=1.1.0")
        before = await asyncio.to_thread(self._catalog.version, name, query["from"])
        after = await asyncio.to_thread(self._catalog.version, name, query["to"])
        changes = diff(before.normalized, after.normalized)
        if "text/plain" in request.headers.get("Accept", ""):
            return web.Response(text=readable(changes))
        return json_response(
            {
                "name": name,
                "from": before.version,
                "to": after.version,
                "breaking": any(c.breaking for c in changes),
                "changes": [c.as_json() for c in changes],
            }
        )

    async def page(self, request: web.Request) -> web.Response:
        """The browse page: search, read documents, watch a channel live, publish a test."""
        return web.Response(text=_PAGE, content_type="text/html")

    async def search(self, request: web.Request) -> web.Response:
        self._check_read(request)
        params = request.query
        try:
            limit = min(100, max(1, int(params.get("limit", "20"))))
            offset = max(0, int(params.get("offset", "0")))
        except ValueError:
            raise InvalidRequest("limit and offset are numbers") from None
        query = Query(
            text=params.get("q"),
            channel=params.get("channel"),
            message=params.get("message"),
            tag=params.get("tag"),
            protocol=params.get("protocol"),
            server=params.get("server"),
            owner=params.get("owner"),
            state=params.get("state"),
            limit=limit,
            offset=offset,
        )
        total, results = await asyncio.to_thread(self._catalog.search, query)
        return json_response({"total": total, "limit": limit, "offset": offset, "results": results})

    async def lineage(self, request: web.Request) -> web.Response:
        """``?channel=`` (``*`` wildcards): which documents produce and which consume it."""
        self._check_read(request)
        channel = request.query.get("channel")
        if not channel:
            raise InvalidRequest("give ?channel=ADDRESS (with * wildcards)")
        found = await asyncio.to_thread(self._catalog.lineage, channel)
        return json_response({"channel": channel, **found})

    async def go_live(self, request: web.Request) -> web.Response:
        """Serve this version on the gateway: the route table is swapped whole, streams on
        unchanged routes go on. A version the gateway cannot serve is refused and nothing
        changes."""
        require_admin(request, self._token)
        name, version = request.match_info["name"], request.match_info["version"]
        before = self._catalog.go_live(name, version)
        try:
            self.reload()
        except SpecError as exc:
            if before is None:
                self._catalog.take_down(name)
            else:
                self._catalog.go_live(name, before)
            raise _invalid(exc) from None
        return json_response({"name": name, "live": version, "replaced": before})

    async def take_down(self, request: web.Request) -> web.Response:
        require_admin(request, self._token)
        name = request.match_info["name"]
        version = self._catalog.take_down(name)
        try:
            self.reload()
        except SpecError as exc:
            self._catalog.go_live(name, version)
            raise _invalid(exc) from None
        return json_response({"name": name, "taken_down": version})

    async def state(self, request: web.Request) -> web.Response:
        require_admin(request, self._token)
        body = parse_json(await request.read() or b"{}")
        state = body.get("state") if isinstance(body, dict) else None
        if state not in STATES:
            raise InvalidRequest(f'send {{"state": ...}}, one of {", ".join(STATES)}')
        info = request.match_info
        found = await asyncio.to_thread(
            self._catalog.set_state, info["name"], info["version"], str(state)
        )
        return json_response(found.summary())

    def _check_read(self, request: web.Request) -> None:
        if not self._public_read:
            require_admin(request, self._token)


def _invalid(error: SpecError) -> InvalidDocument:
    problems = [
        {"pointer": p.pointer, "message": p.message, "severity": p.severity.value}
        for p in error.problems
    ]
    return InvalidDocument(f"the document has {len(problems)} problem(s)", problems=problems)
