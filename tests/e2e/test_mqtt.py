"""The MQTT endpoint against real Mosquitto brokers, checked with mosquitto_pub/mosquitto_sub."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, WSMsgType
from grpc import aio

from connectors.entrypoints.grpc_api import gateway_pb2 as pb
from connectors.entrypoints.grpc_api import gateway_pb2_grpc as pb_grpc
from mesh.broker import EmbeddedMosquitto, free_port
from mesh.config import (
    GatewayConfig,
    GrpcConfig,
    ListenConfig,
    MqttConfig,
    PublishConfig,
    Secret,
    ServerOverride,
    SpecEntry,
    TlsConfig,
)
from mesh.gateway import RunningGateway, serve
from tests.certs import certificates
from tests.conftest import write_spec
from tests.e2e.helpers import next_events
from tests.e2e.proxy import FaultProxy

SPEC = """asyncapi: 3.0.0
info: {title: Devices, version: 1.0.0}
servers:
  broker: {host: 'localhost:1883', protocol: mqtt}
channels:
  telemetry:
    address: '{prefix}/devices/{deviceId}/telemetry'
    x-mesh: {headers: [x-request-id]}
    parameters:
      deviceId: {}
    messages:
      reading:
        name: reading
        payload: {type: object, required: [t], properties: {t: {type: number}}}
  alerts:
    address: '{prefix}/alerts/{level}'
    parameters:
      level: {enum: [info, critical]}
    messages:
      alert: {payload: {type: object}}
  ledger:
    address: '{prefix}/ledger'
    messages:
      entry: {payload: {type: object}}
operations:
  record:
    action: receive
    channel: {$ref: '#/channels/ledger'}
    bindings: {mqtt: {qos: 2}}
  stream: {action: send, channel: {$ref: '#/channels/telemetry'}}
  report:
    action: receive
    channel: {$ref: '#/channels/telemetry'}
    bindings: {mqtt: {qos: 1}}
  streamAlerts: {action: send, channel: {$ref: '#/channels/alerts'}}
  raise:
    action: receive
    channel: {$ref: '#/channels/alerts'}
    bindings: {mqtt: {qos: 0}}
"""


@pytest.fixture(scope="module")
def mosquitto() -> Iterator[EmbeddedMosquitto]:
    with EmbeddedMosquitto() as broker:
        yield broker


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def spec(tmp_path: Path, prefix: str) -> Path:
    return write_spec(tmp_path, SPEC.replace("{prefix}", prefix))


@asynccontextmanager
async def gateway(
    path: Path, port: int, *, server: ServerOverride | None = None, **config: Any
) -> AsyncIterator[RunningGateway]:
    override = server or ServerOverride()
    settings = GatewayConfig(
        listen=ListenConfig(port=0),
        grpc=GrpcConfig(port=0),
        specs=[SpecEntry(path=path)],
        servers={"broker": override.model_copy(update={"host": f"127.0.0.1:{port}"})},
        **config,
    )
    async with serve(settings) as running:
        yield running


async def mosquitto_sub(port: int, topic: str, count: int, *args: str) -> asyncio.Task[list[str]]:
    """Start ``mosquitto_sub`` now; the task gives the ``count`` lines it printed (``-v``)."""
    process = await asyncio.create_subprocess_exec(
        *("mosquitto_sub", "-p", str(port), "-t", topic, "-C", str(count), "-W", "10", "-v"),
        *args,
        stdout=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.3)  # subscribed

    async def lines() -> list[str]:
        out, _ = await process.communicate()
        return out.decode().splitlines()

    return asyncio.create_task(lines())


async def ready(http: ClientSession, gw: RunningGateway) -> None:
    """Wait up to 5 s for the gateway's endpoints to be connected (again)."""
    for _ in range(50):
        if (await http.get(f"{gw.url}/readyz")).status == 200:
            return
        await asyncio.sleep(0.1)


async def mosquitto_pub(port: int, topic: str, message: str, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "mosquitto_pub", "-p", str(port), "-t", topic, "-m", message, "-q", "1", *args
    )
    assert await process.wait() == 0


