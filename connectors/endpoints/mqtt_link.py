"""One MQTT 5 connection that comes back: reconnects with backoff, resubscribes, and settles every
publish by the reason code of its acknowledgement.

Built on gmqtt (measured against aiomqtt in ``bench/mqtt_clients.py``), one ``gmqtt.Client`` per
connection: the link owns reconnecting, so gmqtt's own reconnect is kept off. gmqtt does not read
PUBACK reason codes, so the link reads them from the packets itself: a code of 0x80 or above is a
refusal, never a success. Publishes still waiting when the connection drops end as
``OutcomeUnknown``: they may or may not have reached the broker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50

from connectors.endpoints.mqtt_options import MqttOptions
from mesh.core.errors import (
    BrokerForbidden,
    BrokerRejected,
    DeliveryError,
    NotSent,
    OutcomeUnknown,
)
from mesh.core.message import Message

__all__ = ["MqttLink", "refusal"]

log = logging.getLogger("mesh.mqtt")

_FIRST_DELAY = 0.1
_PUBLISH = 3  # MQTT control packet type
_REASONS = {
    0x80: "unspecified error",
    0x83: "implementation specific error",
    0x87: "not authorized",
    0x90: "topic name invalid",
    0x91: "packet identifier in use",
    0x97: "quota exceeded",
    0x99: "payload format invalid",
    0x9E: "shared subscriptions not supported",
    0xA2: "wildcard subscriptions not supported",
}

OnMessage = Callable[[str, Message], None]


def refusal(reason: int, what: str) -> DeliveryError:
    """The error for a reason code of 0x80 or above; 0x87 (not authorized) is a 403."""
    name = _REASONS.get(reason, "refused")
    detail = f"the broker refused the {what}: MQTT reason 0x{reason:02x} ({name})"
    if reason == 0x87:
        return BrokerForbidden(detail, reason=reason)
    return BrokerRejected(detail, reason=reason)


class MqttLink:
    """The connection of one MQTT endpoint. ``filters`` tells which topic filters to restore
    after a reconnect; ``on_message`` receives every message with its topic."""

    def __init__(
        self, options: MqttOptions, on_message: OnMessage, filters: Callable[[], Iterable[str]]
    ) -> None:
        self.options = options
        self._on_message = on_message
        self._filters = filters
        self._client: Any = None
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._subacks: dict[int, asyncio.Future[tuple[int, ...]]] = {}
        self._window = asyncio.Semaphore(1)
        self._up = asyncio.Event()
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def start(self) -> None:
        """Begin connecting; return once connected or after the connect timeout."""
        self._task = asyncio.create_task(self._run(), name=f"mqtt-{self.options.client_id}")
        with suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), self.options.connect_timeout)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        client, self._client = self._client, None
        if client is not None:
            with suppress(Exception):
                await client.disconnect()
        self._fail_pending()

    async def publish(
        self, topic: str, message: Message, qos: int, retain: bool, properties: dict[str, Any]
    ) -> bool:
        """Send and, for QoS 1 and 2, wait for the acknowledgement; True when there was one.

        The caller bounds the wait. Raises ``NotSent``, ``BrokerForbidden`` or ``BrokerRejected``;
        ``OutcomeUnknown`` when the connection dropped before the acknowledgement.
        """
        client = self._client
        if client is None:
            raise NotSent("the broker is not connected")
        packet = gmqtt.Message(topic, message.payload, qos=qos, retain=retain, **properties)
        if qos == 0:
            client.publish(packet)
            return False
        window = self._window
        async with window:
            if self._client is not client:
                raise NotSent("the broker connection was lost before sending")
            try:
                mid, _ = client._connection.publish(packet)
            except OverflowError as exc:  # no packet id free: nothing was sent
                raise NotSent("too many publishes awaiting the broker") from exc
            future = self._pending[mid] = asyncio.get_running_loop().create_future()
            try:
                await future
            finally:
                self._pending.pop(mid, None)
        return True

    async def subscribe(self, topic_filter: str, timeout: float) -> None:
        """Subscribe now; raise ``NotSent`` when not connected or unanswered within ``timeout``,
        ``BrokerForbidden``/``BrokerRejected`` when the broker refuses the filter."""
        client = self._client
        if client is None:
            raise NotSent("the broker is not connected")
        granted = await self._subscribe(client, [topic_filter], timeout)
        if granted[0] >= 0x80:
            raise refusal(granted[0], "subscription")

    def unsubscribe(self, topic_filter: str) -> None:
        if self._client is not None:
            self._client.unsubscribe(topic_filter)

    async def _subscribe(self, client: Any, filters: list[str], timeout: float) -> list[int]:
        qos = self.options.qos
        mid = client.subscribe([gmqtt.Subscription(f, qos=qos) for f in filters])
        future = self._subacks[mid] = asyncio.get_running_loop().create_future()
        try:
            return list(await asyncio.wait_for(future, timeout))
        except TimeoutError as exc:
            raise NotSent("the broker did not answer the subscription in time") from exc
        finally:
            self._subacks.pop(mid, None)

    async def _run(self) -> None:
        delay = _FIRST_DELAY
        while True:
            client = await self._connect()
            if client is None:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.options.reconnect_max)
                continue
            delay = _FIRST_DELAY
            await self._serve(client)

    async def _serve(self, client: Any) -> None:
        self._lost.clear()
        # the broker's Receive Maximum bounds QoS 1/2 publishes in flight; gmqtt hands out one
        # id fewer than it, and subscriptions need ids too
        receive_maximum = _connack(client, "receive_maximum", 65_535)
        self._window = asyncio.Semaphore(max(1, receive_maximum - 2))
        _coalesce_publishes(client._connection._protocol)
        self._client = client
        filters = list(self._filters())
        try:
            if filters:
                await self._subscribe(client, filters, self.options.connect_timeout)
        except DeliveryError as exc:
            log.warning("mqtt endpoint: cannot restore subscriptions: %s", exc.detail)
        log.info("mqtt endpoint connected as %s", self.options.client_id)
        self._up.set()
        await self._lost.wait()
        self._up.clear()
        self._client = None
        self._fail_pending()
        await _retire(client)
        log.warning("mqtt endpoint: connection lost; reconnecting")

    async def _connect(self) -> Any:
        options = self.options
        client = gmqtt.Client(
            options.client_id or f"mesh-{uuid.uuid4().hex[:12]}",
            clean_session=options.clean_start,
            will_message=_will(options.will),
            session_expiry_interval=options.session_expiry,
        )
        client.set_config({"reconnect_retries": 0})
        if options.username is not None:
            client.set_auth_credentials(options.username, options.password)
        self._hook(client)
        try:
            await asyncio.wait_for(
                client.connect(
                    options.host,
                    options.port,
                    ssl=options.ssl_context or False,
                    keepalive=options.keepalive,
                    version=MQTTv50,
                ),
                options.connect_timeout,
            )
        except (OSError, TimeoutError, gmqtt.mqtt.handler.MQTTConnectError) as exc:
            log.warning("mqtt endpoint: cannot connect yet: %s", exc or type(exc).__name__)
            await _retire(client)
            return None
        return client

    def _hook(self, client: Any) -> None:
        """Read reason codes from acknowledgements before gmqtt's own handling of them."""
        handler = client._package_handler
        puback, pubrec, pubcomp = (
            handler._handle_puback_packet,
            handler._handle_pubrec_packet,
            handler._handle_pubcomp_packet,
        )

        def on_puback(cmd: int, packet: bytes) -> None:
            self._settle(packet)
            puback(cmd, packet)

        def on_pubrec(cmd: int, packet: bytes) -> None:
            if len(packet) > 2 and packet[2] >= 0x80:
                self._settle(packet)
            pubrec(cmd, packet)

        def on_pubcomp(cmd: int, packet: bytes) -> None:
            self._settle(packet)
            pubcomp(cmd, packet)

        handler._handle_puback_packet = on_puback
        handler._handle_pubrec_packet = on_pubrec
        handler._handle_pubcomp_packet = on_pubcomp
        client.on_message = self._received
        client.on_subscribe = self._subscribed
        client.on_disconnect = lambda *_: self._dropped(client)

    def _settle(self, packet: bytes) -> None:
        mid = int.from_bytes(packet[:2], "big")
        reason = packet[2] if len(packet) > 2 else 0
        future = self._pending.pop(mid, None)
        if future is None or future.done():
            return
        if reason >= 0x80:
            future.set_exception(refusal(reason, "message"))
        else:
            future.set_result(None)

    def _subscribed(self, client: Any, mid: int, granted: Any, properties: Any) -> None:
        future = self._subacks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(tuple(granted))

    def _received(self, client: Any, topic: str, payload: bytes, qos: int, properties: Any) -> int:
        content_type = properties.get("content_type")
        self._on_message(
            topic,
            Message(
                payload=payload,
                headers=tuple(
                    (name, value.encode()) for name, value in properties.get("user_property", ())
                ),
                content_type=content_type[0] if content_type else None,
            ),
        )
        return 0

    def _dropped(self, client: Any) -> None:
        if client is self._client:
            self._lost.set()

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(
                    OutcomeUnknown("the broker connection dropped before the acknowledgement")
                )
        subacks, self._subacks = self._subacks, {}
        for suback in subacks.values():
            if not suback.done():
                suback.set_exception(NotSent("the broker connection dropped"))


