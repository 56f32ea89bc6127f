"""OpenAPI documents compiled into operations, and MQTT bindings into endpoint settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.config import GatewayConfig, SpecEntry
from mesh.core.errors import InvalidParameter
from mesh.core.proxy import Location
from mesh.specs.compile import Compiled, compile_gateway
from mesh.specs.loader import load_document
from mesh.specs.problems import SpecError
from tests.conftest import EXAMPLES, channel_spec, write_spec

PROTOCOLS = frozenset({"kafka", "mqtt"})


def compile_specs(*entries: SpecEntry) -> Compiled:
    documents = [(load_document(e.path), e) for e in entries]
    return compile_gateway(documents, GatewayConfig(specs=list(entries)), PROTOCOLS)


def openapi(paths: str, servers: str = "servers: [{url: 'http://up.internal:8080/v1'}]") -> str:
    return f"openapi: 3.1.0\ninfo: {{title: T, version: 1.0.0}}\n{servers}\npaths:\n{paths}"


def test_servers_of_the_operation_replace_the_path_items_and_the_documents(
    tmp_path: Path,
) -> None:
    text = openapi(
        "  /a:\n    get: {}\n"
        "  /b:\n    servers: [{url: 'http://b.internal'}, {url: 'http://b2.internal'}]\n"
        "    get: {}\n    post: {servers: [{url: 'https://c.internal'}]}\n"
    )
    compiled = compile_specs(SpecEntry(path=write_spec(tmp_path, text)))
    upstream = {f"{o.method} {o.path.text}": o.upstream for o in compiled.operations.operations}
    hosts = {name: s.hosts for name, s in compiled.upstreams.items()}
    assert {k: hosts[v] for k, v in upstream.items() if v} == {
        "GET /a": ("http://up.internal:8080/v1",),
        "GET /b": ("http://b.internal", "http://b2.internal"),
        "POST /b": ("https://c.internal",),
    }


def test_an_operation_without_an_http_server_is_skipped_with_a_warning(tmp_path: Path) -> None:
    text = openapi("  /a:\n    get: {}\n", servers="servers: [{url: 'ftp://x'}]")
    compiled = compile_specs(SpecEntry(path=write_spec(tmp_path, text)))
    assert compiled.operations.operations == ()
    assert any("no http(s) server" in w for w in compiled.warnings)


def test_config_upstreams_replace_the_documents_servers(tmp_path: Path) -> None:
    path = write_spec(tmp_path, openapi("  /a:\n    get: {}\n"))
    compiled = compile_specs(SpecEntry(path=path, upstreams=["http://127.0.0.1:9"]))
    assert [s.hosts for s in compiled.upstreams.values()] == [("http://127.0.0.1:9",)]


def test_parameters_merge_and_are_read_by_their_schema_type(tmp_path: Path) -> None:
    text = openapi(
        "  /items/{id}:\n"
        "    parameters:\n"
        "      - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}\n"
        "      - {name: X-Tenant, in: header, schema: {type: string}}\n"
        "    get:\n"
        "      parameters:\n"
        "        - {name: X-Tenant, in: header, required: true, schema: {type: string}}\n"
        "        - {name: full, in: query, schema: {type: boolean}}\n"
    )
    (operation,) = compile_specs(SpecEntry(path=write_spec(tmp_path, text))).operations.operations
    assert {(p.name, p.location, p.required) for p in operation.parameters} == {
        ("id", Location.PATH, True),
        ("x-tenant", Location.HEADER, True),
        ("full", Location.QUERY, False),
    }
    operation.check({"id": "3"}, {"full": "true"}, {"x-tenant": "a"}, {})
    for values, query in (({"id": "0"}, {}), ({"id": "x"}, {}), ({"id": "1"}, {"full": "yes"})):
        with pytest.raises(InvalidParameter):
            operation.check(values, query, {"x-tenant": "a"}, {})


def test_an_operation_may_not_collide_with_a_channel(tmp_path: Path) -> None:
    channel = write_spec(tmp_path, channel_spec("orders"), "events.yaml")
    api = write_spec(tmp_path, openapi("  /orders:\n    get: {}\n"), "api.yaml")
    with pytest.raises(SpecError, match="collides with the channel"):
        compile_specs(SpecEntry(path=channel), SpecEntry(path=api))


def test_a_linked_channel_must_exist_and_get_every_parameter(tmp_path: Path) -> None:
    channel = write_spec(
        tmp_path,
        channel_spec("orders.{region}", extra_channel="    parameters:\n      region: {}"),
        "events.yaml",
    )
    missing = openapi("  /o:\n    post: {x-mesh: {channel: /nothing}}\n", servers="")
    partial = openapi("  /o:\n    post: {x-mesh: {channel: '/orders.{region}'}}\n", servers="")
    for text in (missing, partial):
        api = write_spec(tmp_path, text, "api.yaml")
        with pytest.raises(SpecError, match="x-mesh/channel"):
            compile_specs(SpecEntry(path=channel), SpecEntry(path=api))


def test_the_examples_link_the_fleet_api_to_the_mqtt_channels() -> None:
    compiled = compile_specs(
        SpecEntry(path=EXAMPLES / "devices.yaml"), SpecEntry(path=EXAMPLES / "public.yaml")
    )
    links = {o.path.text: o.channel and o.channel.text for o in compiled.operations.operations}
    assert links == {
        "/api/devices/{deviceId}/commands": "/iot/devices/{deviceId}/commands",
        "/api/devices/{deviceId}/telemetry": "/iot/devices/{deviceId}/telemetry",
    }
    (broker,) = compiled.endpoints.values()
    assert (broker.protocol, broker.options["binding"]["clientId"]) == ("mqtt", "mesh-devices")
    qos = {r.path.text: r.bindings.get("qos") for r in compiled.routes.routes}
    assert qos == {"/iot/devices/{deviceId}/telemetry": 1, "/iot/devices/{deviceId}/commands": 0}
