"""Reload swaps the route table whole; streams on unchanged routes keep going."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import ClientSession

from mesh.specs.problems import SpecError
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.helpers import next_events


def two_channels(topic: str) -> str:
    return f"""asyncapi: 3.0.0
info: {{title: Test, version: 1.0.0}}
servers:
  main: {{host: 'localhost:9092', protocol: kafka}}
channels:
  c: {{address: '{topic}'}}
  n: {{address: '{topic}-new'}}
operations:
  send_c: {{action: send, channel: {{$ref: '#/channels/c'}}}}
  receive_c: {{action: receive, channel: {{$ref: '#/channels/c'}}}}
  receive_n: {{action: receive, channel: {{$ref: '#/channels/n'}}}}
"""


async def test_reload_adds_routes_and_keeps_streams(
    tmp_path: Path, start_gateway: Start, http: ClientSession, topic: str
) -> None:
    spec = write_spec(tmp_path, channel_spec(topic))
    async with start_gateway([spec]) as gw:
        assert (await http.post(f"{gw.url}/{topic}-new", json={})).status == 404
        async with http.get(f"{gw.url}/{topic}", headers={"Accept": "text/event-stream"}) as stream:
            write_spec(tmp_path, two_channels(topic))
            compiled = gw.reload()
            assert len(compiled.routes.routes) == 2
            assert (await http.post(f"{gw.url}/{topic}-new", json={"n": 1})).status == 201
            assert (await http.post(f"{gw.url}/{topic}", json={"n": 2})).status == 201
            (event,) = await next_events(stream, 1)
            assert json.loads(event.text) == {"n": 2}


async def test_a_broken_document_keeps_the_running_routes(
    tmp_path: Path, start_gateway: Start, http: ClientSession, topic: str
) -> None:
    spec = write_spec(tmp_path, channel_spec(topic))
    async with start_gateway([spec]) as gw:
        spec.write_text("asyncapi: 3.0.0\n")
        with pytest.raises(SpecError):
            gw.reload()
        assert (await http.post(f"{gw.url}/{topic}", json={})).status == 201
