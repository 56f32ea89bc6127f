"""Read a request body without ever holding more than the configured limit."""

from __future__ import annotations

import asyncio

from aiohttp import web

from mesh.core.errors import InvalidRequest, PayloadTooLarge

__all__ = ["read_body"]

_BODY = web.RequestKey("mesh_body", bytes)


async def read_body(request: web.Request, limit: int) -> bytes:
    """Return the body, or raise ``PayloadTooLarge`` as soon as it is known to exceed ``limit``:
    from ``Content-Length`` before reading anything, else while reading a chunked body.

    The body is kept on the request, so a second call (an operation that checks it, then the
    channel that publishes it) returns it again."""
    if _BODY in request:
        return request[_BODY]
    request[_BODY] = body = await _read(request, limit)
    return body


async def _read(request: web.Request, limit: int) -> bytes:
    if not request.body_exists:
        return b""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the limit of {limit} bytes")
    if declared is not None:
        try:
            return await request.content.readexactly(declared)
        except asyncio.IncompleteReadError as exc:
            raise InvalidRequest("the body ended before its Content-Length") from exc
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65_536):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