async def test_rest_publish_answers_201_after_the_puback_and_202_at_qos_0(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, prefix: str, http: ClientSession
) -> None:
    received = await mosquitto_sub(mosquitto.port, f"{prefix}/#", 2)
    async with gateway(spec(tmp_path, prefix), mosquitto.port) as gw:
        acked = await http.post(f"{gw.url}/{prefix}/devices/d1/telemetry", json={"t": 21.5})
        accepted = await http.post(f"{gw.url}/{prefix}/alerts/info", json={"x": 1})
        assert (acked.status, await acked.json()) == (201, {"qos": 1, "cursor": ""})
        assert (accepted.status, (await accepted.json())["qos"]) == (202, 0)
    assert sorted(await received) == [
        f'{prefix}/alerts/info {{"x": 1}}',
        f'{prefix}/devices/d1/telemetry {{"t": 21.5}}',
    ]


async def test_qos_2_answers_201_after_pubcomp_and_403_when_pubrec_refuses(
    tmp_path: Path, prefix: str, http: ClientSession
) -> None:
    acl = f"user gateway\ntopic write {prefix}/ledger\nuser reader\ntopic read {prefix}/#\n"
    os.environ["MESH_TEST_MQTT_PASSWORD"] = "s3cret"
    credentials = ServerOverride(username="gateway", password=Secret(env="MESH_TEST_MQTT_PASSWORD"))
    with EmbeddedMosquitto(users={"gateway": "s3cret", "reader": "r"}, acl=acl) as broker:
        received = await mosquitto_sub(
            broker.port, f"{prefix}/ledger", 1, "-u", "reader", "-P", "r"
        )
        async with gateway(spec(tmp_path, prefix), broker.port, server=credentials) as gw:
            exact = await http.post(f"{gw.url}/{prefix}/ledger", json={"amount": 5})
        refused_acl = f"user gateway\ntopic read {prefix}/#\n"
    with EmbeddedMosquitto(users={"gateway": "s3cret"}, acl=refused_acl) as broker:
        async with gateway(spec(tmp_path, prefix), broker.port, server=credentials) as gw:
            refused = await http.post(f"{gw.url}/{prefix}/ledger", json={"amount": 5})
    assert (exact.status, (await exact.json())["qos"]) == (201, 2)
    assert (refused.status, (await refused.json())["code"]) == (403, "broker-forbidden")
    assert await received == [f'{prefix}/ledger {{"amount": 5}}']


async def test_more_concurrent_publishes_than_the_broker_receives_at_once_all_succeed(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, prefix: str, http: ClientSession
) -> None:
    received = await mosquitto_sub(mosquitto.port, f"{prefix}/devices/+/telemetry", 200)
    async with gateway(spec(tmp_path, prefix), mosquitto.port) as gw:
        url = f"{gw.url}/{prefix}/devices/d/telemetry"
        answers = await asyncio.gather(*(http.post(url, json={"t": n}) for n in range(200)))
    assert [a.status for a in answers] == [201] * 200  # Mosquitto's receive maximum is 20
    assert len(await received) == 200


async def test_content_type_and_forwarded_headers_travel_as_mqtt_5_properties(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, prefix: str, http: ClientSession
) -> None:
    async with gateway(spec(tmp_path, prefix), mosquitto.port) as gw:
        url = f"{gw.url}/{prefix}/devices/d/telemetry"
        stream = await http.get(url, headers={"Accept": "text/event-stream"})
        await asyncio.sleep(0.2)
        await http.post(url, json={"t": 1}, headers={"X-Request-Id": "r-1"})
        await next_events(stream, 1)
        stream.close()
        polled = await http.get(url, params={"from": "earliest"})
        (message,) = (await polled.json())["messages"]
    assert message["headers"] == {"x-request-id": "r-1"}
    assert message["contentType"] == "application/json"


