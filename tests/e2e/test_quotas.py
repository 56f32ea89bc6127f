"""Plans and quotas on real sockets: memory counters, and Redis counters shared by two gateway
processes, with Redis paused (slow) and then killed (down) mid-test."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import ClientSession
from grpc import aio

from connectors.entrypoints.grpc_api import gateway_pb2 as pb
from connectors.entrypoints.grpc_api import gateway_pb2_grpc as pb_grpc
from mesh.broker import EmbeddedKafka, free_port
from mesh.config import (
    AuthConfig,
    KeysConfig,
    LimitConfig,
    PlanConfig,
    QuotaConfig,
    Secret,
    SseConfig,
)
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.helpers import mesh_process, wait_ready


def spec(tmp_path: Path, topic: str) -> Path:
    return write_spec(tmp_path, channel_spec(topic))


async def test_a_token_bucket_admits_its_burst_and_answers_429_with_the_ietf_fields(
    tmp_path: Path, start_gateway: Start, topic: str, http: ClientSession
) -> None:
    plans = {"anonymous": PlanConfig(limits=[LimitConfig(requests=3, per="minute")])}
    quotas = QuotaConfig(anonymous_plan="anonymous")
    async with start_gateway([spec(tmp_path, topic)], plans=plans, quotas=quotas) as gw:
        answers = [await http.post(f"{gw.url}/{topic}", json={"n": n}) for n in range(4)]
    assert [a.status for a in answers] == [201, 201, 201, 429]
    assert answers[0].headers["RateLimit-Policy"] == '"requests-60s";q=3;w=60'
    assert answers[2].headers["RateLimit"].startswith('"requests-60s";r=0;t=')
    refused = answers[3]
    assert (await refused.json())["code"] == "quota-exceeded"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit"].startswith('"requests-60s";r=0;t=')


async def test_a_message_quota_is_exact_at_its_boundary_for_an_api_keys_plan(
    tmp_path: Path, start_gateway: Start, topic: str, http: ClientSession
) -> None:
    os.environ["MESH_TEST_KEY_SECRET"] = "s"
    text = (
        channel_spec(topic)
        + """components:
  securitySchemes:
    key: {type: httpApiKey, name: X-API-Key, in: header}
