"""The Kafka cursor: every partition's next offset, tied to one topic, versioned, opaque.

Format (version 1): ``"k1." + base64url("<crc32 of topic, hex>|<partition>:<offset>,...")``.
A cursor means "continue exactly after the message that carried it": each offset is the next one
to read. Partitions the cursor does not name did not exist when it was minted and are read from
their start.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping

from mesh.core.errors import InvalidCursor

__all__ = ["decode_cursor", "encode_cursor", "topic_tag"]

_PREFIX = "k1."
_MAX_LENGTH = 16_384


def topic_tag(topic: str) -> str:
    return f"{zlib.crc32(topic.encode()):08x}"


def encode_cursor(tag: str, positions: Mapping[int, int]) -> str:
    body = ",".join(f"{p}:{o}" for p, o in sorted(positions.items()))
    return _PREFIX + base64.urlsafe_b64encode(f"{tag}|{body}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, tag: str) -> dict[int, int]:
    """Return the partition -> next offset map, or raise ``InvalidCursor`` saying why."""
    if len(cursor) > _MAX_LENGTH:
        raise InvalidCursor("cursor is too long")
    if not cursor.startswith(_PREFIX):
        raise InvalidCursor("cursor has an unknown format or version")
    encoded = cursor[len(_PREFIX) :]
    try:
        padded = encoded + "=" * (-len(encoded) % 4)
        text = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
        owner, _, body = text.partition("|")
        positions = {
            int(p): int(o) for p, o in (item.split(":") for item in body.split(",") if item)
        }
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("cursor cannot be decoded") from exc
    if owner != tag:
        raise InvalidCursor("cursor belongs to another channel")
    if any(p < 0 or o < 0 for p, o in positions.items()):
        raise InvalidCursor("cursor cannot be decoded")
    return positions
