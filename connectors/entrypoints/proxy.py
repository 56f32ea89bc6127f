"""OpenAPI operations proxied to their upstream: checked, forwarded, and streamed back.

Hop-by-hop headers (RFC 9110 section 7.6.1: ``Connection`` and every header it names,
``Keep-Alive``, ``Proxy-*``, ``TE``, ``Trailer``, ``Transfer-Encoding``, ``Upgrade``) are dropped
both ways. The upstream learns the client through ``X-Forwarded-For``/``-Proto``/``-Host`` and
``Forwarded`` (RFC 7239), each appended to what the request already carried. The answer's body is
written as it arrives, so an upstream's own SSE stream passes through unbuffered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import quote

from aiohttp import web

from connectors.entrypoints.body import read_body
from connectors.entrypoints.state import GatewayState
from mesh.core.media import media_type
from mesh.core.proxy import Forward, Operation

__all__ = ["HOP_BY_HOP", "check_parameters", "forwarded_headers", "proxy", "relayed"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# hop-by-hop, set by the client connection, or rewritten by ``forwarded_headers``
_NOT_FORWARDED = HOP_BY_HOP | {
    "host",
    "content-length",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
}
_WHOLE_BODY = 65_536  # answers up to this size are read whole and written at once
_RELAYED_WHOLE = HOP_BY_HOP | {"content-length"}  # set again for a body written whole


async def proxy(
    state: GatewayState, request: web.Request, operation: Operation, values: Mapping[str, str]
) -> web.StreamResponse:
    """Check the request against ``operation``, send it upstream and stream the answer back."""
    check_parameters(operation, values, request)
    body = await read_body(request, state.settings.max_body_bytes)
    if operation.body is not None:
        operation.body.validate(media_type(request.headers.get("Content-Type")), body)
    assert operation.upstream is not None
    reply = await state.upstreams[operation.upstream].forward(
        Forward(
            method=request.method,
            path=_render(operation.upstream_path, values),
            query=request.query_string,
            headers=forwarded_headers(request),
            body=body,
            timeout=operation.timeout,
            retries=operation.retries,
        )
    )
    try:
        if reply.length is not None and reply.length <= _WHOLE_BODY and request.method != "HEAD":
            # small and complete: one write for head and body
            headers = relayed(reply.headers, _RELAYED_WHOLE)
            return web.Response(status=reply.status, body=await reply.read(), headers=headers)
        response = web.StreamResponse(status=reply.status, headers=relayed(reply.headers))
        await response.prepare(request)
        async for chunk in reply.chunks():
            await response.write(chunk)
        await response.write_eof()
    finally:
        reply.release()
    return response


def check_parameters(operation: Operation, values: Mapping[str, str], request: web.Request) -> None:
    """``operation.check`` on the request, parsing cookies only for an operation that reads them."""
    if operation.parameters:
        cookies = request.cookies if operation.reads_cookies else {}
        operation.check(values, request.query, request.headers, cookies)


def relayed(
    headers: Iterable[tuple[str, str]], dropped: frozenset[str] = HOP_BY_HOP
) -> list[tuple[str, str]]:
    """``headers`` without those whose lowercase name is in ``dropped`` (the hop-by-hop ones by
    default) and without those a ``Connection`` header names."""
    kept = []
    named = None
    for name, value in headers:
        lower = name.lower()
        if lower == "connection":
            named = {token.strip().lower() for token in value.split(",")}
        elif lower not in dropped:
            kept.append((name, value))
    if named:
        kept = [(name, value) for name, value in kept if name.lower() not in named]
    return kept


def forwarded_headers(request: web.Request) -> list[tuple[str, str]]:
    """The request's end-to-end headers for the upstream, with the forwarding headers added."""
    headers = relayed(request.headers.items(), _NOT_FORWARDED)
    client = request.remote or "unknown"
    proto = request.scheme
    host = request.headers.get("Host", "")
    earlier = request.headers.get("X-Forwarded-For")
    node = f'"[{client}]"' if ":" in client else client
    forwarded = f"for={node};proto={proto}" + (f';host="{host}"' if host else "")
    if request.headers.get("Forwarded"):
        forwarded = f"{request.headers['Forwarded']}, {forwarded}"
    headers += [
        ("X-Forwarded-For", f"{earlier}, {client}" if earlier else client),
        ("X-Forwarded-Proto", proto),
        ("Forwarded", forwarded),
    ]
    if host:
        headers.append(("X-Forwarded-Host", host))
    return headers


def _render(template: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", quote(value, safe=""))
    return template
