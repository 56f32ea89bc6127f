from __future__ import annotations

import pytest

from connectors.endpoints.kafka_cursor import decode_cursor, encode_cursor, topic_tag
from mesh.core.errors import InvalidCursor


def test_round_trip() -> None:
    tag = topic_tag("orders")
    cursor = encode_cursor(tag, {2: 10, 0: 5})
    assert cursor.startswith("k1.")
    assert decode_cursor(cursor, tag) == {0: 5, 2: 10}


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ("", "unknown format"),
        ("k2.abc", "unknown format"),
        ("k1.!!!", "cannot be decoded"),
        ("k1." + "QUJD", "another channel"),  # "ABC": no tag separator
        ("k1.x" * 5000, "too long"),
    ],
)
def test_undecodable_cursors_are_refused(cursor: str, reason: str) -> None:
    with pytest.raises(InvalidCursor, match=reason):
        decode_cursor(cursor, topic_tag("orders"))


def test_cursor_of_another_topic_is_refused() -> None:
    cursor = encode_cursor(topic_tag("payments"), {0: 1})
    with pytest.raises(InvalidCursor, match="another channel"):
        decode_cursor(cursor, topic_tag("orders"))


def test_negative_offsets_are_refused() -> None:
    import base64

    tag = topic_tag("orders")
    body = base64.urlsafe_b64encode(f"{tag}|0:-4".encode()).decode()
    with pytest.raises(InvalidCursor):
        decode_cursor("k1." + body, tag)
