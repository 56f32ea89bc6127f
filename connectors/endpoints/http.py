"""The HTTP endpoint: a set of upstream URLs that OpenAPI operations are proxied to.

Requests go round-robin over the URLs that are healthy. Passive health: a URL that fails
``eject_after`` times in a row (no answer, or a 5xx) is ejected for ``eject_seconds``, then gets a
single probe request; success brings it back, failure ejects it again. When every URL is ejected
the circuit is open: requests fail at once with ``CircuitOpen`` instead of waiting on a dead
service. Idempotent methods are retried on another URL when an attempt got no answer or a 502,
503 or 504. Bodies stream through in both directions' answers without buffering.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout, TCPConnector

from mesh.core.errors import CircuitOpen, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from mesh.core.proxy import IDEMPOTENT_METHODS, Forward

__all__ = ["HttpOptions", "HttpUpstream"]

_RETRIED_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class HttpOptions:
    connect_timeout: float = 5.0
    eject_after: int = 5
    eject_seconds: float = 10.0
    max_connections: int = 256


@dataclass
class _Target:
    url: str
    failures: int = 0
    ejected_until: float = 0.0
    probing: bool = False

    def usable(self, now: float) -> bool:
        return self.ejected_until == 0.0 or (now >= self.ejected_until and not self.probing)


class _Reply:
    """An upstream answer whose body is read as the client takes it."""

    def __init__(self, response: ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Sequence[tuple[str, str]] = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in response.raw_headers
        ]

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.content.iter_any():
            yield chunk

    def release(self) -> None:
        self._response.release()


class HttpUpstream:
    """Upstream URLs behind one name; ``start`` opens the connection pool."""

    def __init__(self, name: str, urls: Sequence[str], options: HttpOptions) -> None:
        self.name = name
        self.options = options
        self.targets = [_Target(url) for url in urls]
        self._next = 0
        self._session: ClientSession | None = None

    @property
    def ready(self) -> bool:
        return self._session is not None

    async def start(self) -> None:
        self._session = ClientSession(
            connector=TCPConnector(limit=self.options.max_connections, ttl_dns_cache=60),
            timeout=ClientTimeout(total=None, connect=self.options.connect_timeout),
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def forward(self, request: Forward) -> _Reply:
        attempts = 1 + (request.retries if request.method in IDEMPOTENT_METHODS else 0)
        tried: list[_Target] = []
        error: UpstreamError = UpstreamUnavailable("no upstream answered")
        for attempt in range(attempts):
            target = self._pick(tried)
            if target is None:
                break
            tried.append(target)
            try:
                response = await self._send(target, request)
            except UpstreamError as exc:
                self._failed(target)
                error = exc
                continue
            if response.status in _RETRIED_STATUSES and attempt + 1 < attempts:
                self._failed(target)
                response.release()
                continue
            if response.status >= 500:
                self._failed(target)
            else:
                self._succeeded(target)
            return _Reply(response)
        if not tried:
            raise self._open()
        raise error

    async def _send(self, target: _Target, request: Forward) -> ClientResponse:
        assert self._session is not None, "start() first"
        url = target.url + request.path + (f"?{request.query}" if request.query else "")
        try:
            return await asyncio.wait_for(
                self._session.request(
                    request.method,
                    url,
                    headers=list(request.headers),
                    data=request.body or None,
                    allow_redirects=False,
                    skip_auto_headers=("Accept-Encoding", "Content-Type"),
                ),
                request.timeout,
            )
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"the upstream did not answer within {request.timeout:g} s"
            ) from exc
        except (ClientError, OSError) as exc:
            raise UpstreamUnavailable("the upstream could not be reached") from exc

    def _pick(self, tried: list[_Target]) -> _Target | None:
        """The next usable URL not tried yet; an ejected one whose rest is over becomes a probe."""
        now = time.monotonic()
        count = len(self.targets)
        for step in range(count):
            target = self.targets[(self._next + step) % count]
            if target in tried or not target.usable(now):
                continue
            self._next = (self._next + step + 1) % count
            if target.ejected_until:
                target.probing = True
            return target
        return None

    def _failed(self, target: _Target) -> None:
        target.failures += 1
        if target.probing or target.failures >= self.options.eject_after:
            target.ejected_until = time.monotonic() + self.options.eject_seconds
        target.probing = False

    def _succeeded(self, target: _Target) -> None:
        target.failures, target.ejected_until, target.probing = 0, 0.0, False

    def _open(self) -> CircuitOpen:
        now = time.monotonic()
        wait = min((t.ejected_until - now for t in self.targets), default=0.0)
        return CircuitOpen(
            "every upstream of this route is failing; it is not being called for now",
            retry_after=max(1, round(wait + 0.5)),
        )
