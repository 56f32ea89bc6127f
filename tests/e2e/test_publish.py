"""REST publish through the gateway to a real Kafka broker, read back with plain aiokafka."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession

from mesh.broker import EmbeddedKafka
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.helpers import consume

ORDER = """{type: object, required: [orderId, total], properties: {orderId: {type: string},
      total: {type: number, minimum: 0}}}"""
KEYED = "    x-mesh: {key: {field: /orderId}, headers: [x-request-id]}"


def spec(tmp_path: Path, address: str, **kwargs: Any) -> Path:
    return write_spec(tmp_path, channel_spec(address, payload=ORDER, extra_channel=KEYED, **kwargs))


async def test_publish_is_acked_and_lands_in_kafka(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        response = await http.post(
            f"{gw.url}/{topic}",
            json={"orderId": "o-1", "total": 3},
            headers={"X-Request-Id": "r-9", "Authorization": "Bearer secret", "Cookie": "a=b"},
        )
        assert response.status == 201
        receipt = await response.json()
    (record,) = await consume(kafka.bootstrap, topic, 1)
    assert (record.partition, record.offset) == (receipt["partition"], receipt["offset"])
    assert receipt["cursor"].startswith("k1.")
    assert json.loads(record.value) == {"orderId": "o-1", "total": 3}
    assert record.key == b"o-1"
    assert dict(record.headers) == {"x-request-id": b"r-9", "content-type": b"application/json"}


async def test_explicit_key_wins_over_the_payload_field(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        by_header = await http.post(
            f"{gw.url}/{topic}", json={"orderId": "o", "total": 1}, headers={"Message-Key": "h"}
        )
        by_query = await http.post(f"{gw.url}/{topic}?key=q", json={"orderId": "o", "total": 1})
        assert (by_header.status, by_query.status) == (201, 201)
    keys = sorted(r.key for r in await consume(kafka.bootstrap, topic, 2))
    assert keys == [b"h", b"q"]


async def test_batch_publish_reports_each_message(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    batch = "application/vnd.mesh.batch+json"
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        good = [
            {"payload": {"orderId": f"o-{i}", "total": i}, "headers": {"x-n": str(i)}}
            for i in range(3)
        ]
        response = await http.post(
            f"{gw.url}/{topic}", data=json.dumps(good), headers={"Content-Type": batch}
        )
        assert response.status == 200
        results = (await response.json())["results"]
        assert [r["status"] for r in results] == [201, 201, 201]

        mixed = [
            {"payload": {"orderId": "ok", "total": 1}},
            {"payload": {"total": -1}},
            {"nope": 1},
        ]
        response = await http.post(
            f"{gw.url}/{topic}", data=json.dumps(mixed), headers={"Content-Type": batch}
        )
        assert response.status == 207
        results = (await response.json())["results"]
        assert [r["status"] for r in results] == [201, 400, 400]
        assert [r.get("code") for r in results[1:]] == ["schema-violation", "invalid-request"]
    records = await consume(kafka.bootstrap, topic, 4)
    assert sorted(json.loads(r.value)["orderId"] for r in records) == ["o-0", "o-1", "o-2", "ok"]
    assert {r.key for r in records} == {b"o-0", b"o-1", b"o-2", b"ok"}


async def test_idempotency_key_returns_the_first_answer(
    tmp_path: Path, start_gateway: Start, http: ClientSession, kafka: EmbeddedKafka, topic: str
) -> None:
    body = {"orderId": "o-1", "total": 1}
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        url = f"{gw.url}/{topic}"
        first = await http.post(url, json=body, headers={"Idempotency-Key": "abc"})
        again = await http.post(url, json=body, headers={"Idempotency-Key": "abc"})
        assert (first.status, again.status) == (201, 201)
        assert await first.json() == await again.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        other = await http.post(url, json={**body, "total": 2}, headers={"Idempotency-Key": "abc"})
        assert other.status == 422
        assert (await other.json())["code"] == "idempotency-key-reused"
        fresh = await http.post(url, json=body, headers={"Idempotency-Key": "def"})
        assert fresh.status == 201
    await asyncio.sleep(0.3)  # a duplicate, had there been one, would be in the log by now
    assert len(await consume(kafka.bootstrap, topic, 2)) == 2


async def test_openapi_describes_every_route(
    tmp_path: Path, start_gateway: Start, http: ClientSession
) -> None:
    from mesh.specs.loader import load_document

    path = write_spec(
        tmp_path,
        channel_spec(
            "orders.{region}",
            payload=ORDER,
            extra_channel="    parameters: {region: {enum: [eu, us]}}",
        ),
        "p.yaml",
    )
    async with start_gateway([path]) as gw:
        document = await (await http.get(f"{gw.url}/openapi.json")).json()
    item = document["paths"]["/orders.{region}"]
    assert item["parameters"][0]["schema"] == {"type": "string", "enum": ["eu", "us"]}
    schema = item["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["orderId", "total"]
    assert set(item["get"]["responses"]["200"]["content"]) == {
        "text/event-stream",
        "application/json",
    }
    out = tmp_path / "openapi.json"
    out.write_text(json.dumps(document))
    assert load_document(out).version == "3.1.0"


async def test_health_and_readiness(
    tmp_path: Path, start_gateway: Start, http: ClientSession
) -> None:
    async with start_gateway([spec(tmp_path, "a")]) as gw:
        assert (await http.get(f"{gw.url}/healthz")).status == 200
        ready = await http.get(f"{gw.url}/readyz")
        assert ready.status == 200
        assert (await ready.json())["endpoints"] == ["main"]


async def test_an_address_kafka_cannot_use_is_a_load_error(
    tmp_path: Path, start_gateway: Start
) -> None:
    from mesh.specs.problems import SpecError

    spec = write_spec(tmp_path, channel_spec("user/signed up"))
    with pytest.raises(SpecError) as refused:
        async with start_gateway([spec]):
            pass
    (problem,) = refused.value.problems
    assert (problem.file, problem.pointer) == (str(spec), "/channels/c/address")
    assert "not a valid Kafka topic name" in problem.message