"""
    )
    text = text.replace(
        "  op_receive:\n    action: receive\n    channel: {$ref: '#/channels/c'}",
        "  op_receive:\n    action: receive\n    channel: {$ref: '#/channels/c'}\n"
        "    security: [{$ref: '#/components/securitySchemes/key'}]",
    )
    auth = AuthConfig(
        keys=KeysConfig(file=tmp_path / "k.json", secret=Secret(env="MESH_TEST_KEY_SECRET"))
    )
    plans = {
        "batchy": PlanConfig(limits=[LimitConfig(messages=5, per="hour", algorithm="fixed_window")])
    }
    async with start_gateway([write_spec(tmp_path, text)], auth=auth, plans=plans) as gw:
        key = gw.state.auth.keys.issue("p", plan="batchy").key  # type: ignore[attr-defined]
        headers = {"X-API-Key": key, "Content-Type": "application/vnd.mesh.batch+json"}
        url = f"{gw.url}/{topic}"
        three = await http.post(url, data=json.dumps([{"payload": {}}] * 3), headers=headers)
        two = await http.post(url, data=json.dumps([{"payload": {}}] * 2), headers=headers)
        one = await http.post(url, json={}, headers={"X-API-Key": key})
    assert (three.status, two.status) == (200, 200)
    assert (one.status, (await one.json())["code"]) == (429, "quota-exceeded")


async def test_concurrent_streams_are_capped_per_consumer(
    tmp_path: Path, start_gateway: Start, topic: str, http: ClientSession
) -> None:
    plans = {"anonymous": PlanConfig(max_streams=1)}
    quotas = QuotaConfig(anonymous_plan="anonymous")
    accept = {"Accept": "text/event-stream"}
    sse = SseConfig(heartbeat_seconds=0.2)  # a stream notices its client left when it writes
    async with start_gateway([spec(tmp_path, topic)], plans=plans, quotas=quotas, sse=sse) as gw:
        url = f"{gw.url}/{topic}"
        first = await http.get(url, headers=accept)
        second = await http.get(url, headers=accept)
        first.close()
        await asyncio.sleep(0.6)
        third = await http.get(url, headers=accept)
        third_status = third.status
        third.close()
        async with aio.insecure_channel(f"127.0.0.1:{gw.grpc_port}") as channel:
            stub: Any = pb_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
            held = await http.get(url, headers=accept)
            call = stub.Subscribe(pb.SubscribeRequest(channel=f"/{topic}"))
            with pytest.raises(aio.AioRpcError) as refused:
                await call.read()
            held.close()
    assert (first.status, second.status, third_status) == (200, 429, 200)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.fixture
def redis_server() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout:
            break
        time.sleep(0.05)
    yield port, process
    process.kill()
    process.wait()


SHARED_PLAN = {"limits": [{"requests": 50, "per": "hour", "algorithm": "fixed_window"}]}


def gateway_process(
    tmp_path: Path,
    name: str,
    bootstrap: str,
    topic: str,
    redis_port: int,
    fail: str,
    plan: dict[str, Any] = SHARED_PLAN,
) -> tuple[subprocess.Popen[bytes], str]:
    settings = {
        "specs": [{"path": str(spec(tmp_path, topic))}],
        "servers": {"*": {"host": bootstrap, "protocol": "kafka"}},
        "plans": {"shared": plan},
        "quotas": {
            "store": "redis",
            "redis_url": f"redis://127.0.0.1:{redis_port}/0",
            "anonymous_plan": "shared",
            "timeout_ms": 100,
            "fail": fail,
        },
    }
    return mesh_process(tmp_path / f"{name}.json", settings)


@pytest.mark.parametrize("fail", ["open", "closed"])
async def test_two_gateway_processes_share_redis_counters_and_follow_the_failure_choice(
    tmp_path: Path,
    kafka: EmbeddedKafka,
    topic: str,
    http: ClientSession,
    redis_server: tuple[int, subprocess.Popen[bytes]],
    fail: str,
) -> None:
    redis_port, redis = redis_server
    gateways = [
        gateway_process(tmp_path, n, kafka.bootstrap, topic, redis_port, fail) for n in "ab"
    ]
    try:
        for _, url in gateways:
            await wait_ready(http, url)
        answers = await asyncio.gather(
            *(http.post(f"{gateways[n % 2][1]}/{topic}", json={"n": n}) for n in range(120))
        )
        admitted = sum(a.status == 201 for a in answers)
        redis.send_signal(signal.SIGSTOP)  # slow: Redis takes the request and never answers
        try:
            started = time.monotonic()
            slow = await http.post(f"{gateways[1][1]}/{topic}", json={})
            slow_took = time.monotonic() - started
        finally:
            redis.send_signal(signal.SIGCONT)
        redis.kill()  # down
        redis.wait()
        after = await http.post(f"{gateways[0][1]}/{topic}", json={})
    finally:
        for process, _ in gateways:
            process.terminate()
            process.wait(10)
    assert 50 <= admitted <= 52  # within 5% of the limit across both processes
    assert {a.status for a in answers} == {201, 429}
    assert slow_took < 2  # the 100 ms timeout, not a hang
    if fail == "open":
        assert (slow.status, after.status) == (201, 201)
    else:
        assert (slow.status, (await slow.json())["code"]) == (503, "quota-unavailable")
        assert (after.status, (await after.json())["code"]) == (503, "quota-unavailable")


@pytest.mark.parametrize("trusted", [False, True])
async def test_forwarded_addresses_count_only_from_trusted_proxies(
    tmp_path: Path, start_gateway: Start, topic: str, http: ClientSession, trusted: bool
) -> None:
    plans = {"anonymous": PlanConfig(limits=[LimitConfig(requests=1, per="minute")])}
    quotas = QuotaConfig(anonymous_plan="anonymous")
    proxies = ["127.0.0.1"] if trusted else []
    async with start_gateway(
        [spec(tmp_path, topic)], plans=plans, quotas=quotas, trusted_proxies=proxies
    ) as gw:
        url = f"{gw.url}/{topic}"
        first = await http.post(url, json={}, headers={"X-Forwarded-For": "10.0.0.1"})
        second = await http.post(url, json={}, headers={"X-Forwarded-For": "10.0.0.2"})
        # a client's own forged entry is left of the hop the trusted proxy added
        forged = await http.post(url, json={}, headers={"X-Forwarded-For": "10.0.0.9, 10.0.0.2"})
    assert first.status == 201
    assert second.status == (201 if trusted else 429)
    assert forged.status == 429


async def test_a_delivery_quota_ends_streams_at_the_cursor_before_what_it_refused(
    tmp_path: Path, start_gateway: Start, topic: str, http: ClientSession
) -> None:
    limit = LimitConfig(delivered_messages=3, per="hour", algorithm="fixed_window")
    plans = {"anonymous": PlanConfig(limits=[limit])}
    quotas = QuotaConfig(anonymous_plan="anonymous")
    async with start_gateway([spec(tmp_path, topic)], plans=plans, quotas=quotas) as gw:
        url = f"{gw.url}/{topic}"
        for n in range(5):
            await http.post(url, json={"n": n})
        polled = await http.get(url, params={"from": "earliest", "limit": "3"})
        first = await polled.json()
        again = await http.get(url, params={"cursor": first["cursor"], "limit": "3"})
        stream = await http.get(
            url,
            params={"cursor": first["cursor"]},
            headers={"Accept": "text/event-stream"},
        )
        ended = await asyncio.wait_for(stream.text(), 10)
    assert len(first["messages"]) == 3  # the topic's partitions interleave; three of five
    assert (again.status, (await again.json())["code"]) == (429, "quota-exceeded")
    assert "event: mesh.error" in ended
    assert '"code":"quota-exceeded"' in ended
    assert f"id: {first['cursor']}" in ended  # resume there later: nothing was skipped


async def test_a_stream_cap_holds_across_gateway_processes_sharing_redis(
    tmp_path: Path,
    kafka: EmbeddedKafka,
    topic: str,
    http: ClientSession,
    redis_server: tuple[int, subprocess.Popen[bytes]],
) -> None:
    redis_port, _ = redis_server
    plan = {"max_streams": 1}
    gateways = [
        gateway_process(tmp_path, n, kafka.bootstrap, topic, redis_port, "closed", plan)
        for n in "ab"
    ]
    accept = {"Accept": "text/event-stream"}
    try:
        for _, url in gateways:
            await wait_ready(http, url)
        first = await http.get(f"{gateways[0][1]}/{topic}", headers=accept)
        second = await http.get(f"{gateways[1][1]}/{topic}", headers=accept)
        first_status, second_status = first.status, second.status
        first.close()
    finally:
        for process, _ in gateways:
            process.terminate()
            process.wait(10)
    assert (first_status, second_status) == (200, 429)
