"""Broker faults: an unreachable broker answers 503 within the deadline, a silent one 504."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from mesh.broker import EmbeddedKafka, free_port
from mesh.config import KafkaConfig, PublishConfig
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.proxy import FaultProxy

DEADLINE = 2.0


@pytest.fixture(scope="module")
def proxied_broker() -> Iterator[EmbeddedKafka]:
    """A broker that advertises the proxy's port, so every client connection goes through it."""
    with EmbeddedKafka(advertised_port=free_port()) as broker:
        yield broker


@pytest.fixture
async def proxy(proxied_broker: EmbeddedKafka) -> AsyncIterator[FaultProxy]:
    fault = FaultProxy(proxied_broker.advertised_port, proxied_broker.port)
    await fault.start()
    yield fault
    await fault.close()


async def publish(http: ClientSession, url: str) -> tuple[int, str, float]:
    started = time.monotonic()
    response = await http.post(url, json={"x": 1})
    body = await response.json()
    return response.status, body.get("code", ""), time.monotonic() - started


async def test_unreachable_broker_gives_503_then_recovers(
    tmp_path: Path,
    start_gateway: Start,
    http: ClientSession,
    proxy: FaultProxy,
    proxied_broker: EmbeddedKafka,
    topic: str,
) -> None:
    config = {
        "publish": PublishConfig(timeout_seconds=DEADLINE),
        "kafka": KafkaConfig(connect_timeout_seconds=1.0),
    }
    spec = write_spec(tmp_path, channel_spec(topic))
    async with start_gateway([spec], bootstrap=proxied_broker.bootstrap, **config) as gw:
        url = f"{gw.url}/{topic}"
        assert (await publish(http, url))[0] == 201
        await proxy.cut()
        status, code, elapsed = await publish(http, url)
        assert (status, code) == (503, "broker-unavailable")
        assert elapsed <= DEADLINE + 0.5
        assert (await http.get(f"{gw.url}/healthz")).status == 200
        await proxy.heal()
        for _ in range(20):
            status, _, _ = await publish(http, url)
            if status == 201:
                break
        assert status == 201


async def test_broker_that_stops_answering_gives_504(
    tmp_path: Path,
    start_gateway: Start,
    http: ClientSession,
    proxy: FaultProxy,
    proxied_broker: EmbeddedKafka,
    topic: str,
) -> None:
    spec = write_spec(tmp_path, channel_spec(topic))
    config = {"publish": PublishConfig(timeout_seconds=DEADLINE)}
    async with start_gateway([spec], bootstrap=proxied_broker.bootstrap, **config) as gw:
        url = f"{gw.url}/{topic}"
        assert (await publish(http, url))[0] == 201
        proxy.stall()
        status, code, elapsed = await publish(http, url)
        assert (status, code) == (504, "outcome-unknown")
        assert DEADLINE - 0.2 <= elapsed <= DEADLINE + 0.5
        key = {"Idempotency-Key": "k"}
        assert (await http.post(url, json={"x": 1}, headers=key)).status == 504
        await proxy.heal()
        retried = await http.post(url, json={"x": 1}, headers=key)
        assert retried.status == 201, "an unknown outcome is not remembered: the retry runs"
        assert "Idempotent-Replayed" not in retried.headers


async def test_gateway_starts_while_the_broker_is_down_and_is_not_ready(
    tmp_path: Path, start_gateway: Start, http: ClientSession, topic: str
) -> None:
    spec = write_spec(tmp_path, channel_spec(topic))
    config = {"kafka": KafkaConfig(connect_timeout_seconds=0.5)}
    async with start_gateway([spec], bootstrap=f"127.0.0.1:{free_port()}", **config) as gw:
        ready = await http.get(f"{gw.url}/readyz")
        assert ready.status == 503
        assert (await ready.json())["endpoints"] == ["main"]
        status, code, _ = await publish(http, f"{gw.url}/{topic}")
        assert (status, code) == (503, "broker-unavailable")
