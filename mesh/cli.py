"""The ``mesh`` command: ``run``, ``dev``, ``validate``, ``keys``, ``catalog`` and ``schema``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from pydantic import ValidationError

from connectors.auth.keys import KeyStore
from mesh.broker import EmbeddedKafka, EmbeddedMosquitto
from mesh.catalog.store import STATES, Catalog, open_catalog
from mesh.config import (
    CorsConfig,
    GatewayConfig,
    GrpcConfig,
    ListenConfig,
    ServerOverride,
    SpecEntry,
)
from mesh.core.errors import MeshError
from mesh.gateway import RunningGateway, key_store, serve
from mesh.schemas import json_schema
from mesh.specs.loader import check_files, load_document
from mesh.specs.problems import Severity, SpecError
from mesh.specs.source import Workspace

__all__ = ["main"]

log = logging.getLogger("mesh")
EXAMPLES = Path("specs/examples")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("gmqtt").setLevel(logging.WARNING)  # it logs every packet at INFO
    try:
        return int(args.command(args))
    except SpecError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except MeshError as exc:
        print(f"mesh: {exc.detail}", file=sys.stderr)
        return 2
    except (ValidationError, ValueError, OSError, RuntimeError) as exc:
        print(f"mesh: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mesh", description="Event + API gateway")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="serve AsyncAPI documents")
    run.add_argument("--config", type=Path, help="gateway config file (YAML or JSON)")
    run.add_argument("--spec", type=Path, action="append", default=[], help="a document to serve")
    run.add_argument("--host", help="listen address (default 127.0.0.1)")
    run.add_argument("--port", type=int, help="listen port (default 8080)")
    run.add_argument("--grpc-port", type=int, help="gRPC port (default 9090)")
    run.add_argument("--allow-origin", action="append", default=[], help="a CORS origin to allow")
    run.set_defaults(command=_run)

    dev = commands.add_parser(
        "dev", help="serve with an embedded Kafka broker (examples by default)"
    )
    dev.add_argument("--spec", type=Path, action="append", default=[], help="a document to serve")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8080)
    dev.add_argument("--grpc-port", type=int, default=9090)
    dev.add_argument("--allow-origin", action="append", default=[], help="a CORS origin to allow")
    dev.set_defaults(command=_dev)

    validate = commands.add_parser("validate", help="check AsyncAPI and OpenAPI documents")
    validate.add_argument("files", type=Path, nargs="+")
    validate.set_defaults(command=_validate)

    keys = commands.add_parser("keys", help="issue, list and revoke API keys (auth.keys)")
    keys.add_argument("--config", type=Path, required=True, help="the gateway config file")
    actions = keys.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser("create", help="issue a key; it is printed once")
    create.add_argument("name", help="who the key is for")
    create.add_argument("--scope", action="append", default=[], help="a scope the key grants")
    create.add_argument("--plan", help="the plan the key's consumer is on")
    create.set_defaults(command=_keys_create)
    listing = actions.add_parser("list", help="the keys' records (never the keys)")
    listing.set_defaults(command=_keys_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id")
    revoke.set_defaults(command=_keys_revoke)

    catalog = commands.add_parser("catalog", help="register and list documents (catalog)")
    catalog.add_argument("--config", type=Path, required=True, help="the gateway config file")
    acts = catalog.add_subparsers(required=True, metavar="ACTION")
    push = acts.add_parser("push", help="register a document, validated as mesh validate does")
    push.add_argument("file", type=Path)
    push.add_argument("--name", help="the document's name when it has no AsyncAPI id")
    push.add_argument("--state", default="draft", choices=STATES)
    push.set_defaults(command=_catalog_push)
    shown = acts.add_parser("list", help="the documents and their versions")
    shown.set_defaults(command=_catalog_list)

    schema = commands.add_parser("schema", help="print a JSON Schema for editors")
    schema.add_argument("which", choices=["config", "x-mesh"])
    schema.set_defaults(command=_schema)
    return parser


def _catalog(args: argparse.Namespace) -> Catalog:
    config = GatewayConfig.load(args.config)
    if config.catalog is None:
        raise ValueError(f"{args.config} has no catalog section")
    return open_catalog(config.catalog)


def _catalog_push(args: argparse.Namespace) -> int:
    text = args.file.read_text(encoding="utf-8")
    version, changes = _catalog(args).register(text, args.name, args.state)
    print(json.dumps(version.summary()))
    for change in changes:
        print(f"{'BREAKING' if change.breaking else 'change'} {change.pointer}: {change.detail}")
    return 0


def _catalog_list(args: argparse.Namespace) -> int:
    for document in _catalog(args).documents():
        versions = ", ".join(f"{v['version']} ({v['state']})" for v in document["versions"])
        print(f"{document['name']}  {document['title']}  {versions}")
    return 0


def _store(args: argparse.Namespace) -> KeyStore:
    store = key_store(GatewayConfig.load(args.config))
    if store is None:
        raise ValueError(f"{args.config} has no auth.keys section")
    return store


def _keys_create(args: argparse.Namespace) -> int:
    issued = _store(args).issue(args.name, args.scope, args.plan)
    print(json.dumps({"key": issued.key, "id": issued.record.id, "name": args.name}))
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    for record in _store(args).records():
        state = "revoked" if record.revoked else "active"
        print(f"{record.id}  {state:7}  {record.name}  {' '.join(record.scopes)}")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    try:
        _store(args).revoke(args.id)
    except KeyError:
        raise ValueError(f"no key {args.id!r}") from None
    print(f"revoked {args.id}")
    return 0


def _config(args: argparse.Namespace) -> GatewayConfig:
    config = GatewayConfig.load(args.config) if args.config else GatewayConfig()
    specs = [*config.specs, *(SpecEntry(path=p.resolve()) for p in args.spec)]
    listen = ListenConfig(
        host=args.host or config.listen.host,
        port=config.listen.port if args.port is None else args.port,
    )
    grpc = config.grpc.model_copy(
        update={"port": config.grpc.port if args.grpc_port is None else args.grpc_port}
    )
    cors = config.cors.model_copy(
        update={"allow_origins": [*config.cors.allow_origins, *args.allow_origin]}
    )
    config = config.model_copy(
        update={"specs": specs, "listen": listen, "grpc": grpc, "cors": cors}
    )
    if not config.specs:
        raise ValueError("no documents to serve: give --spec FILE or a --config listing specs")
    return config


def _run(args: argparse.Namespace) -> int:
    _serve_forever(_config(args))
    return 0


def _dev(args: argparse.Namespace) -> int:
    paths = args.spec or sorted(EXAMPLES.glob("*.yaml"))
    if not paths:
        raise ValueError(f"no documents: give --spec FILE or run from a folder with {EXAMPLES}/")
    with ExitStack() as brokers:
        config = GatewayConfig(
            listen=ListenConfig(host=args.host, port=args.port),
            grpc=GrpcConfig(host=args.host, port=args.grpc_port),
            specs=[SpecEntry(path=p.resolve()) for p in paths],
            servers=_embedded_brokers(brokers, paths),
            cors=CorsConfig(allow_origins=args.allow_origin),
        )
        _serve_forever(config)
    return 0


def _embedded_brokers(brokers: ExitStack, paths: list[Path]) -> dict[str, ServerOverride]:
    """Start one embedded broker per protocol the documents' servers use (Tansu for Kafka,
    Mosquitto for MQTT) and point those servers at it."""
    workspace = Workspace()
    protocols = {
        name: str(server.get("protocol", "")).lower()
        for path in paths
        for name, server in (load_document(path, workspace).data.get("servers") or {}).items()
        if isinstance(server, dict)
    }
    started: dict[str, str] = {}
    overrides = {}
    for name, protocol in protocols.items():
        kind = _EMBEDDED.get(protocol)
        if kind is None:
            continue
        if kind not in started:
            started[kind] = _start_embedded(brokers, kind)
        overrides[name] = ServerOverride(host=started[kind], protocol=kind)
    return overrides


_EMBEDDED = {
    "kafka": "kafka",
    "kafka-secure": "kafka",
    "mqtt": "mqtt",
    "mqtts": "mqtt",
    "secure-mqtt": "mqtt",
}


def _start_embedded(brokers: ExitStack, kind: str) -> str:
    if kind == "kafka":
        kafka = brokers.enter_context(EmbeddedKafka())
        log.info("embedded Kafka broker (Tansu) on %s", kafka.bootstrap)
        return kafka.bootstrap
    mosquitto = brokers.enter_context(EmbeddedMosquitto())
    log.info("embedded MQTT broker (Mosquitto) on 127.0.0.1:%d", mosquitto.port)
    return f"127.0.0.1:{mosquitto.port}"


def _serve_forever(config: GatewayConfig) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is not built for every platform
        pass
    asyncio.run(_serve(config))


async def _serve(config: GatewayConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(config) as gateway:
        # What was loaded lives as long as the process: keep the collector from scanning it on
        # every full collection, which otherwise shows in the publish latency tail.
        gc.freeze()
        loop.add_signal_handler(signal.SIGHUP, _reload, gateway)
        grpc = f", gRPC on port {gateway.grpc_port}" if gateway.grpc_port else ""
        print(f"mesh: serving on {gateway.url}{grpc} (Ctrl-C stops)", file=sys.stderr, flush=True)
        await stop.wait()
        log.info("shutting down")


def _reload(gateway: RunningGateway) -> None:
    try:
        compiled = gateway.reload()
        log.info("reloaded: %d routes", len(compiled.routes.routes))
    except SpecError as exc:
        log.error("reload refused, still serving the previous routes:\n%s", exc)


def _validate(args: argparse.Namespace) -> int:
    problems = check_files(args.files)
    for problem in problems:
        print(problem)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    bad = {p.file for p in errors}
    for path in args.files:
        if str(path.resolve()) not in bad:
            print(f"{path}: ok")
    return 1 if errors else 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(args.which), indent=2))
    return 0
