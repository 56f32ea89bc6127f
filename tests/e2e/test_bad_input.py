"""Every bad request gets a precise problem response, and the gateway keeps serving."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from mesh.gateway import RunningGateway
from tests.conftest import Start, channel_spec, write_spec

PAYLOAD = "{type: object, required: [n], properties: {n: {type: integer, maximum: 10}}}"


@pytest.fixture
async def gw(tmp_path: Path, start_gateway: Start, topic: str) -> AsyncIterator[RunningGateway]:
    spec = write_spec(
        tmp_path,
        channel_spec(
            topic + ".{region}",
            payload=PAYLOAD,
            extra_channel="    parameters: {region: {enum: [eu, us, 'a b']}}",
        ),
    )
    only_send = write_spec(tmp_path, channel_spec(topic + "-out", actions=("send",)), "out.yaml")
    from mesh.config import LimitsConfig

    async with start_gateway(
        [spec, only_send], limits=LimitsConfig(max_body_bytes=1024)
    ) as gateway:
        yield gateway


async def problem(response_status: int, body: bytes, code: str) -> dict[str, object]:
    document = json.loads(body)
    assert document["code"] == code
    assert document["status"] == response_status
    assert document["type"] == f"/_mesh/problems/{code}"
    assert document["title"]
    return dict(document)


async def check(
    http: ClientSession, method: str, url: str, status: int, code: str, **kw: object
) -> dict[str, object]:
    response = await http.request(method, url, **kw)  # type: ignore[arg-type]
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    return await problem(status, await response.read(), code)


async def still_serving(http: ClientSession, gw: RunningGateway, topic: str) -> None:
    response = await http.post(f"{gw.url}/{topic}.eu", json={"n": 1})
    assert response.status == 201


async def test_unknown_route(gw: RunningGateway, http: ClientSession, topic: str) -> None:
    await check(http, "GET", f"{gw.url}/nowhere", 404, "route-not-found")
    await still_serving(http, gw, topic)


async def test_wrong_method_lists_the_allowed_ones(
    gw: RunningGateway, http: ClientSession, topic: str
) -> None:
    response = await http.delete(f"{gw.url}/{topic}.eu")
    assert response.status == 405
    assert response.headers["Allow"] == "GET, POST, OPTIONS"
    await problem(405, await response.read(), "method-not-allowed")
    await check(http, "POST", f"{gw.url}/{topic}-out", 405, "method-not-allowed", json={})


async def test_body_over_the_limit(gw: RunningGateway, http: ClientSession, topic: str) -> None:
    big = json.dumps({"n": 1, "pad": "x" * 2000})
    await check(
        http,
        "POST",
        f"{gw.url}/{topic}.eu",
        413,
        "payload-too-large",
        data=big,
        headers={"Content-Type": "application/json"},
    )

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 200

    await check(
        http,
        "POST",
        f"{gw.url}/{topic}.eu",
        413,
        "payload-too-large",
        data=chunked(),
        headers={"Content-Type": "application/json"},
    )
    await still_serving(http, gw, topic)


async def test_unsupported_content_type(
    gw: RunningGateway, http: ClientSession, topic: str
) -> None:
    found = await check(
        http,
        "POST",
        f"{gw.url}/{topic}.eu",
        415,
        "unsupported-media-type",
        data=b"n=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert found["accepted"] == ["application/json", "application/vnd.mesh.batch+json"]


@pytest.mark.parametrize("body", [b"{not json", b'{"n": 1', b"\xff\xfe"])
async def test_malformed_json(
    gw: RunningGateway, http: ClientSession, topic: str, body: bytes
) -> None:
    await check(
        http,
        "POST",
        f"{gw.url}/{topic}.eu",
        400,
        "malformed-json",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    await still_serving(http, gw, topic)


async def test_schema_violation_points_at_the_failure(
    gw: RunningGateway, http: ClientSession, topic: str
) -> None:
    found = await check(
        http, "POST", f"{gw.url}/{topic}.eu", 400, "schema-violation", json={"n": 11}
    )
    assert found["errors"] == [
        {"pointer": "/n", "keyword": "maximum", "message": "11 is greater than the maximum of 10"}
    ]


@pytest.mark.parametrize("value", ["mars", "a%20b", "..", "%2B", "%23"])
async def test_parameter_outside_its_rules(
    gw: RunningGateway, http: ClientSession, topic: str, value: str
) -> None:
    await check(http, "POST", f"{gw.url}/{topic}.{value}", 400, "invalid-parameter", json={"n": 1})


async def test_bad_batches(gw: RunningGateway, http: ClientSession, topic: str) -> None:
    url = f"{gw.url}/{topic}.eu"
    headers = {"Content-Type": "application/vnd.mesh.batch+json"}
    await check(http, "POST", url, 400, "invalid-request", data=b"{}", headers=headers)
    await check(http, "POST", url, 400, "invalid-request", data=b"[]", headers=headers)
    await check(http, "POST", url, 400, "malformed-json", data=b"[", headers=headers)


async def test_bad_subscribe_requests(gw: RunningGateway, http: ClientSession, topic: str) -> None:
    url = f"{gw.url}/{topic}.eu"
    await check(http, "GET", url, 406, "not-acceptable", headers={"Accept": "text/html"})
    await check(http, "GET", url + "?from=middle", 400, "invalid-request")
    await check(http, "GET", url + "?limit=0", 400, "invalid-request")
    await check(http, "GET", url + "?wait=abc", 400, "invalid-request")
    await check(http, "GET", url + "?cursor=garbage", 400, "invalid-cursor")
    await check(
        http,
        "GET",
        url,
        400,
        "invalid-cursor",
        headers={"Accept": "text/event-stream", "Last-Event-ID": "k1.bm9wZQ"},
    )
    await still_serving(http, gw, topic)


async def test_problem_types_are_served(gw: RunningGateway, http: ClientSession) -> None:
    listing = await (await http.get(f"{gw.url}/_mesh/problems")).json()
    assert "schema-violation" in {p["code"] for p in listing}
    one = await (await http.get(f"{gw.url}/_mesh/problems/schema-violation")).json()
    assert one["status"] == 400
