"""Hop-by-hop headers (RFC 9110 section 7.6.1) never cross the proxy."""

from __future__ import annotations

from connectors.entrypoints.proxy import HOP_BY_HOP, relayed


def test_hop_by_hop_headers_and_those_connection_names_are_dropped() -> None:
    headers = [
        ("Connection", "keep-alive, X-Private"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "websocket"),
        ("Proxy-Authorization", "Basic eA=="),
        ("X-Private", "secret"),
        ("Content-Type", "text/plain"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]
    assert relayed(headers) == [
        ("Content-Type", "text/plain"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]


def test_more_names_can_be_dropped_and_case_does_not_matter() -> None:
    headers = [("HOST", "a"), ("content-LENGTH", "3"), ("Accept", "*/*")]
    assert relayed(headers, HOP_BY_HOP | {"host", "content-length"}) == [("Accept", "*/*")]
