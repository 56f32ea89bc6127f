"""The Kafka connector: one shared producer per endpoint, one assign+seek reader per stream.

Publishing answers only after the broker acknowledged (``acks=all``). Before handing a message to
the producer the endpoint makes sure the partition leader is connected, so a broker that cannot be
reached yields ``NotSent`` within the deadline instead of a batch that expires with an unknown
outcome. Producer idempotence is used where the broker grants a producer id and turned off, with a
log line, where it does not (Tansu 0.6 refuses ``InitProducerId``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from contextlib import suppress

from aiokafka import AIOKafkaClient, AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.protocol.transaction import InitProducerIdRequest

from connectors.endpoints.kafka_fanout import CatchUp, Hubs
from connectors.endpoints.kafka_options import KafkaOptions
from connectors.endpoints.kafka_publish import KafkaPublisher
from connectors.endpoints.kafka_stream import KafkaSubscription
from mesh.core.connector import EMPTY, Bindings, EndpointSettings, StartAt, Subscription
from mesh.core.errors import DeliveryError, InvalidParameter, NotSent
from mesh.core.message import Message, Receipt
from mesh.core.routes import Action

__all__ = ["KafkaConnector", "KafkaEndpoint"]

log = logging.getLogger("mesh.kafka")

_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_RECONNECT_DELAY = 1.0


class KafkaConnector:
    """Serves AsyncAPI servers of protocol ``kafka`` (and ``kafka-secure``)."""

    protocols = frozenset({"kafka"})

    def create(self, settings: EndpointSettings) -> KafkaEndpoint:
        return KafkaEndpoint(settings.name, KafkaOptions.from_settings(settings))


class KafkaEndpoint:
    """A Kafka cluster. ``start`` connects in the background; ``ready`` tells when it has."""

    wildcard: str | None = None

    def __init__(self, name: str, options: KafkaOptions) -> None:
        self.name = name
        self.options = options
        self.idempotent = False
        self._producer: AIOKafkaProducer | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._publisher: KafkaPublisher | None = None
        self.hubs = Hubs(options.client_buffer)

    @property
    def ready(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Begin connecting; return once connected or after the connect timeout, whichever first."""
        self._connecting = asyncio.create_task(self._connect_forever(), name=f"kafka-{self.name}")
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._connecting), self.options.connect_timeout)

    async def close(self) -> None:
        await self.hubs.close()
        if self._connecting is not None:
            self._connecting.cancel()
            with suppress(asyncio.CancelledError):
                await self._connecting
        if self._producer is not None:
            producer, self._producer, self._publisher = self._producer, None, None
            await producer.stop()

    def check_address(self, address: str, action: Action) -> None:
        if not _TOPIC.match(address) or address in (".", ".."):
            raise InvalidParameter(
                f"{address!r} is not a valid Kafka topic name "
                "(1-249 characters from A-Z a-z 0-9 . _ -)"
            )

    async def publish(
        self, address: str, message: Message, timeout: float, bindings: Bindings = EMPTY
    ) -> Receipt:
        (outcome,) = await self.publish_many(address, [message], timeout)
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    async def publish_many(
        self,
        address: str,
        messages: Sequence[Message],
        timeout: float,
        bindings: Bindings = EMPTY,
    ) -> list[Receipt | DeliveryError]:
        if self._publisher is None:
            return [NotSent("the broker is not connected") for _ in messages]
        return await self._publisher.publish(address, messages, timeout)

    async def subscribe(
        self, address: str, cursor: str | None, start: StartAt, timeout: float
    ) -> Subscription:
        """At the live end, join the topic's shared reader; from a cursor or the earliest offset,
        catch up on an own reader first."""

        async def live() -> KafkaSubscription:
            return await KafkaSubscription.open(
                self.options, address, None, StartAt.LATEST, timeout
            )

        if cursor is None and start is StartAt.LATEST:
            client, _ = await self.hubs.join(address, live)
            return client
        own = await KafkaSubscription.open(self.options, address, cursor, start, timeout)
        return CatchUp(own, address, self.hubs, live)

    async def _connect_forever(self) -> None:
        while self._producer is None:
            try:
                self.idempotent = await self._grants_producer_id()
                self._producer = await self._start_producer()
                self._publisher = KafkaPublisher(self._producer)
            except (OSError, KafkaError) as exc:
                log.warning("kafka endpoint %s: cannot connect yet: %s", self.name, exc)
                await asyncio.sleep(_RECONNECT_DELAY)
        log.info(
            "kafka endpoint %s connected (idempotent producer: %s)", self.name, self.idempotent
        )

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            **self.options.client_args(),
            acks="all",
            enable_idempotence=self.idempotent,
            linger_ms=self.options.linger_ms,
            max_request_size=self.options.max_request_size,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def _grants_producer_id(self) -> bool:
        """Ask the broker for a producer id once, as an idempotent producer would."""
        client = AIOKafkaClient(**self.options.client_args())
        try:
            await client.bootstrap()
            try:
                response = await client.send(
                    client.get_random_node(), InitProducerIdRequest(None, 60_000)
                )
                error: object = response.error_code or None
            except KafkaError as exc:
                error = type(exc).__name__
        finally:
            await client.close()
        if error is not None:
            log.info(
                "kafka endpoint %s: the broker refuses InitProducerId (%s); "
                "producing with acks=all without idempotence",
                self.name,
                error,
            )
            return False
        return True
