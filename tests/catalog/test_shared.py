"""A catalog in PostgreSQL shared by two gateway processes: a registration on one is read by
the other, and a version put live on one is served by both within seconds (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from aiohttp import ClientSession

from mesh.broker import EmbeddedKafka
from tests.conftest import channel_spec, write_spec
from tests.e2e.helpers import mesh_process, wait_ready

ADMIN = {"Authorization": "Bearer catalog-admin"}
SERVER = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def database() -> Iterator[str]:
    name = f"mesh_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield f"{SERVER}/{name}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def gateway(
    tmp_path: Path, name: str, url: str, bootstrap: str, spec: Path
) -> tuple[subprocess.Popen[bytes], str]:
    (tmp_path / name).mkdir()
    settings = {
        "specs": [{"path": str(spec)}],
        "servers": {"*": {"host": bootstrap, "protocol": "kafka"}},
        "auth": {"admin_token": {"env": "MESH_TEST_CATALOG_ADMIN"}},
        "catalog": {"path": str(tmp_path / name / "catalog"), "postgres_url": url},
    }
    return mesh_process(tmp_path / name / "mesh.json", settings)


async def eventually(check: object, seconds: float = 5) -> bool:
    for _ in range(int(seconds * 10)):
        if await check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.1)
    return False


async def test_two_gateways_share_registrations_and_live_versions(
    tmp_path: Path, kafka: EmbeddedKafka, topic: str, http: ClientSession, database: str
) -> None:
    os.environ["MESH_TEST_CATALOG_ADMIN"] = "catalog-admin"
    served = write_spec(tmp_path, channel_spec(topic), "served.yaml")
    extra = channel_spec(topic + "-live").replace("info: {title: Test,", "info: {title: Live,")
    gateways = [gateway(tmp_path, n, database, kafka.bootstrap, served) for n in "ab"]
    try:
        for _, url in gateways:
            await wait_ready(http, url)
        (_, a), (_, b) = gateways
        created = await http.post(
            f"{a}/_mesh/catalog/documents", data=extra, params={"name": "live"}, headers=ADMIN
        )
        seen = await (await http.get(f"{b}/_mesh/catalog/search?q=live", headers=ADMIN)).json()
        live = await http.put(f"{a}/_mesh/catalog/documents/live/1.0.0/live", headers=ADMIN)

        async def served_by_b() -> bool:
            return (await http.post(f"{b}/{topic}-live", json={})).status == 201

        on_b = await eventually(served_by_b)
    finally:
        for process, _ in gateways:
            process.terminate()
            process.wait(10)
    assert created.status == 201
    assert [r["name"] for r in seen["results"]] == ["live"]
    assert live.status == 200
    assert on_b
