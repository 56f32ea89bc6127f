"""The catalog's browse page in headless Chromium: load, search, open a document, watch a
channel and see a live message arrive, publish a test message; a screenshot is kept."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from aiohttp import ClientSession

from mesh.config import AuthConfig, CatalogConfig, Secret
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.browser import browser_page

ADMIN = {"Authorization": "Bearer catalog-admin"}


async def test_browse_search_open_and_watch_a_channel_live(
    tmp_path: Path, start_gateway: Start, topic: str, http: ClientSession
) -> None:
    os.environ["MESH_TEST_CATALOG_ADMIN"] = "catalog-admin"
    text = channel_spec(topic).replace("info: {title: Test,", "info: {title: Shipments,")
    spec = write_spec(tmp_path, text)
    auth = AuthConfig(admin_token=Secret(env="MESH_TEST_CATALOG_ADMIN"))
    catalog = CatalogConfig(path=tmp_path / "catalog.sqlite", public_read=True)
    async with (
        start_gateway([spec], auth=auth, catalog=catalog) as gw,
        browser_page() as page,
    ):
        registered = await http.post(
            f"{gw.url}/_mesh/catalog/documents",
            data=text,
            params={"name": "shipments"},
            headers=ADMIN,
        )
        assert registered.status == 201
        await http.post(
            f"{gw.url}/_mesh/catalog/documents",
            data=text.replace("Shipments", "Invoices").replace(topic, topic + "x"),
            params={"name": "invoices"},
            headers=ADMIN,
        )
        await page.goto(f"{gw.url}/_mesh/catalog")
        assert await page.wait_for("document.getElementById('count')?.textContent") == (
            "2 document(s)"
        )
        await page.evaluate(
            "const s = document.getElementById('search'); s.value = 'shipments';"
            " s.dispatchEvent(new Event('input'))"
        )
        await page.wait_for("document.getElementById('count')?.textContent === '1 document(s)'")
        await page.evaluate("document.querySelector('.result a').click()")
        title = await page.wait_for("document.getElementById('title')?.textContent")
        await page.evaluate("document.querySelector('[data-watch]').click()")
        await page.wait_for("document.querySelector('.live')?.dataset.open === 'yes'")
        await http.post(f"{gw.url}/{topic}", json={"n": 42})
        live = await page.wait_for("document.querySelector('.live li')?.textContent")
        await page.evaluate(
            "document.querySelector('textarea').value = '{\"n\": 7}';"
            "[...document.querySelectorAll('button')]"
            ".find(b => b.textContent.startsWith('Publish')).click()"
        )
        published = await page.wait_for(
            "((items) => items.includes('published: 201') && items.includes('{\"n\": 7}')"
            " && items)([...document.querySelectorAll('.live li')].map(l => l.textContent))"
        )
        await page.evaluate("document.querySelector('.channel').scrollIntoView()")
        shot = await page.call("Page.captureScreenshot", format="png")
    (tmp_path / "catalog.png").write_bytes(base64.b64decode(shot["data"]))
    assert title == "Shipments"
    assert live == '{"n": 42}'
    assert '{"n": 7}' in published  # the test message came back on the live stream
    assert (tmp_path / "catalog.png").stat().st_size > 10_000
