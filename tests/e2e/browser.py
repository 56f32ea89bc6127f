"""Headless Chromium driven over the DevTools protocol, for tests a real browser must prove."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import ClientSession, ClientWebSocketResponse

from mesh.broker import free_port

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One browser tab: ``evaluate`` runs JavaScript in it and returns the (JSON) result."""

    def __init__(self, socket: ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        request_id = next(self._ids)
        await self._socket.send_json({"id": request_id, "method": method, "params": params})
        async for frame in self._socket:
            reply = json.loads(frame.data)
            if reply.get("id") == request_id:
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                return dict(reply["result"])
        raise RuntimeError("the browser closed the connection")

    async def goto(self, url: str) -> None:
        """Open ``url`` and return once its document has loaded."""
        await self.call("Page.navigate", url=url)
        check = f"document.readyState === 'complete' && location.href === {json.dumps(url)}"
        await self.wait_for(check)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 10) -> Any:
        """Evaluate ``expression`` until it is truthy; return its value."""
        async with asyncio.timeout(timeout):
            for _ in itertools.count():  # the page changes on its own: poll it
                if value := await self.evaluate(expression):
                    return value
                await asyncio.sleep(0.1)
        raise AssertionError("unreachable")


@asynccontextmanager
async def browser_page() -> AsyncIterator[Page]:
    """A fresh headless Chromium with an empty profile, and a page in it."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("chromium is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = await asyncio.create_subprocess_exec(
            binary,
            *FLAGS,
            f"--remote-debugging-port={port}",
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with ClientSession() as http:
                target = await _first_page(http, port)
                async with http.ws_connect(target, max_msg_size=0) as socket:
                    yield Page(socket)
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)


async def _first_page(http: ClientSession, port: int) -> str:
    async with asyncio.timeout(20):
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/json") as response:
                    pages = [t for t in await response.json() if t["type"] == "page"]
                    if pages:
                        return str(pages[0]["webSocketDebuggerUrl"])
            except OSError:
                pass
            await asyncio.sleep(0.1)
