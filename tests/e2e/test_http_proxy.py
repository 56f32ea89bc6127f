"""OpenAPI operations proxied to real aiohttp upstreams started by the tests, and linked to a
channel on the real Tansu broker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from mesh.broker import EmbeddedKafka, free_port
from mesh.config import HttpConfig
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.helpers import consume

OPENAPI = """openapi: 3.1.0
info: {title: Shop, version: 1.0.0}
servers:
%(servers)s
x-mesh: {basePath: /shop, retries: 1}
paths:
  /items/{itemId}:
    parameters:
      - {name: itemId, in: path, required: true, schema: {type: integer, minimum: 1}}
    get:
      operationId: getItem
      parameters:
        - {name: view, in: query, schema: {type: string, enum: [short, full]}}
        - {name: X-Tenant, in: header, required: true, schema: {type: string}}
    put:
      operationId: putItem
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [name], properties: {name: {type: string}}}
  /orders:
    post:
      operationId: createOrder
      requestBody:
        content:
          application/json: {schema: {type: object}}
  /slow:
    get:
      x-mesh: {timeoutSeconds: 0.3, retries: 0}
  /events:
    get: {}
  /status/{code}:
    get:
      parameters:
        - {name: code, in: path, required: true, schema: {type: integer}}
"""

TENANT = {"X-Tenant": "acme"}


class Upstream:
    """An aiohttp service on a free port that records what reached it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.seen: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.failing = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "headers": dict(request.headers),
                "body": body,
            }
        )
        if self.failing:
            return web.Response(status=500, text="broken")
        tail = request.path.removeprefix("/v2")
        if tail == "/slow":
            await asyncio.sleep(2)
        if tail == "/events":
            return await self.events(request)
        if tail.startswith("/status/"):
            return web.Response(status=int(tail.rsplit("/", 1)[1]), text=self.name)
        response = web.json_response({"from": self.name}, headers={"X-Secret-Hop": "1"})
        response.headers["Connection"] = "X-Secret-Hop"
        return response

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: first\n\n")
        await asyncio.wait_for(self.release.wait(), 10)
        await response.write(b"data: second\n\n")
        await response.write_eof()
        return response


@asynccontextmanager
async def running(*upstreams: Upstream) -> AsyncIterator[None]:
    runners = []
    for upstream in upstreams:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", upstream.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", upstream.port).start()
        runners.append(runner)
    try:
        yield
    finally:
        for runner in runners:
            await runner.cleanup()


def openapi(tmp_path: Path, *urls: str) -> Path:
    servers = "\n".join(f"  - url: {url}" for url in urls)
    return write_spec(tmp_path, OPENAPI % {"servers": servers}, "shop.yaml")


async def test_a_get_is_checked_forwarded_and_answered_with_end_to_end_headers_only(
    tmp_path: Path, start_gateway: Start, http: ClientSession
) -> None:
    upstream = Upstream("a")
    async with running(upstream), start_gateway([openapi(tmp_path, upstream.url)]) as gw:
        response = await http.get(
            f"{gw.url}/shop/items/7?view=full",
            headers={
                **TENANT,
                "Connection": "X-Drop",
                "X-Drop": "1",
                "X-Forwarded-For": "10.0.0.9",
            },
        )
        body = await response.json()
    assert (response.status, body) == (200, {"from": "a"})
    assert "X-Secret-Hop" not in response.headers
    (seen,) = upstream.seen
    assert (seen["path"], seen["query"]) == ("/v2/items/7", "view=full")
    headers = seen["headers"]
    assert "X-Drop" not in headers
    assert headers["X-Tenant"] == "acme"
    assert headers["X-Forwarded-For"] == "10.0.0.9, 127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["Forwarded"].startswith("for=127.0.0.1;proto=http;host=")


async def test_parameters_and_bodies_that_break_the_document_never_reach_the_upstream(
    tmp_path: Path, start_gateway: Start, http: ClientSession
) -> None:
    upstream = Upstream("a")
    async with running(upstream), start_gateway([openapi(tmp_path, upstream.url)]) as gw:
        base = f"{gw.url}/shop"
        answers = [
            await http.get(f"{base}/items/0", headers=TENANT),
            await http.get(f"{base}/items/x", headers=TENANT),
            await http.get(f"{base}/items/1?view=huge", headers=TENANT),
            await http.get(f"{base}/items/1"),
            await http.put(f"{base}/items/1", json={"title": "no name"}),
            await http.put(f"{base}/items/1", data=b"name", headers={"Content-Type": "text/plain"}),
            await http.put(
                f"{base}/items/1", data=b"{", headers={"Content-Type": "application/json"}
            ),
            await http.delete(f"{base}/items/1"),
        ]
        codes = [(a.status, (await a.json())["code"]) for a in answers]
        fine = await http.put(f"{base}/items/1", json={"name": "lamp"})
    assert codes == [
        (400, "invalid-parameter"),
        (400, "invalid-parameter"),
        (400, "invalid-parameter"),
        (400, "invalid-parameter"),
        (400, "schema-violation"),
        (415, "unsupported-media-type"),
        (400, "malformed-json"),
        (405, "method-not-allowed"),
    ]
    assert fine.status == 200
    assert [s["body"] for s in upstream.seen] == [b'{"name": "lamp"}']