def _connack(client: Any, name: str, default: int) -> int:
    value = client._package_handler._connack_properties.get(name)
    return int(value[0]) if value else default


def _coalesce_publishes(protocol: Any) -> None:
    """Send the PUBLISH packets written in one event loop iteration with one write: one system
    call for many concurrent publishes instead of one each. Any other packet first flushes what
    waits, so packets keep their order."""
    write = protocol.write_data
    loop = asyncio.get_running_loop()
    waiting: list[bytes] = []

    def flush() -> None:
        if waiting:
            data = b"".join(waiting)
            waiting.clear()
            write(data)

    def write_data(data: bytes) -> None:
        if data[:1] and data[0] >> 4 == _PUBLISH:
            if not waiting:
                loop.call_soon(flush)
            waiting.append(bytes(data))
            return
        flush()
        write(data)

    protocol.write_data = write_data


def _will(will: dict[str, Any] | None) -> Any:
    if not will:
        return None
    return gmqtt.Message(
        will["topic"],
        will.get("message", ""),
        qos=will.get("qos", 0),
        retain=will.get("retain", False),
    )


async def _retire(client: Any) -> None:
    """Stop a client for good: gmqtt would otherwise reconnect it on its own."""
    client._is_active = False
    connection = client._connection
    if connection is not None:
        with suppress(Exception):
            await connection.close()
