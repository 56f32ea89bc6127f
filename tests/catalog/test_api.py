"""The catalog's REST API on a running gateway, and mesh catalog push/list."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from aiohttp import ClientSession

from mesh.cli import main
from mesh.config import AuthConfig, CatalogConfig, Secret
from tests.conftest import EXAMPLES, Start, channel_spec, write_spec

ADMIN = {"Authorization": "Bearer catalog-admin"}


async def test_register_list_read_and_move_a_version_through_the_api(
    tmp_path: Path, start_gateway: Start, topic: str, http: ClientSession
) -> None:
    os.environ["MESH_TEST_CATALOG_ADMIN"] = "catalog-admin"
    auth = AuthConfig(admin_token=Secret(env="MESH_TEST_CATALOG_ADMIN"))
    catalog = CatalogConfig(path=tmp_path / "catalog.sqlite", public_read=True)
    spec = write_spec(tmp_path, channel_spec(topic))
    async with start_gateway([spec], auth=auth, catalog=catalog) as gw:
        base = f"{gw.url}/_mesh/catalog/documents"
        text = (EXAMPLES / "orders.yaml").read_text()
        anonymous = await http.post(base, data=text)
        created = await http.post(base, data=text, params={"name": "orders"}, headers=ADMIN)
        again = await http.post(base, data=text, params={"name": "orders"}, headers=ADMIN)
        invalid = await http.post(base, data="asyncapi: 3.0.0\ninfo: {title: T}\n", headers=ADMIN)
        listed = await (await http.get(base)).json()
        version = (await created.json())["version"]
        read = await (await http.get(f"{base}/orders/{version}")).json()
        original = await http.get(f"{base}/orders/{version}", params={"format": "original"})
        moved = await http.put(
            f"{base}/orders/{version}/state", json={"state": "active"}, headers=ADMIN
        )
        unmoved = await http.put(f"{base}/orders/{version}/state", json={"state": "active"})
    assert anonymous.status == 401
    assert created.status == 201
    assert (again.status, (await again.json())["code"]) == (409, "catalog-conflict")
    problem = await invalid.json()
    assert (invalid.status, problem["code"]) == (400, "invalid-document")
    assert {p["pointer"] for p in problem["problems"]} >= {"/info/version"}
    assert [d["name"] for d in listed["documents"]] == ["orders"]
    assert read["document"]["info"]["title"] == "Orders"
    assert await original.text() == text
    assert (await moved.json())["state"] == "active"
    assert unmoved.status == 401


def test_mesh_catalog_push_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_spec(
        tmp_path, json.dumps({"catalog": {"path": str(tmp_path / "c.sqlite")}}), "mesh.json"
    )
    base = ["catalog", "--config", str(config)]
    assert main([*base, "push", str(EXAMPLES / "devices.yaml"), "--state", "active"]) == 0
    pushed = json.loads(capsys.readouterr().out)
    assert (pushed["name"], pushed["state"]) == ("devices", "active")
    assert main([*base, "push", str(EXAMPLES / "devices.yaml")]) == 2  # the same version again
    capsys.readouterr()
    assert main([*base, "list"]) == 0
    assert capsys.readouterr().out.split() == ["devices", "Devices", "1.0.0", "(active)"]


async def test_new_versions_report_breaking_changes_and_may_be_refused(
    tmp_path: Path, start_gateway: Start, topic: str, http: ClientSession
) -> None:
    os.environ["MESH_TEST_CATALOG_ADMIN"] = "catalog-admin"
    auth = AuthConfig(admin_token=Secret(env="MESH_TEST_CATALOG_ADMIN"))
    catalog = CatalogConfig(path=tmp_path / "catalog.sqlite")
    spec = write_spec(tmp_path, channel_spec(topic))
    original = (EXAMPLES / "orders.yaml").read_text()
    narrowed = original.replace("version: 1.0.0", "version: 2.0.0", 1).replace(
        "      required: [orderId, customerId, total, items]",
        "      required: [orderId, customerId, total, items, currency]",
    )
    async with start_gateway([spec], auth=auth, catalog=catalog) as gw:
        base = f"{gw.url}/_mesh/catalog/documents"
        await http.post(base, data=original, params={"name": "orders"}, headers=ADMIN)
        refused = await http.post(
            base, data=narrowed, params={"name": "orders", "refuse_breaking": "true"}, headers=ADMIN
        )
        accepted = await http.post(base, data=narrowed, params={"name": "orders"}, headers=ADMIN)
        as_json = await (
            await http.get(
                f"{base}/orders/diff", params={"from": "1.0.0", "to": "2.0.0"}, headers=ADMIN
            )
        ).json()
        as_text = await (
            await http.get(
                f"{base}/orders/diff",
                params={"from": "1.0.0", "to": "2.0.0"},
                headers={**ADMIN, "Accept": "text/plain"},
            )
        ).text()
    assert (refused.status, (await refused.json())["code"]) == (409, "breaking-change")
    body = await accepted.json()
    assert (accepted.status, body["breaking"]) == (201, True)
    assert [c["kind"] for c in body["changes"]] == ["property-required"]
    assert as_json["breaking"] is True
    assert as_text.startswith("BREAKING /channels/")
    assert "'currency' is now required" in as_text


async def test_a_registered_version_goes_live_and_comes_down_without_a_restart(
    tmp_path: Path, start_gateway: Start, topic: str, http: ClientSession
) -> None:
    os.environ["MESH_TEST_CATALOG_ADMIN"] = "catalog-admin"
    auth = AuthConfig(admin_token=Secret(env="MESH_TEST_CATALOG_ADMIN"))
    catalog = CatalogConfig(path=tmp_path / "catalog.sqlite")
    served = write_spec(tmp_path, channel_spec(topic), "served.yaml")
    extra = channel_spec(topic + "-live").replace("info: {title: Test,", "info: {title: Live,")
    async with start_gateway([served], auth=auth, catalog=catalog) as gw:
        base = f"{gw.url}/_mesh/catalog/documents"
        stream = await http.get(f"{gw.url}/{topic}", headers={"Accept": "text/event-stream"})
        await http.post(base, data=extra, params={"name": "live"}, headers=ADMIN)
        before = await http.post(f"{gw.url}/{topic}-live", json={})
        live = await http.put(f"{base}/live/1.0.0/live", headers=ADMIN)
        during = await http.post(f"{gw.url}/{topic}-live", json={})
        await http.post(f"{gw.url}/{topic}", json={"still": "streaming"})
        event = await asyncio.wait_for(stream.content.readuntil(b"}\n\n"), 10)
        down = await http.delete(f"{base}/live/live", headers=ADMIN)
        after = await http.post(f"{gw.url}/{topic}-live", json={})
        stream.close()
    assert (before.status, live.status, during.status) == (404, 200, 201)
    assert b'{"still": "streaming"}' in event  # the stream opened before the swap goes on
    assert (down.status, after.status) == (200, 404)