async def test_sse_poll_websocket_and_grpc_read_what_mosquitto_pub_sends(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, prefix: str, http: ClientSession
) -> None:
    async with gateway(spec(tmp_path, prefix), mosquitto.port) as gw:
        url = f"{gw.url}/{prefix}/devices/*/telemetry"
        sse = await http.get(url, headers={"Accept": "text/event-stream"})
        ws = await http.ws_connect(url, protocols=("mesh.v1",))
        async with aio.insecure_channel(f"127.0.0.1:{gw.grpc_port}") as channel:
            stub: Any = pb_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
            stream = stub.Subscribe(pb.SubscribeRequest(channel=f"/{prefix}/devices/*/telemetry"))
            await asyncio.sleep(0.3)
            await mosquitto_pub(mosquitto.port, f"{prefix}/devices/d7/telemetry", '{"t": 7}')
            (event,) = await next_events(sse, 1)
            frame = await ws.receive(timeout=10)
            grpc_event = await asyncio.wait_for(stream.read(), 10)
            stream.cancel()
        poll = await http.get(
            url, params={"from": "earliest", "wait": "0"}, headers={"Accept": "application/json"}
        )
        await ws.close()
        sse.close()
    assert (event.name, json.loads(event.text)) == ("reading", {"t": 7})
    assert event.id is not None
    assert event.id.startswith("m1.")
    assert frame.type is WSMsgType.TEXT
    pushed = json.loads(frame.data)
    assert (pushed["payload"], pushed["address"]) == ({"t": 7}, f"{prefix}/devices/d7/telemetry")
    assert grpc_event.message.address == f"{prefix}/devices/d7/telemetry"
    assert json.loads(grpc_event.message.payload) == {"t": 7}
    polled = await poll.json()
    assert [m["payload"] for m in polled["messages"]] == [{"t": 7}]


async def test_websocket_and_grpc_publish_reach_mosquitto_sub(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, prefix: str, http: ClientSession
) -> None:
    received = await mosquitto_sub(mosquitto.port, f"{prefix}/devices/+/telemetry", 2)
    async with gateway(spec(tmp_path, prefix), mosquitto.port) as gw:
        async with http.ws_connect(
            f"{gw.url}/{prefix}/devices/ws/telemetry", protocols=("mesh.v1",)
        ) as ws:
            await ws.send_json({"type": "publish", "id": "1", "payload": {"t": 1}})
            ack = await ws.receive_json(timeout=10)
            while ack["type"] == "message":  # the session also reads the channel
                ack = await ws.receive_json(timeout=10)
        async with aio.insecure_channel(f"127.0.0.1:{gw.grpc_port}") as channel:
            stub: Any = pb_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
            reply = await stub.Publish(
                pb.PublishRequest(channel=f"/{prefix}/devices/g/telemetry", payload=b'{"t":2}')
            )
            qos0 = await stub.Publish(
                pb.PublishRequest(channel=f"/{prefix}/alerts/critical", payload=b"{}")
            )
    assert (ack["type"], ack["acknowledged"]) == ("ack", True)
    assert (reply.outcome, qos0.outcome) == (pb.ACKED, pb.ACCEPTED)
    assert sorted(await received) == [
        f'{prefix}/devices/g/telemetry {{"t":2}}',
        f'{prefix}/devices/ws/telemetry {{"t":1}}',
    ]


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("GET", "alerts/*", "limited to ['critical', 'info']"),
        ("GET", "devices/%23/telemetry", "not allowed"),
        ("GET", "devices/%2B/telemetry", "not allowed"),
        ("POST", "devices/*/telemetry", "wildcards are for subscribing"),
    ],
)
async def test_filters_beyond_the_route_are_refused(
    tmp_path: Path,
    mosquitto: EmbeddedMosquitto,
    prefix: str,
    http: ClientSession,
    method: str,
    path: str,
    detail: str,
) -> None:
    async with gateway(spec(tmp_path, prefix), mosquitto.port) as gw:
        response = await http.request(
            method,
            f"{gw.url}/{prefix}/{path}",
            json={"t": 1},
            headers={"Accept": "text/event-stream"},
        )
        body = await response.json()
    assert (response.status, body["code"]) == (400, "invalid-parameter")
    assert detail in body["detail"]


