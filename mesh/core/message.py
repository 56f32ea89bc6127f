"""The one value that flows through the gateway, and what a connector returns for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Headers", "Message", "Receipt"]

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Message:
    """An immutable message.

    ``cursor`` is minted by the source connector for messages read from a backend and is opaque to
    everyone else; ``position`` carries the connector's own coordinates (Kafka: partition, offset);
    ``address`` is the topic a message was read from, where a stream may span several (MQTT
    wildcards).
    """

    payload: bytes
    key: bytes | None = None
    headers: Headers = ()
    content_type: str | None = None
    name: str | None = None
    cursor: str | None = None
    timestamp_ms: int | None = None
    position: Mapping[str, int] = field(default_factory=dict)
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """The broker's acknowledgement of one published message.

    ``cursor`` resumes a stream right after this message; ``position`` holds the connector's
    coordinates (Kafka: ``partition`` and ``offset``). ``acknowledged`` is False when the
    backend gives no acknowledgement (MQTT QoS 0): the message was handed over, at most once.
    """

    cursor: str
    position: Mapping[str, int]
    acknowledged: bool = True
