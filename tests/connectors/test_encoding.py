from __future__ import annotations

import base64

from connectors.entrypoints.encoding import message_json, sse_event, sse_restart
from mesh.core.connector import Restart
from mesh.core.message import Message


def test_event_carries_cursor_name_and_data() -> None:
    event = sse_event(Message(b'{"a":1}', cursor="k1.x", name="thing"))
    assert event == b'id: k1.x\nevent: thing\ndata: {"a":1}\n\n'


def test_multiline_payload_becomes_several_data_lines() -> None:
    event = sse_event(Message(b"one\r\ntwo\nthree\n"))
    assert event == b"data: one\ndata: two\ndata: three\ndata: \n\n"


def test_binary_payload_is_marked_base64() -> None:
    event = sse_event(Message(b"\xff\x00", cursor="c"))
    assert event == b"id: c\nencoding: base64\ndata: /wA=\n\n"


def test_restart_event() -> None:
    event = sse_restart(
        Restart("retention", "k1.y", {"partition": 0, "requested": 1, "restart": 7})
    )
    assert event == (
        b'id: k1.y\nevent: mesh.restart\ndata: {"reason":"retention","partition":0,'
        b'"requested":1,"restart":7}\n\n'
    )


def test_json_form_says_how_the_payload_is_encoded() -> None:
    json_message = Message(b'{"a":1}', content_type="application/json", cursor="c")
    assert message_json(json_message)["payload"] == {"a": 1}
    assert message_json(json_message)["encoding"] == "json"
    text = message_json(Message(b"hi", content_type="text/plain"))
    assert (text["payload"], text["encoding"]) == ("hi", "text")
    binary = message_json(Message(b"\xff"))
    assert binary["encoding"] == "base64"
    assert base64.b64decode(binary["payload"]) == b"\xff"
