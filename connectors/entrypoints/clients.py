"""The client's address: the socket's peer, or, behind trusted proxies, the address they say.

``X-Forwarded-For`` (else ``Forwarded``'s ``for=``) is read right to left only while the hop that
added it is a trusted proxy, so a client cannot forge the address that per-address plans count.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from aiohttp import web

__all__ = ["Networks", "client_address", "networks"]

Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
_FOR = re.compile(r'for="?\[?([^\]";,]+)', re.IGNORECASE)


def networks(values: Sequence[str]) -> Networks:
    """Parse CIDRs (or single addresses); raises ``ValueError`` for a bad one."""
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def client_address(request: web.Request, trusted: Networks) -> str | None:
    peer = request.remote
    if not trusted or peer is None or not _trusted(peer, trusted):
        return peer
    chain = _forwarded_chain(request)
    for hop in reversed(chain):
        if not _trusted(hop, trusted):
            return hop
    return chain[0] if chain else peer


def _forwarded_chain(request: web.Request) -> list[str]:
    header = request.headers.get("X-Forwarded-For")
    if header:
        return [hop.strip() for hop in header.split(",") if hop.strip()]
    return _FOR.findall(request.headers.get("Forwarded", ""))


def _trusted(address: str, trusted: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
