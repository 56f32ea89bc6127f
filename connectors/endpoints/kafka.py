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
from contextlib import suppress

from aiokafka import AIOKafkaClient, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.protocol.transaction import InitProducerIdRequest

from connectors.endpoints.kafka_cursor import encode_cursor, topic_tag
from connectors.endpoints.kafka_options import KafkaOptions
from connectors.endpoints.kafka_stream import KafkaSubscription
from mesh.core.connector import EndpointSettings, StartAt, Subscription
from mesh.core.errors import BrokerRejected, InvalidParameter, NotSent, OutcomeUnknown
from mesh.core.message import Message, Receipt

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

    def __init__(self, name: str, options: KafkaOptions) -> None:
        self.name = name
        self.options = options
        self.idempotent = False
        self._producer: AIOKafkaProducer | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._partitioner = DefaultPartitioner()

    @property
    def ready(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Begin connecting; return once connected or after the connect timeout, whichever first."""
        self._connecting = asyncio.create_task(self._connect_forever(), name=f"kafka-{self.name}")
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._connecting), self.options.connect_timeout)

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with suppress(asyncio.CancelledError):
                await self._connecting
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    def check_address(self, address: str) -> None:
        if not _TOPIC.match(address) or address in (".", ".."):
            raise InvalidParameter(
                f"{address!r} is not a valid Kafka topic name "
                "(1-249 characters from A-Z a-z 0-9 . _ -)"
            )

    async def publish(self, address: str, message: Message, timeout: float) -> Receipt:
        producer = self._producer
        if producer is None:
            raise NotSent("the broker is not connected")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        partition = await self._connected_partition(producer, address, message.key, timeout)
        headers = list(message.headers)
        if message.content_type:
            headers.append(("content-type", message.content_type.encode()))
        try:
            pending = await producer.send(
                address, message.payload, key=message.key, partition=partition, headers=headers
            )
        except KafkaError as exc:
            raise BrokerRejected(f"the producer refused the message: {type(exc).__name__}") from exc
        try:
            async with asyncio.timeout_at(deadline):
                metadata = await asyncio.shield(pending)
        except TimeoutError as exc:
            raise OutcomeUnknown("no acknowledgement from the broker in time") from exc
        except KafkaError as exc:
            if exc.retriable or isinstance(exc, KafkaTimeoutError):
                raise OutcomeUnknown(f"delivery failed: {type(exc).__name__}") from exc
            raise BrokerRejected(f"the broker refused the message: {type(exc).__name__}") from exc
        cursor = encode_cursor(topic_tag(address), {metadata.partition: metadata.offset + 1})
        return Receipt(cursor, {"partition": metadata.partition, "offset": metadata.offset})

    async def subscribe(
        self, address: str, cursor: str | None, start: StartAt, timeout: float
    ) -> Subscription:
        return await KafkaSubscription.open(self.options, address, cursor, start, timeout)

    async def _connected_partition(
        self, producer: AIOKafkaProducer, topic: str, key: bytes | None, timeout: float
    ) -> int:
        """Pick the partition and make sure its leader is connected; else nothing is sent."""
        try:
            async with asyncio.timeout(min(timeout, self.options.connect_timeout)):
                partitions = sorted(await producer.partitions_for(topic))
                partition: int = self._partitioner(key, partitions, partitions)
                leader = producer.client.cluster.leader_for_partition(
                    TopicPartition(topic, partition)
                )
                if leader is None or leader < 0 or not await producer.client.ready(leader):
                    raise NotSent("the broker holding the partition cannot be reached")
                return partition
        except (TimeoutError, KafkaError) as exc:
            raise NotSent("the broker cannot be reached") from exc

    async def _connect_forever(self) -> None:
        while self._producer is None:
            try:
                self.idempotent = await self._grants_producer_id()
                self._producer = await self._start_producer()
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
