"""The ``mesh`` command as a user runs it: validate, schema, run and dev, as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import ClientSession

from mesh.broker import EmbeddedKafka, free_port
from mesh.cli import main
from mesh.schemas import json_schema
from tests.conftest import EXAMPLES, ROOT, SHARED, channel_spec, write_spec

CORPUS = sorted((SHARED / "corpus" / "asyncapi").glob("*/*.yml"))


def test_validate_accepts_the_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *map(str, CORPUS)]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok") == len(CORPUS)
    assert "(warning)" in out  # the two kraken examples carry example warnings


def test_validate_reports_every_problem_as_file_pointer_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_spec(tmp_path, "asyncapi: 3.0.0\ninfo: {title: T}\nchannels: {c: {bogus: 1}}\n")
    assert main(["validate", str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == [
        f"{bad}: /channels/c/bogus: unknown field 'bogus'",
        f"{bad}: /info/version: required field is missing",
    ]


@pytest.mark.parametrize("which", ["config", "x-mesh"])
def test_published_json_schemas_are_current(which: str) -> None:
    published = json.loads(
        (
            ROOT / "docs" / "schemas" / f"{which.replace('config', 'gateway-config')}.schema.json"
        ).read_text()
    )
    assert published == json_schema(which)


@asynccontextmanager
async def process(*args: str, port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mesh",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        await _ready(port)
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 15)


async def _ready(port: int) -> None:
    async with ClientSession() as http:
        for _ in range(150):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the gateway did not become ready")


async def test_mesh_run_serves_a_spec_and_stops_cleanly(
    tmp_path: Path, kafka: EmbeddedKafka, topic: str
) -> None:
    spec = write_spec(tmp_path, channel_spec(topic))
    config = tmp_path / "mesh.yaml"
    port = free_port()
    config.write_text(
        f"listen: {{port: {port}}}\ngrpc: {{port: 0}}\n"
        f"servers:\n  main: {{host: '{kafka.bootstrap}'}}\n"
        f"specs:\n  - path: {spec.name}\n    base_path: /v1\n"
    )
    async with process("run", "--config", str(config), port=port) as proc:
        async with ClientSession() as http:
            response = await http.post(f"http://127.0.0.1:{port}/v1/{topic}", json={"a": 1})
            assert response.status == 201
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0


async def test_mesh_dev_starts_its_own_broker_and_serves_the_examples() -> None:
    port = free_port()
    origin = ("--allow-origin", "http://app.example")
    async with process("dev", "--port", str(port), "--grpc-port", "0", *origin, port=port) as proc:
        async with ClientSession() as http:
            url = f"http://127.0.0.1:{port}/shop/orders.placed"
            cors = await http.get(url, headers={"Origin": "http://app.example"})
            assert cors.headers["Access-Control-Allow-Origin"] == "http://app.example"
            order = {
                "orderId": "o-1",
                "customerId": "c-1",
                "total": 5,
                "items": [{"sku": "s", "quantity": 1}],
            }
            assert (await http.post(url, json=order)).status == 201
            page = await (
                await http.get(f"{url}?from=earliest", headers={"Accept": "application/json"})
            ).json()
            assert [m["payload"] for m in page["messages"]] == [order]
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    assert EXAMPLES.is_dir()


def test_run_without_documents_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "no documents to serve" in capsys.readouterr().err


def test_run_with_a_broken_document_lists_its_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_spec(tmp_path, "asyncapi: 3.0.0\ninfo: {title: T, version: '1'}\nfoo: 1\n")
    assert main(["run", "--spec", str(bad)]) == 2
    assert f"{bad}: /foo: unknown field 'foo'" in capsys.readouterr().err


def test_mesh_keys_issues_lists_and_revokes_keys_in_the_configured_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "secret").write_text("s3cret\n")
    config = write_spec(
        tmp_path,
        json.dumps(
            {
                "auth": {
                    "keys": {
                        "file": str(tmp_path / "keys.json"),
                        "secret": {"file": str(tmp_path / "secret")},
                    }
                }
            }
        ),
        "mesh.json",
    )
    base = ["keys", "--config", str(config)]
    assert main([*base, "create", "partner", "--scope", "orders:write", "--plan", "gold"]) == 0
    issued = json.loads(capsys.readouterr().out)
    assert issued["key"].startswith(f"mk_{issued['id']}_")
    assert main([*base, "list"]) == 0
    assert capsys.readouterr().out.split() == [issued["id"], "active", "partner", "orders:write"]
    assert main([*base, "revoke", issued["id"]]) == 0
    capsys.readouterr()
    assert main([*base, "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert issued["key"] not in (tmp_path / "keys.json").read_text()
    assert main([*base, "revoke", "0000"]) == 2
