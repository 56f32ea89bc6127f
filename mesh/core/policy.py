"""Policies: hooks run per phase, composed once into chains at compile time."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mesh.core.exchange import Exchange
from mesh.core.message import Message

__all__ = ["Phase", "Policy", "PolicyChain"]


class Phase(enum.Enum):
    """``connect`` once per request or stream; ``publish``/``subscribe`` once per message."""

    CONNECT = "connect"
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"


class Policy(Protocol):
    """A message policy: return the (possibly new) message, or raise a ``MeshError``."""

    def __call__(self, exchange: Exchange, message: Message) -> Message: ...


@dataclass(frozen=True, slots=True)
class PolicyChain:
    """Policies applied in order; an empty chain returns the message untouched."""

    policies: Sequence[Policy] = ()

    def apply(self, exchange: Exchange, message: Message) -> Message:
        for policy in self.policies:
            message = policy(exchange, message)
        return message
