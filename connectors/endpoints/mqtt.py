"""The MQTT connector: one MQTT 5 connection per endpoint, shared by every publish and stream.

Publishing at QoS 1 or 2 answers only after the broker's PUBACK (PUBCOMP) with a reason code below
0x80; QoS 0 has no acknowledgement and returns an unacknowledged receipt (HTTP 202, at most once).
The QoS, retain flag and message expiry come from the route's ``mqtt`` operation binding.
Streams read feeds (``mqtt_feed``): one broker subscription per topic filter, however many streams
read it, kept for ``linger_seconds`` after the last one closed so reconnecting clients resume.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from connectors.endpoints.mqtt_feed import Feed, topic_matches
from connectors.endpoints.mqtt_link import MqttLink
from connectors.endpoints.mqtt_options import MqttOptions
from mesh.core.connector import EMPTY, Bindings, EndpointSettings, StartAt, Subscription
from mesh.core.errors import DeliveryError, InvalidParameter, OutcomeUnknown
from mesh.core.message import Message, Receipt
from mesh.core.routes import Action

__all__ = ["MqttConnector", "MqttEndpoint"]

_MAX_TOPIC_BYTES = 65_535


class MqttConnector:
    """Serves AsyncAPI servers of protocol ``mqtt`` (and ``mqtts``, ``secure-mqtt``)."""

    protocols = frozenset({"mqtt"})

    def create(self, settings: EndpointSettings) -> MqttEndpoint:
        return MqttEndpoint(settings.name, MqttOptions.from_settings(settings))


class MqttEndpoint:
    """An MQTT broker. ``start`` connects in the background; ``ready`` tells when it has."""

    wildcard: str | None = "+"

    def __init__(self, name: str, options: MqttOptions) -> None:
        self.name = name
        self.options = options
        self.feeds: dict[str, Feed] = {}
        self._idle: dict[str, asyncio.TimerHandle] = {}
        self.link = MqttLink(options, self._dispatch, lambda: list(self.feeds))

    @property
    def ready(self) -> bool:
        return self.link.connected

    async def start(self) -> None:
        await self.link.start()

    async def close(self) -> None:
        for timer in self._idle.values():
            timer.cancel()
        self._idle.clear()
        await self.link.close()

    def check_address(self, address: str, action: Action) -> None:
        if not address or len(address.encode()) > _MAX_TOPIC_BYTES or "\x00" in address:
            raise InvalidParameter(f"{address!r} is not a valid MQTT topic")
        if action is Action.PUBLISH and ("+" in address or "#" in address):
            raise InvalidParameter("wildcards are for subscribing; publish to a single topic")

    async def publish(
        self, address: str, message: Message, timeout: float, bindings: Bindings = EMPTY
    ) -> Receipt:
        qos = int(bindings.get("qos", self.options.qos))
        properties = _properties(message, bindings)
        try:
            acknowledged = await asyncio.wait_for(
                self.link.publish(address, message, qos, bool(bindings.get("retain")), properties),
                timeout,
            )
        except TimeoutError as exc:
            raise OutcomeUnknown("the broker did not acknowledge in time") from exc
        return Receipt("", {"qos": qos}, acknowledged=acknowledged)

    async def publish_many(
        self,
        address: str,
        messages: Sequence[Message],
        timeout: float,
        bindings: Bindings = EMPTY,
    ) -> list[Receipt | DeliveryError]:
        """Every message in flight at once, under one deadline; MQTT keeps their order."""

        async def one(message: Message) -> Receipt | DeliveryError:
            try:
                return await self.publish(address, message, timeout, bindings)
            except DeliveryError as exc:
                return exc

        return list(await asyncio.gather(*(one(m) for m in messages)))

    async def subscribe(
        self, address: str, cursor: str | None, start: StartAt, timeout: float
    ) -> Subscription:
        """Read ``address`` (a topic or a filter) through its feed, subscribing when it has none."""
        feed = self.feeds.get(address)
        if feed is None:
            feed = Feed(address, self.options.replay_messages, self._on_idle)
            await self.link.subscribe(address, timeout)
            feed = self.feeds.setdefault(address, feed)
        timer = self._idle.pop(address, None)
        if timer is not None:
            timer.cancel()
        return feed.reader(cursor, start)

    def _dispatch(self, topic: str, message: Message) -> None:
        for topic_filter, feed in self.feeds.items():
            if topic_matches(topic_filter, topic):
                feed.push(message, topic)

    def _on_idle(self, feed: Feed) -> None:
        loop = asyncio.get_running_loop()
        self._idle[feed.filter] = loop.call_later(self.options.linger_seconds, self._release, feed)

    def _release(self, feed: Feed) -> None:
        self._idle.pop(feed.filter, None)
        if not feed.readers and self.feeds.get(feed.filter) is feed:
            del self.feeds[feed.filter]
            self.link.unsubscribe(feed.filter)


def _properties(message: Message, bindings: Bindings) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if message.content_type:
        properties["content_type"] = message.content_type
    if message.headers:
        properties["user_property"] = [(k, v.decode(errors="replace")) for k, v in message.headers]
    expiry = bindings.get("messageExpiryInterval")
    if isinstance(expiry, int):
        properties["message_expiry_interval"] = expiry
    return properties