async def test_requests_go_round_robin_and_idempotent_ones_are_retried_elsewhere(
    tmp_path: Path, start_gateway: Start, http: ClientSession
) -> None:
    a, b, down = Upstream("a"), Upstream("b"), Upstream("down")
    spec = openapi(tmp_path, a.url, b.url, down.url)
    async with running(a, b), start_gateway([spec]) as gw:
        gets = [await http.get(f"{gw.url}/shop/items/1", headers=TENANT) for _ in range(6)]
        sources = [(await g.json())["from"] for g in gets]
        posts = [await http.post(f"{gw.url}/shop/orders", json={}) for _ in range(3)]
    assert all(g.status == 200 for g in gets)
    assert sorted(sources) == ["a", "a", "a", "b", "b", "b"]
    assert sorted(p.status for p in posts) == [200, 200, 502]  # a POST is never retried


async def test_a_slow_upstream_is_a_504_within_the_operation_timeout(
    tmp_path: Path, start_gateway: Start, http: ClientSession
) -> None:
    upstream = Upstream("a")
    async with running(upstream), start_gateway([openapi(tmp_path, upstream.url)]) as gw:
        started = time.monotonic()
        response = await http.get(f"{gw.url}/shop/slow")
        took = time.monotonic() - started
        body = await response.json()
    assert (response.status, body["code"]) == (504, "upstream-timeout")
    assert took < 1.5


async def test_failing_upstreams_are_ejected_the_circuit_opens_and_a_probe_closes_it(
    tmp_path: Path, start_gateway: Start, http: ClientSession
) -> None:
    upstream = Upstream("a")
    upstream.failing = True
    config = HttpConfig(eject_after_failures=2, eject_seconds=0.5, retries=0)
    async with (
        running(upstream),
        start_gateway([openapi(tmp_path, upstream.url)], http=config) as gw,
    ):
        url = f"{gw.url}/shop/status/200"
        failed = [(await http.get(url)).status for _ in range(2)]
        open_ = await http.get(url)
        reached = len(upstream.seen)
        upstream.failing = False
        await asyncio.sleep(0.6)
        probe = await http.get(url)
        after = await http.get(url)
    assert failed == [500, 500]
    assert (open_.status, (await open_.json())["code"]) == (503, "circuit-open")
    assert open_.headers["Retry-After"] == "1"
    assert reached == 2  # the open circuit did not call the upstream
    assert (probe.status, after.status) == (200, 200)


async def test_an_upstream_sse_stream_passes_through_unbuffered(
    tmp_path: Path, start_gateway: Start, http: ClientSession
) -> None:
    upstream = Upstream("a")
    async with running(upstream), start_gateway([openapi(tmp_path, upstream.url)]) as gw:
        response = await http.get(f"{gw.url}/shop/events")
        first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
        upstream.release.set()
        rest = await asyncio.wait_for(response.content.read(), 5)
    assert response.headers["Content-Type"] == "text/event-stream"
    assert (first, rest) == (b"data: first\n\n", b"data: second\n\n")


async def test_an_operation_linked_to_a_channel_publishes_its_body_to_kafka(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    parameters = "    parameters:\n      region: {}"
    channel = write_spec(
        tmp_path, channel_spec(f"{topic}.{{region}}", extra_channel=parameters), "events.yaml"
    )
    linked = write_spec(
        tmp_path,
        f"""openapi: 3.1.0
info: {{title: Public, version: 1.0.0}}
paths:
  /public/orders/{{region}}:
    parameters:
      - {{name: region, in: path, required: true, schema: {{enum: [eu, us]}}}}
    post:
      operationId: placeOrder
      x-mesh: {{channel: '/{topic}.{{region}}'}}
      requestBody:
        content:
          application/json: {{schema: {{type: object, required: [n]}}}}
    get:
      x-mesh: {{channel: '/{topic}.{{region}}'}}
""",
        "public.yaml",
    )
    async with start_gateway([channel, linked]) as gw:
        refused = await http.post(f"{gw.url}/public/orders/mars", json={"n": 1})
        unfit = await http.post(f"{gw.url}/public/orders/eu", json={"m": 1})
        placed = await http.post(f"{gw.url}/public/orders/eu", json={"n": 1})
        receipt = await placed.json()
        polled = await http.get(
            f"{gw.url}/public/orders/eu",
            params={"from": "earliest"},
            headers={"Accept": "application/json"},
        )
        messages = (await polled.json())["messages"]
    assert (refused.status, unfit.status) == (400, 400)
    assert (await unfit.json())["code"] == "schema-violation"
    assert placed.status == 201
    assert [m["payload"] for m in messages] == [{"n": 1}]
    assert receipt["cursor"].startswith("k1.")
    (record,) = await consume(kafka.bootstrap, f"{topic}.eu", 1)
    assert json.loads(record.value or b"") == {"n": 1}