async def test_a_stream_resumes_exactly_from_its_cursor_and_reports_a_gap_otherwise(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, prefix: str, http: ClientSession
) -> None:
    async with gateway(spec(tmp_path, prefix), mosquitto.port) as gw:
        url = f"{gw.url}/{prefix}/devices/d/telemetry"
        accept = {"Accept": "text/event-stream"}
        first = await http.get(url, headers=accept)
        await asyncio.sleep(0.2)
        for n in range(3):
            await http.post(url, json={"t": n})
        events = await next_events(first, 3)
        first.close()
        resumed = await http.get(url, headers={**accept, "Last-Event-ID": events[0].id or ""})
        again = await next_events(resumed, 2)
        resumed.close()
        foreign = await http.get(url, headers={**accept, "Last-Event-ID": "m1.00000000.5"})
        (gap,) = await next_events(foreign, 1)
        foreign.close()
        malformed = await http.get(url, headers={**accept, "Last-Event-ID": "k1.abc"})
    assert [json.loads(e.text)["t"] for e in again] == [1, 2]
    assert [e.id for e in again] == [e.id for e in events[1:]]
    assert (gap.name, json.loads(gap.text)["reason"]) == ("mesh.restart", "gap")
    assert malformed.status == 400


async def test_a_publish_the_broker_acl_refuses_is_a_403_never_a_2xx(
    tmp_path: Path, prefix: str, http: ClientSession
) -> None:
    acl = f"user gateway\ntopic write {prefix}/alerts/#\ntopic read {prefix}/#\n"
    os.environ["MESH_TEST_MQTT_PASSWORD"] = "s3cret"
    credentials = ServerOverride(username="gateway", password=Secret(env="MESH_TEST_MQTT_PASSWORD"))
    with EmbeddedMosquitto(users={"gateway": "s3cret"}, acl=acl) as broker:
        async with gateway(spec(tmp_path, prefix), broker.port, server=credentials) as gw:
            refused = await http.post(f"{gw.url}/{prefix}/devices/d/telemetry", json={"t": 1})
            allowed = await http.post(f"{gw.url}/{prefix}/alerts/info", json={})
            body = await refused.json()
    assert (refused.status, body["code"]) == (403, "broker-forbidden")
    assert "0x87" in body["detail"]
    assert allowed.status == 202


async def test_wrong_broker_credentials_leave_the_endpoint_not_ready(
    tmp_path: Path, prefix: str, http: ClientSession
) -> None:
    with EmbeddedMosquitto(users={"gateway": "right"}) as broker:
        os.environ["MESH_TEST_MQTT_WRONG"] = "wrong"
        wrong = ServerOverride(username="gateway", password=Secret(env="MESH_TEST_MQTT_WRONG"))
        mqtt = MqttConfig(connect_timeout_seconds=1)
        async with gateway(spec(tmp_path, prefix), broker.port, server=wrong, mqtt=mqtt) as gw:
            ready = await http.get(f"{gw.url}/readyz")
            publish = await http.post(f"{gw.url}/{prefix}/devices/d/telemetry", json={"t": 1})
    assert ready.status == 503
    assert (publish.status, (await publish.json())["code"]) == (503, "broker-unavailable")


async def test_broker_restart_reconnects_and_restores_streams(
    tmp_path: Path, prefix: str, http: ClientSession
) -> None:
    broker = EmbeddedMosquitto().start()
    try:
        mqtt = MqttConfig(reconnect_max_seconds=0.5, connect_timeout_seconds=2)
        async with gateway(spec(tmp_path, prefix), broker.port, mqtt=mqtt) as gw:
            url = f"{gw.url}/{prefix}/devices/d/telemetry"
            stream = await http.get(url, headers={"Accept": "text/event-stream"})
            await asyncio.sleep(0.2)
            broker.stop()
            down = await http.post(url, json={"t": 0})
            broker.start()
            await ready(http, gw)
            await asyncio.sleep(0.3)  # subscriptions restored right after the CONNACK
            up = await http.post(url, json={"t": 1})
            (event,) = await next_events(stream, 1)
            stream.close()
    finally:
        broker.stop()
    assert (down.status, (await down.json())["code"]) == (503, "broker-unavailable")
    assert up.status == 201
    assert json.loads(event.text) == {"t": 1}


