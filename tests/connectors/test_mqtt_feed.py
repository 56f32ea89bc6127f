"""MQTT feeds, filter matching and options, without a broker (the e2e tests use Mosquitto)."""

from __future__ import annotations

import pytest

from connectors.endpoints.mqtt_feed import Feed, topic_matches
from connectors.endpoints.mqtt_options import MqttOptions
from mesh.core.connector import EndpointSettings, Restart, StartAt
from mesh.core.errors import InvalidCursor
from mesh.core.message import Message


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("+/b", "a/b", True),
        ("+/b", "$SYS/b", False),
        ("#", "$SYS/x", False),
        ("a/+/c", "a//c", True),
        ("a/b", "a/b/c", False),
    ],
)
def test_topic_filters_match_as_mqtt_says(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


def feed(size: int = 3) -> tuple[Feed, list[Feed]]:
    idle: list[Feed] = []
    return Feed("a/+", size, idle.append), idle


def push(target: Feed, *payloads: bytes) -> None:
    for payload in payloads:
        target.push(Message(payload=payload), "a/x")


async def test_a_reader_resumes_exactly_from_its_cursor() -> None:
    source, _ = feed()
    reader = source.reader(None, StartAt.LATEST)
    push(source, b"1", b"2")
    first = await reader.next_batch(1, 0)
    resumed = source.reader(reader.cursor, StartAt.LATEST)
    rest = await resumed.next_batch(10, 0)
    assert [m.payload for m in first if isinstance(m, Message)] == [b"1"]
    assert [m.payload for m in rest if isinstance(m, Message)] == [b"2"]
    assert all(isinstance(m, Message) and m.address == "a/x" for m in first + rest)


async def test_a_reader_that_fell_out_of_the_ring_gets_a_gap_with_the_count() -> None:
    source, _ = feed(size=2)
    reader = source.reader(None, StartAt.LATEST)
    push(source, b"1", b"2", b"3", b"4")
    gap, *rest = await reader.next_batch(10, 0)
    assert isinstance(gap, Restart)
    assert (gap.reason, gap.detail) == ("gap", {"missed": 2})
    assert [m.payload for m in await reader.next_batch(10, 0) if isinstance(m, Message)] == [
        b"3",
        b"4",
    ]
    assert rest == []


async def test_a_cursor_of_another_feed_restarts_at_the_live_end() -> None:
    source, _ = feed()
    push(source, b"old")
    reader = source.reader("m1.0000abcd.1", StartAt.LATEST)
    (restart,) = await reader.next_batch(10, 0)
    assert isinstance(restart, Restart)
    assert (restart.reason, restart.detail) == ("gap", {})
    push(source, b"new")
    assert [m.payload for m in await reader.next_batch(10, 0) if isinstance(m, Message)] == [b"new"]


async def test_earliest_starts_at_the_oldest_message_held_and_idle_is_reported() -> None:
    source, idle = feed()
    push(source, b"1", b"2")
    reader = source.reader(None, StartAt.EARLIEST)
    assert len(await reader.next_batch(10, 0)) == 2
    await reader.close()
    assert idle == [source]


def test_a_cursor_that_is_not_an_mqtt_cursor_is_refused() -> None:
    source, _ = feed()
    with pytest.raises(InvalidCursor):
        source.reader("k1.AAAA", StartAt.LATEST)


def test_options_honour_the_server_binding_and_let_the_config_win() -> None:
    settings = EndpointSettings(
        "broker",
        "mqtt",
        ("broker.example:1884",),
        {
            "client_id": "from-config",
            "binding": {
                "clientId": "from-document",
                "cleanSession": False,
                "keepAlive": 30,
                "sessionExpiryInterval": 120,
                "lastWill": {"topic": "gateway/status", "message": "gone", "qos": 1},
            },
        },
    )
    options = MqttOptions.from_settings(settings)
    assert (options.host, options.port, options.client_id) == (
        "broker.example",
        1884,
        "from-config",
    )
    assert (options.clean_start, options.keepalive, options.session_expiry) == (False, 30, 120)
    assert options.will == {"topic": "gateway/status", "message": "gone", "qos": 1}


def test_a_secure_server_without_a_port_uses_8883() -> None:
    options = MqttOptions.from_settings(
        EndpointSettings("b", "mqtt", ("broker.example",), {"secure": True})
    )
    assert (options.port, options.ssl_context is not None) == (8883, True)
