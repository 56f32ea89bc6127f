"""Documents + gateway config -> routes: direction rule, overrides, servers, collisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mesh.config import ChannelOverride, GatewayConfig, ServerOverride, SpecEntry
from mesh.core.routes import Action
from mesh.specs.compile import Compiled, compile_gateway
from mesh.specs.loader import load_document
from mesh.specs.problems import SpecError
from tests.conftest import EXAMPLES, SHARED, channel_spec, write_spec

KAFKA = frozenset({"kafka"})


def compile_specs(*entries: SpecEntry, **config: Any) -> Compiled:
    documents = [(load_document(e.path), e) for e in entries]
    return compile_gateway(documents, GatewayConfig(specs=list(entries), **config), KAFKA)


def one(tmp_path: Path, text: str, name: str = "api.yaml", **entry: Any) -> Compiled:
    return compile_specs(SpecEntry(path=write_spec(tmp_path, text, name), **entry))


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        (("send",), {Action.SUBSCRIBE}),
        (("receive",), {Action.PUBLISH}),
        (("send", "receive"), {Action.SUBSCRIBE, Action.PUBLISH}),
    ],
)
def test_direction_rule(tmp_path: Path, operations: tuple[str, ...], expected: set[Action]) -> None:
    (route,) = one(tmp_path, channel_spec("a", actions=operations)).routes.routes
    assert route.actions == expected


def test_x_mesh_on_the_channel_overrides_the_rule(tmp_path: Path) -> None:
    text = channel_spec("a", actions=("send",), extra_channel="    x-mesh: {actions: [publish]}")
    (route,) = one(tmp_path, text).routes.routes
    assert route.actions == {Action.PUBLISH}


def test_gateway_config_overrides_x_mesh(tmp_path: Path) -> None:
    text = channel_spec("a", actions=("send",), extra_channel="    x-mesh: {actions: [publish]}")
    compiled = one(tmp_path, text, channels={"c": ChannelOverride(actions=["subscribe"])})
    assert compiled.routes.routes[0].actions == {Action.SUBSCRIBE}


def test_2_6_publish_and_subscribe_map_to_client_actions() -> None:
    compiled = compile_specs(SpecEntry(path=EXAMPLES / "telemetry.yaml"))
    (route,) = compiled.routes.routes
    assert route.path.text == "/telemetry/sensors.{sensorId}.readings"
    assert route.actions == {Action.PUBLISH, Action.SUBSCRIBE}


def test_base_paths_separate_equal_addresses(tmp_path: Path) -> None:
    a = write_spec(tmp_path, channel_spec("orders"), "a.yaml")
    b = write_spec(tmp_path, channel_spec("orders"), "b.yaml")
    with pytest.raises(SpecError, match="collides with"):
        compile_specs(SpecEntry(path=a), SpecEntry(path=b))
    compiled = compile_specs(SpecEntry(path=a), SpecEntry(path=b, base_path="/b"))
    assert sorted(r.path.text for r in compiled.routes.routes) == ["/b/orders", "/orders"]


def test_template_capturing_a_literal_path_collides(tmp_path: Path) -> None:
    a = write_spec(tmp_path, channel_spec("orders.eu"), "a.yaml")
    b = write_spec(
        tmp_path,
        channel_spec("orders.{region}", extra_channel="    parameters: {region: {}}"),
        "b.yaml",
    )
    with pytest.raises(SpecError, match="collides with"):
        compile_specs(SpecEntry(path=a), SpecEntry(path=b))


@pytest.mark.parametrize("address", ["healthz", "_mesh/x", "openapi.json", "{p}"])
def test_gateway_routes_are_reserved(tmp_path: Path, address: str) -> None:
    extra = "    parameters: {p: {}}" if "{p}" in address else ""
    with pytest.raises(SpecError, match=r"reserved|capture"):
        one(tmp_path, channel_spec(address, extra_channel=extra))


def test_channel_without_a_supported_server_is_skipped(tmp_path: Path) -> None:
    text = (
        channel_spec("a")
        + """  other:
    action: send
    channel: {$ref: '#/channels/ws'}
