"""Property tests of the parsers and encoders every request goes through."""

from __future__ import annotations

import re
from contextlib import suppress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.endpoints.kafka_cursor import decode_cursor, encode_cursor, topic_tag
from connectors.entrypoints.encoding import sse_event
from mesh.core.address import parse_template
from mesh.core.errors import InvalidCursor, MalformedJson
from mesh.core.media import dump_json, parse_json
from mesh.core.message import Message
from mesh.core.pointer import join_pointer, split_pointer

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
literals = st.from_regex(r"[a-z0-9.\-]{1,6}", fullmatch=True)
values = st.from_regex(r"[A-Za-z0-9_\-]{1,12}", fullmatch=True)


@given(st.dictionaries(st.integers(0, 1000), st.integers(0, 2**62), max_size=20), st.text())
def test_cursor_round_trip(positions: dict[int, int], topic: str) -> None:
    tag = topic_tag(topic)
    assert decode_cursor(encode_cursor(tag, positions), tag) == positions


@given(st.text(max_size=200))
def test_any_text_is_a_cursor_or_a_clear_refusal(text: str) -> None:
    with suppress(InvalidCursor):
        decode_cursor(text, topic_tag("t"))


@given(
    st.lists(st.tuples(literals, names), min_size=1, max_size=4, unique_by=lambda p: p[1]),
    st.data(),
)
def test_templates_match_what_they_render(
    parts: list[tuple[str, str]], data: st.DataObject
) -> None:
    text = "".join(f"{literal}.{{{name}}}." for literal, name in parts)
    template = parse_template(text)
    chosen = {name: data.draw(values) for _, name in parts}
    rendered = template.render(chosen)
    assert template.match(rendered) == chosen


@given(st.lists(st.text(max_size=10), max_size=6))
def test_pointer_round_trip(tokens: list[str]) -> None:
    assert split_pointer(join_pointer(tokens)) == tuple(tokens)


@given(st.binary(max_size=300), st.one_of(st.none(), st.text(max_size=20)))
def test_sse_event_is_well_formed(payload: bytes, name: str | None) -> None:
    event = sse_event(Message(payload, name=name, cursor="k1.x")).decode()
    assert event.endswith("\n\n")
    lines = event[:-2].split("\n")
    assert all(re.fullmatch(r"(id|event|encoding|data): .*", line) for line in lines)
    data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
    if "encoding: base64" not in lines:
        normalised = payload.decode().replace("\r\n", "\n").replace("\r", "\n")
        assert data == normalised


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_json_round_trip_beyond_64_bit_integers(value: object) -> None:
    assert parse_json(dump_json(value)) == value


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "{", "\xff"])
def test_not_json_is_refused(text: str) -> None:
    with pytest.raises(MalformedJson):
        parse_json(text.encode("latin-1"))


def test_big_integers_are_json() -> None:
    assert parse_json(b"[18446744073709551617]") == [2**64 + 1]
    assert dump_json([2**64 + 1]) == b"[18446744073709551617]"