async def test_a_publish_the_broker_never_acknowledges_is_a_504(
    tmp_path: Path, prefix: str, http: ClientSession
) -> None:
    with EmbeddedMosquitto() as broker:
        publish = PublishConfig(timeout_seconds=0.5)
        async with gateway(spec(tmp_path, prefix), broker.port, publish=publish) as gw:
            process = broker.process
            assert process is not None
            os.kill(process.pid, signal.SIGSTOP)
            try:
                response = await http.post(f"{gw.url}/{prefix}/devices/d/telemetry", json={"t": 1})
            finally:
                os.kill(process.pid, signal.SIGCONT)
    assert (response.status, (await response.json())["code"]) == (504, "outcome-unknown")


async def test_the_documents_last_will_is_published_when_the_connection_is_cut(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, prefix: str, http: ClientSession
) -> None:
    will = (
        "  broker:\n    host: 'localhost:1883'\n    protocol: mqtt\n    bindings:\n"
        f"      mqtt: {{clientId: {prefix}-gw, keepAlive: 5, "
        f"lastWill: {{topic: {prefix}/gateway, message: gone, qos: 1}}}}"
    )
    text = SPEC.replace("{prefix}", prefix).replace(
        "  broker: {host: 'localhost:1883', protocol: mqtt}", will
    )
    proxy = FaultProxy(free_port(), mosquitto.port)
    await proxy.start()
    received = await mosquitto_sub(mosquitto.port, f"{prefix}/gateway", 1)
    mqtt = MqttConfig(reconnect_max_seconds=0.2)
    try:
        async with gateway(write_spec(tmp_path, text), proxy.listen_port, mqtt=mqtt) as gw:
            await proxy.cut()
            wills = await received
            await proxy.heal()
            await ready(http, gw)
            after = await http.post(f"{gw.url}/{prefix}/devices/d/telemetry", json={"t": 1})
    finally:
        await proxy.close()
    assert wills == [f"{prefix}/gateway gone"]
    assert after.status == 201


async def test_tls_with_a_client_certificate_from_the_config(
    tmp_path: Path, prefix: str, http: ClientSession
) -> None:
    files = certificates(tmp_path)
    ca = files["ca.pem"]
    with EmbeddedMosquitto(tls=(ca, files["server.pem"], files["server.key"])) as broker:
        client = TlsConfig(ca_file=ca, cert_file=files["client.pem"], key_file=files["client.key"])
        async with gateway(
            spec(tmp_path, prefix), broker.port, server=ServerOverride(tls=client)
        ) as gw:
            published = await http.post(f"{gw.url}/{prefix}/devices/d/telemetry", json={"t": 1})
        mqtt = MqttConfig(connect_timeout_seconds=1)
        no_certificate = ServerOverride(tls=TlsConfig(ca_file=ca))
        async with gateway(
            spec(tmp_path, prefix), broker.port, server=no_certificate, mqtt=mqtt
        ) as gw:
            refused = await http.get(f"{gw.url}/readyz")
    assert published.status == 201
    assert refused.status == 503


async def test_a_publish_in_flight_when_the_connection_drops_is_a_504_at_once(
    tmp_path: Path, mosquitto: EmbeddedMosquitto, prefix: str, http: ClientSession
) -> None:
    proxy = FaultProxy(free_port(), mosquitto.port)
    await proxy.start()
    try:
        async with gateway(spec(tmp_path, prefix), proxy.listen_port) as gw:
            proxy.stall()  # the PUBLISH leaves the gateway, its PUBACK never comes back
            started = time.monotonic()
            publishing = asyncio.create_task(
                http.post(f"{gw.url}/{prefix}/devices/d/telemetry", json={"t": 1})
            )
            await asyncio.sleep(0.3)
            await proxy.cut()
            response = await publishing
            took = time.monotonic() - started
            body = await response.json()
    finally:
        await proxy.close()
    assert (response.status, body["code"]) == (504, "outcome-unknown")
    assert "dropped" in body["detail"]
    assert took < 2  # not the 5 s publish deadline
