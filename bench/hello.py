"""The reference server: an aiohttp hello-world on uvloop, run as ``python -m bench.hello PORT``."""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web

__all__: list[str] = []


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, world")


def main() -> None:
    app = web.Application()
    app.router.add_route("*", "/", hello)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
