"""The HTTP endpoint: a set of upstream URLs that OpenAPI operations are proxied to.

Requests go round-robin over the URLs that are healthy. Passive health: a URL that fails
``eject_after`` times in a row (no answer, or a 5xx) is ejected for ``eject_seconds``, then gets a
single probe request; success brings it back, failure ejects it again. When every URL is ejected
the circuit is open: requests fail at once with ``CircuitOpen`` instead of waiting on a dead
service. Idempotent methods are retried on another URL when an attempt got no answer or a 502,
503 or 504. Answers stream back as they arrive (``http_client``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from connectors.endpoints.http_client import ConnectionPool, Response
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
    pool: ConnectionPool
    failures: int = 0
    ejected_until: float = 0.0
    probing: bool = False

    def usable(self, now: float) -> bool:
        return self.ejected_until == 0.0 or (now >= self.ejected_until and not self.probing)


class HttpUpstream:
    """Upstream URLs behind one name, each with its own pool of keep-alive connections."""

    def __init__(self, name: str, urls: Sequence[str], options: HttpOptions) -> None:
        self.name = name
        self.options = options
        self.targets = [
            _Target(ConnectionPool(url, options.max_connections, options.connect_timeout))
            for url in urls
        ]
        self._next = 0

    @property
    def ready(self) -> bool:
        return True

    async def start(self) -> None:
        """Nothing to do: connections open on first use."""

    async def close(self) -> None:
        for target in self.targets:
            target.pool.close()

    async def forward(self, request: Forward) -> Response:
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
            return response
        if not tried:
            raise self._open()
        raise error

    async def _send(self, target: _Target, request: Forward) -> Response:
        path = request.path + (f"?{request.query}" if request.query else "")
        try:
            return await target.pool.request(
                request.method, path, request.headers, request.body, request.timeout
            )
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"the upstream did not answer within {request.timeout:g} s"
            ) from exc
        except OSError as exc:  # ConnectionError included
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
