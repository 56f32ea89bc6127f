"""A real browser on another origin, in headless Chromium: EventSource, WebSocket and fetch."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from mesh.broker import EmbeddedKafka
from mesh.config import CorsConfig
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.browser import Page, browser_page, chromium
from tests.e2e.helpers import produce

PAGE = """<!doctype html><title>orders</title><script>
const gateway = new URLSearchParams(location.search).get("gw");
window.events = [];
window.errors = 0;
const source = new EventSource(gateway + "?from=earliest");
source.addEventListener("thing", (e) => {
  window.events.push({id: e.lastEventId, data: JSON.parse(e.data)});
});
source.onerror = () => { window.errors += 1; };
window.frames_ = [];
const socket = new WebSocket(gateway.replace("http:", "ws:") + "?from=earliest", "mesh.v1");
socket.onmessage = (e) => window.frames_.push(JSON.parse(e.data));
window.wsPublish = (id, payload) => socket.send(JSON.stringify({type: "publish", id, payload}));
window.publish = async (body) => {
  try {
    const response = await fetch(gateway, {method: "POST", body: JSON.stringify(body),
      headers: {"Content-Type": "application/json", "Idempotency-Key": "page-1"}});
    return {status: response.status, body: await response.json()};
  } catch (error) { return {failed: String(error)}; }
};
</script>"""

if chromium() is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs chromium for the browser tests: `make test` installs it")
    pytest.skip("chromium is not installed (make test installs it)", allow_module_level=True)


@pytest.fixture
async def page_origin() -> AsyncIterator[str]:
    """A server for the test page, on its own origin."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with browser_page() as opened:
        yield opened


async def test_eventsource_and_fetch_from_an_allowed_origin(
    tmp_path: Path,
    start_gateway: Start,
    kafka: EmbeddedKafka,
    topic: str,
    page_origin: str,
    page: Page,
) -> None:
    await produce(kafka.bootstrap, topic, [b'{"from":"kafka"}'], key=b"k")
    spec = write_spec(tmp_path, channel_spec(topic))
    async with start_gateway([spec], cors=CorsConfig(allow_origins=[page_origin])) as gw:
        await page.goto(f"{page_origin}/?gw={gw.url}/{topic}")
        first = await page.wait_for("window.events.length >= 1 && window.events")
        assert first[0]["data"] == {"from": "kafka"}
        assert first[0]["id"].startswith("k1.")
        published = await page.evaluate('window.publish({"from": "browser"})')
        assert published["status"] == 201, published
        both = await page.wait_for("window.events.length >= 2 && window.events")
        assert [e["data"] for e in both] == [{"from": "kafka"}, {"from": "browser"}]
        await page.wait_for("window.frames_.length >= 2")
        await page.evaluate('window.wsPublish("w-1", {"from": "websocket"})')
        ack = await page.wait_for('window.frames_.find((f) => f.type === "ack")')
        assert ack["id"] == "w-1"
        three = await page.wait_for(
            '((m) => m.length >= 3 && m)(window.frames_.filter((f) => f.type === "message"))'
        )
        assert [f["payload"] for f in three] == [
            {"from": "kafka"},
            {"from": "browser"},
            {"from": "websocket"},
        ]


async def test_a_page_on_another_origin_is_refused(
    tmp_path: Path, start_gateway: Start, topic: str, page_origin: str, page: Page
) -> None:
    spec = write_spec(tmp_path, channel_spec(topic))
    async with start_gateway([spec]) as gw:
        await page.goto(f"{page_origin}/?gw={gw.url}/{topic}")
        assert await page.wait_for("window.errors")
        published = await page.evaluate('window.publish({"from": "browser"})')
        assert "failed" in published
        assert await page.evaluate("window.events.length") == 0
        assert await page.evaluate("window.frames_.length") == 0
