"""A lean HTTP/1.1 client for proxying: keep-alive connections per upstream URL, responses parsed
by llhttp (``httptools``), bodies streamed with flow control.

It does what a proxy needs and nothing else (no cookies, redirects, decompression or proxies),
which makes it several times cheaper per request than a general client (``bench/proxy.py``).
A connection is reused only after a complete response that allows keep-alive; anything else
(an unread body, an error, a timeout, a HEAD answer) closes it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from typing import cast
from urllib.parse import urlsplit

import httptools

__all__ = ["ConnectionPool", "Response"]

_HIGH_WATER = 256 * 1024  # buffered body bytes above which the socket stops being read
_LOW_WATER = 64 * 1024


class Response:
    """An answer whose body arrives while the caller reads it; ``release`` when done."""

    def __init__(self, connection: _Connection, status: int, headers: list[tuple[str, str]]):
        self._connection = connection
        self.status = status
        self.headers: Sequence[tuple[str, str]] = headers
        self.length: int | None = None
        for name, value in headers:
            if name.lower() == "content-length" and value.isdigit():
                self.length = int(value)
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._complete = False
        self._error: BaseException | None = None
        self._arrived = asyncio.Event()

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._buffered < _LOW_WATER:
                    self._connection.resume()
                yield chunk
                continue
            if self._error is not None:
                raise self._error
            if self._complete:
                return
            self._arrived.clear()
            await self._arrived.wait()

    async def read(self) -> bytes:
        if self._complete and self._error is None:  # often all there with the head
            body = b"".join(self._chunks)
            self._chunks.clear()
            return body
        return b"".join([chunk async for chunk in self.chunks()])

    def release(self) -> None:
        self._connection.finished(reusable=self._complete and self._error is None)

    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > _HIGH_WATER:
            self._connection.pause()
        self._arrived.set()

    def _end(self, error: BaseException | None = None) -> None:
        self._complete = error is None
        self._error = error
        self._arrived.set()


class _Connection(asyncio.Protocol):
    """One connection; one request at a time."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[str, str]] = []
        self._head: asyncio.Future[Response] | None = None
        self._response: Response | None = None
        self._head_only = False
        self._keep_alive = False
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"malformed answer from the upstream: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("the upstream closed the connection"))
        self._pool.forget(self)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self._headers = []
            return
        self._response = Response(self, status, self._headers)
        self._headers = []
        self._keep_alive = self._parser.should_keep_alive()  # llhttp forgets it once complete
        if self._head is not None and not self._head.done():
            self._head.set_result(self._response)
        if self._head_only:
            self._response._end()
            self.close()

    def on_body(self, body: bytes) -> None:
        if self._response is not None and not self._head_only:
            self._response._feed(body)

    def on_message_complete(self) -> None:
        if self._response is not None and not self._head_only:
            self._response._end()

    # the pool's side
    async def send(self, head: bytes, body: bytes, head_only: bool, timeout: float) -> Response:
        """Write the request; wait at most ``timeout`` s for the answer's head."""
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[Response] = loop.create_future()
        self._head = waiting
        self._response = None
        self._head_only = head_only
        self._transport.write(head + body if len(body) < 65_536 else head)
        if len(body) >= 65_536:
            self._transport.write(body)
        timer = loop.call_later(timeout, _expire, waiting)
        try:
            return await waiting
        finally:
            timer.cancel()

    def finished(self, reusable: bool) -> None:
        if reusable and not self.closed and self._keep_alive:
            self._pool.give_back(self)
        else:
            self.close()

    def pause(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def resume(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _fail(self, error: BaseException) -> None:
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        if self._response is not None and not self._response._complete:
            self._response._end(error)


class ConnectionPool:
    """Keep-alive connections to one upstream base URL, at most ``limit`` open at once."""

    def __init__(self, url: str, limit: int, connect_timeout: float) -> None:
        parts = urlsplit(url)
        self.secure = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.secure else 80)
        self.base = parts.path.rstrip("/")
        default = parts.port is None
        self.authority = self.host if default else f"{self.host}:{self.port}"
        self._ssl = ssl.create_default_context() if self.secure else None
        self._connect_timeout = connect_timeout
        self._idle: list[_Connection] = []
        self._open = asyncio.Semaphore(limit)
        self._held: set[_Connection] = set()

    async def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        timeout: float,
    ) -> Response:
        """Send a request and return once the answer's head arrived, within ``timeout`` s; the
        caller must ``release`` the response. Raises ``TimeoutError``, or ``OSError`` (including
        ``ConnectionError``) when the upstream cannot be reached or drops the connection."""
        head = _serialize(method, self.base + target, self.authority, headers, body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        connection = self._idle_connection()
        if connection is None:
            async with asyncio.timeout_at(deadline):
                connection = await self._connect()
        try:
            return await connection.send(head, body, method == "HEAD", deadline - loop.time())
        except BaseException:
            connection.close()
            raise

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self) -> _Connection:
        await self._open.acquire()
        try:
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self._ssl
                )
        except BaseException:
            self._open.release()
            raise
        self._held.add(connection)
        return connection

    def give_back(self, connection: _Connection) -> None:
        self._idle.append(connection)

    def forget(self, connection: _Connection) -> None:
        with suppress(ValueError):
            self._idle.remove(connection)
        if connection in self._held:
            self._held.discard(connection)
            self._open.release()

    def close(self) -> None:
        for connection in list(self._held):
            connection.close()


def _expire(waiting: asyncio.Future[Response]) -> None:
    if not waiting.done():
        waiting.set_exception(TimeoutError())


def _serialize(
    method: str, target: str, authority: str, headers: Sequence[tuple[str, str]], body: bytes
) -> bytes:
    lines = [f"{method} {target or '/'} HTTP/1.1", f"Host: {authority}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    # the server read header bytes as UTF-8 with surrogate escapes: this gives the same bytes back
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
