"""Long poll: a page of messages after a cursor, waiting for the first one when asked to."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiohttp import ClientSession

from mesh.broker import EmbeddedKafka
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.helpers import produce

JSON = {"Accept": "application/json"}


async def test_poll_pages_through_with_the_cursor(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    await produce(kafka.bootstrap, topic, [b'{"n":1}', b'{"n":2}', b'{"n":3}'], key=b"k")
    async with start_gateway([write_spec(tmp_path, channel_spec(topic))]) as gw:
        url = f"{gw.url}/{topic}"
        first = await (await http.get(f"{url}?from=earliest&limit=2", headers=JSON)).json()
        assert [m["payload"] for m in first["messages"]] == [{"n": 1}, {"n": 2}]
        assert first["messages"][0]["name"] == "thing"
        assert first["messages"][0]["encoding"] == "json"
        second = await (await http.get(f"{url}?cursor={first['cursor']}", headers=JSON)).json()
        assert [m["payload"] for m in second["messages"]] == [{"n": 3}]
        third = await (await http.get(f"{url}?cursor={second['cursor']}", headers=JSON)).json()
        assert third["messages"] == []
        assert third["cursor"] == second["cursor"]


async def test_long_poll_wakes_on_publish(
    tmp_path: Path, start_gateway: Start, http: ClientSession, topic: str
) -> None:
    async with start_gateway([write_spec(tmp_path, channel_spec(topic))]) as gw:
        url = f"{gw.url}/{topic}"
        empty = await (await http.get(url, headers=JSON)).json()
        started = time.monotonic()
        waiting = asyncio.create_task(
            http.get(f"{url}?wait=20&cursor={empty['cursor']}", headers=JSON)
        )
        await asyncio.sleep(1.0)
        assert not waiting.done()
        assert (await http.post(url, json={"hello": 1})).status == 201
        page = await (await waiting).json()
        elapsed = time.monotonic() - started
    assert [m["payload"] for m in page["messages"]] == [{"hello": 1}]
    assert elapsed < 5


async def test_poll_without_wait_answers_at_once(
    tmp_path: Path, start_gateway: Start, http: ClientSession, topic: str
) -> None:
    async with start_gateway([write_spec(tmp_path, channel_spec(topic))]) as gw:
        started = time.monotonic()
        page = await (await http.get(f"{gw.url}/{topic}", headers=JSON)).json()
    assert page["messages"] == []
    assert time.monotonic() - started < 2
