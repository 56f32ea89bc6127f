"""CORS: no origin is allowed by default; configured origins get preflights and EventSource."""

from __future__ import annotations

from pathlib import Path

from aiohttp import ClientSession

from mesh.config import CorsConfig
from tests.conftest import Start, channel_spec, write_spec

APP = "https://app.example"


async def test_no_origin_is_allowed_by_default(
    tmp_path: Path, start_gateway: Start, http: ClientSession, topic: str
) -> None:
    async with start_gateway([write_spec(tmp_path, channel_spec(topic))]) as gw:
        response = await http.post(f"{gw.url}/{topic}", json={}, headers={"Origin": APP})
        assert response.status == 201
        assert "Access-Control-Allow-Origin" not in response.headers
        preflight = await http.options(
            f"{gw.url}/{topic}",
            headers={"Origin": APP, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status == 403
        assert (await preflight.json())["code"] == "origin-not-allowed"


async def test_allowed_origin_gets_preflight_and_stream_headers(
    tmp_path: Path, start_gateway: Start, http: ClientSession, topic: str
) -> None:
    cors = CorsConfig(allow_origins=[APP])
    async with start_gateway([write_spec(tmp_path, channel_spec(topic))], cors=cors) as gw:
        url = f"{gw.url}/{topic}"
        preflight = await http.options(
            url,
            headers={
                "Origin": APP,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, idempotency-key",
            },
        )
        assert preflight.status == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == APP
        assert preflight.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
        assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
        async with http.get(url, headers={"Origin": APP, "Accept": "text/event-stream"}) as stream:
            assert stream.status == 200
            assert stream.headers["Access-Control-Allow-Origin"] == APP
            assert stream.headers["Vary"] == "Origin"
        problem = await http.get(f"{url}?from=nowhere", headers={"Origin": APP})
        assert problem.status == 400
        assert problem.headers["Access-Control-Allow-Origin"] == APP
        other = await http.get(url, headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
