"""Subscribe-phase naming: give a message read from a backend the name of the spec message it is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from mesh.core.errors import MalformedJson
from mesh.core.exchange import Exchange
from mesh.core.media import is_json, parse_json
from mesh.core.message import Message
from mesh.core.routes import ChannelMessage

__all__ = ["NameByMessage"]


@dataclass(frozen=True, slots=True)
class NameByMessage:
    """One message on the channel names everything; with several, the first whose schema accepts
    the payload does. A message that fits none stays unnamed (it is still delivered)."""

    messages: Sequence[ChannelMessage]

    def __call__(self, exchange: Exchange, message: Message) -> Message:
        if message.name is not None or not self.messages:
            return message
        if len(self.messages) == 1:
            return replace(message, name=self.messages[0].name)
        if not is_json(message.content_type or self.messages[0].content_type):
            return message
        try:
            value = parse_json(message.payload)
        except MalformedJson:
            return message
        for candidate in self.messages:
            if candidate.accepts is not None and candidate.accepts(value) is None:
                return replace(message, name=candidate.name)
        return message
