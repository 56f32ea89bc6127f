"""The proxy's HTTP/1.1 client against a real aiohttp server on a free port."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from connectors.endpoints.http_client import ConnectionPool
from mesh.broker import free_port

BIG = bytes(range(256)) * 4096  # 1 MiB


async def echo(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    peer = request.transport.get_extra_info("peername")[1] if request.transport else 0
    return web.json_response(
        {"peer": peer, "length": len(body), "sha": hashlib.sha256(body).hexdigest()}
    )


async def chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for start in range(0, len(BIG), 100_000):
        await response.write(BIG[start : start + 100_000])
    await response.write_eof()
    return response


async def empty(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def closing(request: web.Request) -> web.Response:
    return web.Response(text="bye", headers={"Connection": "close"})


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application(client_max_size=4 * len(BIG))
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/empty", empty)
    app.router.add_get("/closing", closing)
    runner = web.AppRunner(app, keepalive_timeout=0.3)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/base"
    await runner.cleanup()


async def fetch(
    pool: ConnectionPool, method: str, path: str, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    response = await pool.request(method, path, [("Accept", "*/*")], body, 5)
    try:
        return response.status, dict(response.headers), await response.read()
    finally:
        response.release()


async def test_connections_are_kept_alive_and_reused(server: str) -> None:
    pool = ConnectionPool(server.removesuffix("/base"), 4, 5)
    first = await fetch(pool, "GET", "/echo")
    second = await fetch(pool, "GET", "/echo")
    assert first[0] == second[0] == 200
    assert first[2].split(b",")[0] == second[2].split(b",")[0]  # the same client port
    pool.close()


async def test_chunked_bodies_and_large_uploads_arrive_whole(server: str) -> None:
    pool = ConnectionPool(server.removesuffix("/base"), 4, 5)
    status, _, body = await fetch(pool, "GET", "/chunked")
    _, _, echoed = await fetch(pool, "POST", "/echo", BIG)
    assert (status, body) == (200, BIG)
    assert hashlib.sha256(BIG).hexdigest().encode() in echoed
    pool.close()


async def test_head_204_and_connection_close_leave_the_pool_usable(server: str) -> None:
    pool = ConnectionPool(server.removesuffix("/base"), 4, 5)
    head = await fetch(pool, "HEAD", "/chunked")
    empty_ = await fetch(pool, "GET", "/empty")
    bye = await fetch(pool, "GET", "/closing")
    after = await fetch(pool, "GET", "/echo")
    await asyncio.sleep(0.5)  # the server closes idle connections after 0.3 s
    later = await fetch(pool, "GET", "/echo")
    assert (head[0], head[2]) == (200, b"")
    assert (empty_[0], empty_[2]) == (204, b"")
    assert (bye[0], bye[2]) == (200, b"bye")
    assert after[0] == later[0] == 200
    pool.close()


async def test_an_unreachable_upstream_raises_connection_refused() -> None:
    pool = ConnectionPool(f"http://127.0.0.1:{free_port()}", 4, 5)
    with pytest.raises(ConnectionRefusedError):
        await fetch(pool, "GET", "/")
