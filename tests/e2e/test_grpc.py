"""The gRPC entrypoint with a grpcio client: publish, streams, subscribe, errors, reflection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from connectors.entrypoints.grpc_api import gateway_pb2 as pb
from connectors.entrypoints.grpc_api import gateway_pb2_grpc as pb_grpc
from mesh.broker import EmbeddedKafka, free_port
from mesh.config import KafkaConfig, LimitsConfig, PublishConfig, SseConfig
from mesh.gateway import RunningGateway
from tests.conftest import Start, channel_spec, write_spec
from tests.e2e.helpers import consume, produce

PAYLOAD = "{type: object, required: [n], properties: {n: {type: integer}}}"
FORWARD = "    x-mesh: {headers: [x-request-id]}"


def spec(tmp_path: Path, topic: str, **kwargs: Any) -> Path:
    text = channel_spec(topic, payload=PAYLOAD, extra_channel=FORWARD, **kwargs)
    return write_spec(tmp_path, text)


async def channel(gw: RunningGateway) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(f"127.0.0.1:{gw.grpc_port}") as opened:
        yield opened


def gateway(ch: aio.Channel) -> Any:
    return pb_grpc.GatewayStub(ch)  # type: ignore[no-untyped-call]


def problem(error: aio.AioRpcError) -> dict[str, Any]:
    trailers = dict(error.trailing_metadata() or ())
    return dict(json.loads(trailers["mesh-problem"]))


async def test_publish_is_acked_and_lands_in_kafka(
    tmp_path: Path, start_gateway: Start, kafka: EmbeddedKafka, topic: str
) -> None:
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async for ch in channel(gw):
            stub = gateway(ch)
            reply = await stub.Publish(
                pb.PublishRequest(channel=f"/{topic}", payload=b'{"n":1}', id="p-1"),
                metadata=(("message-key", "k-1"), ("x-request-id", "r-1"), ("authorization", "x")),
            )
    assert (reply.id, reply.outcome) == ("p-1", pb.ACKED)
    assert reply.cursor.startswith("k1.")
    (record,) = await consume(kafka.bootstrap, topic, 1)
    assert (record.partition, record.offset) == (reply.partition, reply.offset)
    assert (record.value, record.key) == (b'{"n":1}', b"k-1")
    assert dict(record.headers) == {"x-request-id": b"r-1", "content-type": b"application/json"}


@pytest.mark.parametrize(
    ("request_fields", "code", "problem_code"),
    [
        ({"payload": b'{"n":"x"}'}, grpc.StatusCode.INVALID_ARGUMENT, "schema-violation"),
        ({"payload": b"{"}, grpc.StatusCode.INVALID_ARGUMENT, "malformed-json"),
        (
            {"payload": b"x", "content_type": "text/plain"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "unsupported-media-type",
        ),
        ({"channel": "/nowhere"}, grpc.StatusCode.NOT_FOUND, "route-not-found"),
        ({"channel": "/bad..name"}, grpc.StatusCode.NOT_FOUND, "route-not-found"),
    ],
)
async def test_publish_errors_map_to_status_codes(
    tmp_path: Path,
    start_gateway: Start,
    topic: str,
    request_fields: dict[str, Any],
    code: grpc.StatusCode,
    problem_code: str,
) -> None:
    fields = {"channel": f"/{topic}", "payload": b'{"n":1}', **request_fields}
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async for ch in channel(gw):
            with pytest.raises(aio.AioRpcError) as failed:
                await gateway(ch).Publish(pb.PublishRequest(**fields))
    assert failed.value.code() == code
    assert problem(failed.value)["code"] == problem_code


async def test_publish_to_a_channel_that_only_streams_is_unimplemented(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    async with start_gateway([spec(tmp_path, topic, actions=("send",))]) as gw:
        async for ch in channel(gw):
            with pytest.raises(aio.AioRpcError) as failed:
                await gateway(ch).Publish(
                    pb.PublishRequest(channel=f"/{topic}", payload=b'{"n":1}')
                )
    assert failed.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_unreachable_broker_is_unavailable(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    config = {
        "kafka": KafkaConfig(connect_timeout_seconds=0.3),
        "publish": PublishConfig(timeout_seconds=1),
    }
    async with start_gateway(
        [spec(tmp_path, topic)], bootstrap=f"127.0.0.1:{free_port()}", **config
    ) as gw:
        async for ch in channel(gw):
            with pytest.raises(aio.AioRpcError) as failed:
                await gateway(ch).Publish(
                    pb.PublishRequest(channel=f"/{topic}", payload=b'{"n":1}')
                )
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert problem(failed.value)["code"] == "broker-unavailable"


async def test_oversized_messages_are_refused(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    limits = LimitsConfig(max_body_bytes=1000)
    async with start_gateway([spec(tmp_path, topic)], limits=limits) as gw:
        async for ch in channel(gw):
            stub = gateway(ch)
            with pytest.raises(aio.AioRpcError) as failed:
                await stub.Publish(pb.PublishRequest(channel=f"/{topic}", payload=b"x" * 5000))
            assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(aio.AioRpcError) as failed:
                await stub.Publish(pb.PublishRequest(channel=f"/{topic}", payload=b"x" * 200_000))
            assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            ok = await stub.Publish(pb.PublishRequest(channel=f"/{topic}", payload=b'{"n":1}'))
            assert ok.outcome == pb.ACKED


async def test_publish_stream_answers_each_message_in_order(
    tmp_path: Path, start_gateway: Start, kafka: EmbeddedKafka, topic: str
) -> None:
    async def requests() -> AsyncIterator[pb.PublishRequest]:
        for i in range(200):
            payload = b'{"n":"bad"}' if i == 50 else f'{{"n":{i}}}'.encode()
            yield pb.PublishRequest(channel=f"/{topic}", payload=payload, id=str(i), key="k")

    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async for ch in channel(gw):
            replies = [r async for r in gateway(ch).PublishStream(requests())]
    assert [r.id for r in replies] == [str(i) for i in range(200)]
    assert [r.outcome for r in replies].count(pb.ACKED) == 199
    assert replies[50].outcome == pb.REFUSED
    assert json.loads(replies[50].problem)["code"] == "schema-violation"
    offsets = [r.offset for r in replies if r.outcome == pb.ACKED]
    assert offsets == sorted(offsets)
    assert len(await consume(kafka.bootstrap, topic, 199)) == 199


async def test_subscribe_streams_and_resumes_from_a_cursor(
    tmp_path: Path, start_gateway: Start, kafka: EmbeddedKafka, topic: str
) -> None:
    await produce(kafka.bootstrap, topic, [f'{{"n":{i}}}'.encode() for i in range(6)], key=b"k")
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async for ch in channel(gw):
            stub = gateway(ch)
            call = stub.Subscribe(pb.SubscribeRequest(channel=f"/{topic}", start=pb.EARLIEST))
            first = [await call.read() for _ in range(3)]
            call.cancel()
            resumed = stub.Subscribe(
                pb.SubscribeRequest(channel=f"/{topic}", cursor=first[-1].message.cursor)
            )
            rest = [await resumed.read() for _ in range(3)]
            resumed.cancel()
    payloads = [json.loads(e.message.payload)["n"] for e in first + rest]
    assert payloads == [0, 1, 2, 3, 4, 5]
    assert first[0].message.name == "thing"
    assert first[0].message.key == b"k"


async def test_subscribe_with_a_bad_cursor_is_invalid_argument(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async for ch in channel(gw):
            call = gateway(ch).Subscribe(pb.SubscribeRequest(channel=f"/{topic}", cursor="nope"))
            with pytest.raises(aio.AioRpcError) as failed:
                await call.read()
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert problem(failed.value)["code"] == "invalid-cursor"


async def test_reflection_and_health_work_without_the_proto(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    async with start_gateway([spec(tmp_path, topic)]) as gw:
        async for ch in channel(gw):
            reflect = reflection_pb2_grpc.ServerReflectionStub(ch)
            requests = [
                reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol="mesh.v1.Gateway"),
            ]
            answers = [a async for a in reflect.ServerReflectionInfo(iter(requests))]
            services = {s.name for s in answers[0].list_services_response.service}
            assert {"mesh.v1.Gateway", "grpc.health.v1.Health"} <= services
            assert answers[1].file_descriptor_response.file_descriptor_proto
            health = health_pb2_grpc.HealthStub(ch)
            for name in ("", "mesh.v1.Gateway"):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_subscriber_that_stops_reading_is_cut_off_with_its_cursor(
    tmp_path: Path, start_gateway: Start, kafka: EmbeddedKafka, topic: str
) -> None:
    total = 300
    values = [f'{{"n":{i},"pad":"{"x" * 60_000}"}}'.encode() for i in range(total)]
    await produce(kafka.bootstrap, topic, values, key=b"k")
    sse = SseConfig(write_timeout_seconds=0.5)
    async with start_gateway([spec(tmp_path, topic)], sse=sse) as gw:
        async for ch in channel(gw):
            stub = gateway(ch)
            call = stub.Subscribe(pb.SubscribeRequest(channel=f"/{topic}", start=pb.EARLIEST))
            seen = [await call.read()]
            await asyncio.sleep(2)  # not reading: the flow-control windows fill up
            cut = await _read_until_cut(call, seen, total)
            assert cut.code() == grpc.StatusCode.UNAVAILABLE
            assert problem(cut)["code"] == "subscriber-too-slow"
            assert dict(cut.trailing_metadata() or ())["mesh-cursor"].startswith("k1.")
            cursor = seen[-1].message.cursor  # the last message that arrived
            resumed = stub.Subscribe(pb.SubscribeRequest(channel=f"/{topic}", cursor=cursor))
            rest = [await resumed.read() for _ in range(total - len(seen))]
            resumed.cancel()
    numbers = [json.loads(e.message.payload)["n"] for e in seen + rest]
    assert numbers == list(range(total))


async def _read_until_cut(call: Any, seen: list[Any], total: int) -> aio.AioRpcError:
    async with asyncio.timeout(30):
        while len(seen) < total:
            try:
                seen.append(await call.read())
            except aio.AioRpcError as error:
                return error
    raise AssertionError("the stream was never cut off")