"""
    )
    text = text.replace(
        "channels:\n", "channels:\n  ws:\n    address: w\n    servers: [{$ref: '#/servers/ws'}]\n"
    ).replace("servers:\n", "servers:\n  ws: {host: 'h', protocol: ws}\n", 1)
    compiled = one(tmp_path, text)
    assert [r.path.text for r in compiled.routes.routes] == ["/a"]
    assert any("skipped: no server" in w for w in compiled.warnings)


def test_document_with_nothing_to_serve_is_an_error() -> None:
    path = SHARED / "corpus" / "asyncapi" / "3.0.0" / "websocket-gemini-asyncapi.yml"
    with pytest.raises(SpecError, match="no channel can be served"):
        compile_specs(SpecEntry(path=path))


def test_several_matching_servers_need_a_choice(tmp_path: Path) -> None:
    text = channel_spec("a").replace(
        "servers:\n", "servers:\n  backup: {host: 'other:9092', protocol: kafka}\n", 1
    )
    with pytest.raises(SpecError, match="all match"):
        one(tmp_path, text)
    compiled = one(tmp_path, text, server="backup")
    assert compiled.endpoints["backup"].hosts == ("other:9092",)


def test_server_override_replaces_host_and_shares_endpoints(tmp_path: Path) -> None:
    a = write_spec(tmp_path, channel_spec("a"), "a.yaml")
    b = write_spec(tmp_path, channel_spec("b"), "b.yaml")
    compiled = compile_specs(
        SpecEntry(path=a),
        SpecEntry(path=b),
        servers={"*": ServerOverride(host="k1:9092, k2:9092")},
    )
    assert list(compiled.endpoints) == ["main"]
    assert compiled.endpoints["main"].hosts == ("k1:9092", "k2:9092")


def test_kafka_secure_is_served_by_the_kafka_connector(tmp_path: Path) -> None:
    text = channel_spec("a").replace("protocol: kafka", "protocol: kafka-secure")
    endpoint = one(tmp_path, text).endpoints["main"]
    assert (endpoint.protocol, endpoint.options["secure"]) == ("kafka", True)


@pytest.mark.parametrize("header", ["Authorization", "cookie"])
def test_credentials_are_never_forwarded(tmp_path: Path, header: str) -> None:
    text = channel_spec("a", extra_channel=f"    x-mesh: {{headers: [{header}]}}")
    with pytest.raises(SpecError, match="never forwarded"):
        one(tmp_path, text)
    with pytest.raises(ValidationError, match="never forwarded"):
        GatewayConfig(forward_headers=[header])


def test_bad_x_mesh_points_into_the_extension(tmp_path: Path) -> None:
    text = channel_spec("a", extra_channel="    x-mesh: {actions: [delete]}")
    with pytest.raises(SpecError) as caught:
        one(tmp_path, text)
    assert caught.value.problems[0].pointer == "/channels/c/x-mesh/actions/0"


def test_examples_compile() -> None:
    compiled = compile_specs(
        SpecEntry(path=EXAMPLES / "orders.yaml"), SpecEntry(path=EXAMPLES / "telemetry.yaml")
    )
    paths = sorted(r.path.text for r in compiled.routes.routes)
    assert paths == [
        "/shop/orders.placed",
        "/shop/shipments.{region}",
        "/telemetry/sensors.{sensorId}.readings",
    ]


def test_channel_servers_may_live_in_components(tmp_path: Path) -> None:
    text = (
        channel_spec(
            "a", extra_channel="    servers: [{$ref: '#/components/servers/shared~1kafka'}]"
        )
        + "components:\n  servers:\n    shared/kafka: {host: 'k9:9092', protocol: kafka}\n"
    )
    text = text.replace("servers:\n  main: {host: 'localhost:9092', protocol: kafka}\n", "", 1)
    compiled = one(tmp_path, text)
    assert compiled.endpoints["shared/kafka"].hosts == ("k9:9092",)
