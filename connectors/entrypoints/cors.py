"""CORS for browser apps on other origins: none allowed unless configured."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from connectors.entrypoints.state import EntrypointSettings
from mesh.core.errors import OriginNotAllowed

__all__ = ["add_cors_headers", "preflight"]


def allowed_origin(settings: EntrypointSettings, origin: str | None) -> str | None:
    """The value for ``Access-Control-Allow-Origin``, or None when the origin is not allowed."""
    if origin is None:
        return None
    if origin in settings.cors_origins:
        return origin
    if "*" in settings.cors_origins:
        return origin if settings.cors_credentials else "*"
    return None


def add_cors_headers(
    settings: EntrypointSettings, request: web.Request, response: web.StreamResponse
) -> None:
    """Add the CORS response headers for an allowed ``Origin``; call before the response starts."""
    allow = allowed_origin(settings, request.headers.get("Origin"))
    if allow is None:
        return
    response.headers["Access-Control-Allow-Origin"] = allow
    response.headers.add("Vary", "Origin")
    if settings.cors_expose:
        response.headers["Access-Control-Expose-Headers"] = ", ".join(settings.cors_expose)
    if settings.cors_credentials:
        response.headers["Access-Control-Allow-Credentials"] = "true"


def preflight(
    settings: EntrypointSettings, request: web.Request, methods: Iterable[str]
) -> web.Response:
    """Answer an ``OPTIONS`` request: a preflight from an allowed origin, or a plain Allow list."""
    allowed = ", ".join([*methods, "OPTIONS"])
    origin = request.headers.get("Origin")
    if origin is None or "Access-Control-Request-Method" not in request.headers:
        return web.Response(status=204, headers={"Allow": allowed})
    if allowed_origin(settings, origin) is None:
        raise OriginNotAllowed(f"origin {origin!r} is not allowed")
    response = web.Response(
        status=204,
        headers={
            "Allow": allowed,
            "Access-Control-Allow-Methods": allowed,
            "Access-Control-Allow-Headers": ", ".join(settings.cors_headers),
            "Access-Control-Max-Age": str(settings.cors_max_age),
        },
    )
    add_cors_headers(settings, request, response)
    return response
