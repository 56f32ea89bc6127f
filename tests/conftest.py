"""Fixtures shared by every test: a real Tansu broker for the session, gateways on free ports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession

from mesh.broker import EmbeddedKafka
from mesh.config import GatewayConfig, GrpcConfig, ListenConfig, ServerOverride, SpecEntry
from mesh.gateway import RunningGateway, serve

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
EXAMPLES = ROOT / "specs" / "examples"

Start = Callable[..., AbstractAsyncContextManager[RunningGateway]]


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedKafka]:
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with EmbeddedKafka(log_file=log) as broker:
        yield broker


@pytest.fixture
def topic() -> str:
    """A topic name no other test uses (the broker lives for the whole session)."""
    return f"t.{uuid.uuid4().hex[:12]}"


def write_spec(directory: Path, text: str, name: str = "api.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def channel_spec(
    address: str,
    *,
    actions: tuple[str, ...] = ("send", "receive"),
    payload: str = "{type: object}",
    extra_channel: str = "",
    root_extra: str = "",
) -> str:
    """A minimal AsyncAPI 3.0 document with one Kafka channel at ``address``."""
    operations = "\n".join(
        f"  op_{action}:\n    action: {action}\n    channel: {{$ref: '#/channels/c'}}"
        for action in actions
    )
    return f"""asyncapi: 3.0.0
info: {{title: Test, version: 1.0.0}}
{root_extra}
servers:
  main: {{host: 'localhost:9092', protocol: kafka}}
channels:
  c:
    address: '{address}'
{extra_channel}
    messages:
      m:
        name: thing
        payload: {payload}
operations:
{operations}
"""


@pytest.fixture
def start_gateway(kafka: EmbeddedKafka) -> Start:
    """``async with start_gateway(spec_paths, **config) as gw`` runs a gateway on a free port."""

    @asynccontextmanager
    async def start(
        specs: list[Path], bootstrap: str | None = None, **config: Any
    ) -> AsyncIterator[RunningGateway]:
        settings = GatewayConfig(
            listen=ListenConfig(port=0),
            grpc=GrpcConfig(port=0),
            specs=[SpecEntry(path=p) for p in specs],
            servers={"*": ServerOverride(host=bootstrap or kafka.bootstrap, protocol="kafka")},
            **config,
        )
        async with serve(settings) as gateway:
            yield gateway

    return start


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session
