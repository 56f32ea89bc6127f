"""The gateway's lifecycle: load documents, compile routes, start endpoints, serve, drain, stop.

Resources are entered in an ``AsyncExitStack`` and left in reverse: on shutdown, streams get their
final event first, then the HTTP server stops, then the endpoints close. ``reload`` swaps the
route table whole; in-flight requests keep the routes they resolved.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from connectors.auth.authenticator import Authenticator
from connectors.auth.keys import KeyStore
from connectors.auth.tokens import JwtSettings, JwtVerifier
from connectors.endpoints.http import HttpOptions, HttpUpstream
from connectors.entrypoints.admin import AdminKeys
from connectors.entrypoints.clients import networks
from connectors.entrypoints.grpc_server import GrpcServer
from connectors.entrypoints.http import build_app
from connectors.entrypoints.openapi import describe
from connectors.entrypoints.state import EntrypointSettings, GatewayState
from connectors.entrypoints.tls import ListenerTls
from connectors.limits.limiter import Limiter
from connectors.limits.stores import MemoryStore, QuotaStore, RedisStore
from connectors.registry import load_connectors
from mesh.catalog.api import CatalogApi
from mesh.catalog.database import Postgres
from mesh.catalog.store import open_catalog
from mesh.config import (
    MEASURES,
    PERIODS,
    GatewayConfig,
    PlanConfig,
    SaslConfig,
    Secret,
    SpecEntry,
    TlsConfig,
)
from mesh.core.acl import AclRule, Acls
from mesh.core.connector import Connector, Endpoint, EndpointSettings
from mesh.core.errors import InvalidParameter
from mesh.core.idempotency import IdempotencyStore
from mesh.core.proxy import Upstream
from mesh.core.quota import Algorithm, Limit, Measure, Plan
from mesh.core.routes import Action
from mesh.specs.compile import Compiled, compile_gateway
from mesh.specs.loader import load_document
from mesh.specs.problems import SpecError, SpecProblem
from mesh.specs.source import Workspace

__all__ = ["RunningGateway", "key_store", "load", "serve"]

log = logging.getLogger("mesh.gateway")


@dataclass
class RunningGateway:
    """A started gateway: where it listens and what it serves."""

    config: GatewayConfig
    state: GatewayState
    compiled: Compiled
    port: int
    connectors: Mapping[str, Connector]
    grpc_port: int | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.config.tls is not None else "http"
        return f"{scheme}://{self.config.listen.host}:{self.port}"

    def reload(self) -> Compiled:
        """Recompile the documents and swap the route table; endpoints must stay the same.

        Raises ``SpecError`` (the running table is kept) when a document is now invalid or needs
        an endpoint the gateway did not start.
        """
        compiled = load(self.config, self.connectors)
        if (compiled.endpoints, compiled.upstreams) != (
            self.compiled.endpoints,
            self.compiled.upstreams,
        ):
            needed = ", ".join(sorted(compiled.endpoints))
            problem = f"the documents now need other endpoints ({needed}); restart the gateway"
            raise SpecError([SpecProblem("reload", "", problem)])
        self.state.routes = compiled.routes
        self.state.operations = compiled.operations
        self.compiled = compiled
        return compiled


def load(config: GatewayConfig, connectors: Mapping[str, Connector]) -> Compiled:
    """Load every configured document and compile them; raise ``SpecError`` on any problem."""
    protocols = frozenset(p for c in connectors.values() for p in c.protocols)
    workspace = Workspace()
    entries = [*config.specs, *(SpecEntry(path=p) for p in _live_files(config))]
    documents = [(load_document(entry.path, workspace), entry) for entry in entries]
    compiled = compile_gateway(documents, config, protocols)
    for doc, _ in documents:
        for problem in doc.warnings:
            log.warning("%s", problem)
    for warning in compiled.warnings:
        log.warning("%s", warning)
    return compiled


@asynccontextmanager
async def serve(
    config: GatewayConfig, connectors: Mapping[str, Connector] | None = None
) -> AsyncIterator[RunningGateway]:
    """Run the gateway until the block exits; the caller handles signals."""
    connectors = connectors if connectors is not None else load_connectors()
    compiled = load(config, connectors)
    _check_acl_channels(config, compiled)
    async with AsyncExitStack() as stack:
        endpoints = await _start_endpoints(stack, compiled, config, connectors)
        keys = key_store(config)
        extra = _extra_routes(config, keys)
        _check_addresses(compiled, endpoints)
        state = GatewayState(
            routes=compiled.routes,
            endpoints=endpoints,
            settings=entrypoint_settings(config),
            idempotency=IdempotencyStore(
                config.idempotency.ttl_seconds, config.idempotency.max_entries
            ),
            describe=describe,
            operations=compiled.operations,
            upstreams=await _start_upstreams(stack, compiled, config),
            auth=Authenticator(compiled.schemes, keys, _verifiers(config)),
            limits=await _limiter(stack, config),
            acls=_acls(config),
        )
        runner = web.AppRunner(
            build_app(state, [route.add_routes for route in extra]),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=config.drain_seconds + 1,
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        tls = _listener_tls(config)
        context = None if tls is None else tls.ssl_context()
        site = web.TCPSite(
            runner, config.listen.host, config.listen.port, backlog=1024, ssl_context=context
        )
        await site.start()
        if tls is not None and context is not None:
            watching = asyncio.create_task(tls.watch(context), name="tls-reload")
            stack.push_async_callback(_cancel, watching)
        grpc_port = await _start_grpc(stack, state, config)
        stack.push_async_callback(_drain, state, config.drain_seconds)
        port = _bound_port(runner)
        log.info(
            "serving %d routes on http://%s:%d",
            len(compiled.routes.routes),
            config.listen.host,
            port,
        )
        running = RunningGateway(config, state, compiled, port, connectors, grpc_port)
        for route in extra:
            if isinstance(route, CatalogApi):
                route.reload = running.reload
                database = route.catalog.database
                if isinstance(database, Postgres):  # other gateways put versions live too
                    watching = asyncio.create_task(database.watch(_reloading(running)))
                    stack.push_async_callback(_cancel, watching)
        yield running


async def _start_grpc(
    stack: AsyncExitStack, state: GatewayState, config: GatewayConfig
) -> int | None:
    if not config.grpc.enabled:
        return None
    server = GrpcServer(state, config.grpc.host, config.grpc.port, _listener_tls(config))
    port = await server.start()
    stack.push_async_callback(server.stop, config.drain_seconds)
    log.info("serving gRPC (mesh.v1.Gateway) on %s:%d", config.grpc.host, port)
    return port


async def _start_endpoints(
    stack: AsyncExitStack,
    compiled: Compiled,
    config: GatewayConfig,
    connectors: Mapping[str, Connector],
) -> dict[str, Endpoint]:
    by_protocol = {p: c for c in connectors.values() for p in c.protocols}
    endpoints: dict[str, Endpoint] = {}
    for name, settings in compiled.endpoints.items():
        endpoint = by_protocol[settings.protocol].create(connector_settings(settings, config))
        await endpoint.start()
        stack.push_async_callback(endpoint.close)
        endpoints[name] = endpoint
    return endpoints


async def _start_upstreams(
    stack: AsyncExitStack, compiled: Compiled, config: GatewayConfig
) -> dict[str, Upstream]:
    options = HttpOptions(
        connect_timeout=config.http.connect_timeout_seconds,
        eject_after=config.http.eject_after_failures,
        eject_seconds=config.http.eject_seconds,
        max_connections=config.http.max_connections,
    )
    upstreams: dict[str, Upstream] = {}
    for name, settings in compiled.upstreams.items():
        upstream = HttpUpstream(name, settings.hosts, options)
        await upstream.start()
        stack.push_async_callback(upstream.close)
        upstreams[name] = upstream
    return upstreams


def _listener_tls(config: GatewayConfig) -> ListenerTls | None:
    tls = config.tls
    if tls is None:
        return None
    return ListenerTls(
        cert_file=tls.cert_file,
        key_file=tls.key_file,
        client_ca_file=tls.client_ca_file,
        client_certificates=tls.client_certificates if tls.client_ca_file else "none",
        reload_seconds=tls.reload_seconds,
    )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


def key_store(config: GatewayConfig) -> KeyStore | None:
    """The API key store the config describes, its secret read now."""
    keys = config.auth.keys
    if keys is None:
        return None
    return KeyStore(keys.file, keys.secret.reveal(), keys.reload_seconds)


def _verifiers(config: GatewayConfig) -> dict[str, JwtVerifier]:
    verifiers = {}
    for name, jwt in config.auth.jwt.items():
        public_key = (
            jwt.public_key_file.read_text(encoding="utf-8") if jwt.public_key_file else None
        )
        settings = JwtSettings(
            algorithms=tuple(jwt.algorithms),
            issuer=jwt.issuer,
            audience=jwt.audience,
            public_key=public_key,
            secret=jwt.secret.reveal() if jwt.secret else None,
            jwks_url=jwt.jwks_url,
            leeway_seconds=jwt.leeway_seconds,
            scopes_claim=jwt.scopes_claim,
            refetch_seconds=jwt.refetch_seconds,
        )
        verifiers[name] = JwtVerifier(name, settings)
    return verifiers


async def _limiter(stack: AsyncExitStack, config: GatewayConfig) -> Limiter:
    quotas = config.quotas
    store: QuotaStore = (
        RedisStore(quotas.redis_url, quotas.timeout_ms / 1000, quotas.fail == "open")
        if quotas.store == "redis"
        else MemoryStore()
    )
    stack.push_async_callback(store.close)
    plans = {name: _plan(name, plan) for name, plan in config.plans.items()}
    return Limiter(plans, store, quotas.default_plan, quotas.anonymous_plan, quotas.plan_claim)


def _check_acl_channels(config: GatewayConfig, compiled: Compiled) -> None:
    """A rule naming a channel no route serves would protect nothing: refuse to start."""
    served = {route.path.text for route in compiled.routes.routes}
    for index, rule in enumerate(config.acl):
        for channel in rule.channels:
            if channel not in served:
                raise ValueError(f"acl[{index}] names {channel!r}, which no route serves")


def _acls(config: GatewayConfig) -> Acls:
    return Acls(
        tuple(
            AclRule(
                channels=frozenset(rule.channels),
                actions=frozenset(Action(a) for a in rule.actions),
                keys=frozenset(rule.keys),
                subjects=frozenset(rule.subjects),
                scopes=frozenset(rule.scopes),
                groups=frozenset(rule.groups),
                claims=dict(rule.claims),
                parameters=dict(rule.parameters),
                groups_claim=rule.groups_claim,
            )
            for rule in config.acl
        )
    )


def _plan(name: str, plan: PlanConfig) -> Plan:
    limits = []
    for limit in plan.limits:
        measure, amount = next(
            (Measure(m), getattr(limit, m)) for m in MEASURES if getattr(limit, m) is not None
        )
        limits.append(Limit(measure, amount, PERIODS[limit.per], Algorithm(limit.algorithm)))
    return Plan(name, tuple(limits), plan.max_streams)


def _extra_routes(config: GatewayConfig, keys: KeyStore | None) -> list[AdminKeys | CatalogApi]:
    """The admin API (API keys) and the catalog, where the config enables them."""
    routes: list[AdminKeys | CatalogApi] = []
    token = config.auth.admin_token
    if keys is not None and token is not None:
        routes.append(AdminKeys(keys, token.reveal()))
    if config.catalog is not None and token is not None:
        catalog = open_catalog(config.catalog)
        routes.append(
            CatalogApi(
                catalog, token.reveal(), config.catalog.public_read, config.catalog.refuse_breaking
            )
        )
    return routes


def _reloading(running: RunningGateway) -> Callable[[], None]:
    def reload() -> None:
        try:
            running.reload()
        except SpecError as exc:
            log.warning("catalog change not served: %s", exc)

    return reload


def _live_files(config: GatewayConfig) -> list[Path]:
    """Documents the catalog put live: served besides the configured ones, after restarts too."""
    if config.catalog is None:
        return []
    return open_catalog(config.catalog).live_files()


def _check_addresses(compiled: Compiled, endpoints: Mapping[str, Endpoint]) -> None:
    """Refuse literal addresses the backend cannot use, at load rather than per request."""
    problems = []
    for route in compiled.routes.routes:
        if not route.address.is_literal:
            continue
        try:
            action = Action.PUBLISH if Action.PUBLISH in route.actions else Action.SUBSCRIBE
            endpoints[route.endpoint].check_address(route.address.text, action)
        except InvalidParameter as exc:
            file, _, pointer = route.id.rpartition("#")
            problems.append(SpecProblem(file, pointer + "/address", exc.detail))
    if problems:
        raise SpecError(problems)


async def _drain(state: GatewayState, seconds: float) -> None:
    """Tell streams to end with their final event, and give them ``seconds`` to do so."""
    state.closing.set()
    state.wake_streams()
    if state.streams:
        await asyncio.wait(set(state.streams), timeout=seconds)


def _bound_port(runner: web.AppRunner) -> int:
    address: Any = runner.addresses[0]
    return int(address[1])


def entrypoint_settings(config: GatewayConfig) -> EntrypointSettings:
    return EntrypointSettings(
        max_body_bytes=config.limits.max_body_bytes,
        max_batch_messages=config.limits.max_batch_messages,
        publish_timeout=config.publish.timeout_seconds,
        subscribe_timeout=config.kafka.connect_timeout_seconds,
        heartbeat_seconds=config.sse.heartbeat_seconds,
        retry_ms=config.sse.retry_ms,
        stream_batch_limit=config.sse.batch_limit,
        write_timeout=config.sse.write_timeout_seconds,
        ws_max_frame=config.websocket.max_frame_bytes,
        ws_ping_interval=config.websocket.ping_interval_seconds,
        ws_max_in_flight=config.websocket.max_in_flight,
        poll_default_limit=config.poll.default_limit,
        poll_max_limit=config.poll.max_limit,
        poll_max_wait=config.poll.max_wait_seconds,
        cors_origins=frozenset(config.cors.allow_origins),
        cors_headers=tuple(config.cors.allow_headers),
        cors_expose=tuple(config.cors.expose_headers),
        cors_credentials=config.cors.allow_credentials,
        cors_max_age=config.cors.max_age_seconds,
        trusted_proxies=networks(config.trusted_proxies),
    )


def connector_settings(settings: EndpointSettings, config: GatewayConfig) -> EndpointSettings:
    """Turn compiled settings into the plain options a connector reads, revealing secrets now."""
    given = settings.options
    options: dict[str, Any] = {"secure": bool(given.get("secure"))}
    if settings.protocol == "kafka":
        options.update(
            fetch_max_wait_ms=config.kafka.fetch_max_wait_ms,
            connect_timeout=config.kafka.connect_timeout_seconds,
            linger_ms=config.kafka.linger_ms,
            max_request_size=config.kafka.max_request_size,
            client_buffer=config.kafka.client_buffer_messages,
        )
    elif settings.protocol == "mqtt":
        mqtt = config.mqtt
        options.update(
            binding=given.get("binding"),
            username=None if given.get("username") is None else _reveal(given["username"]),
            password=None if given.get("password") is None else given["password"].reveal(),
            client_id=given.get("client_id"),
            qos=mqtt.qos,
            connect_timeout=mqtt.connect_timeout_seconds,
            reconnect_max=mqtt.reconnect_max_seconds,
            replay_messages=mqtt.replay_messages,
            linger_seconds=mqtt.linger_seconds,
        )
    else:
        return EndpointSettings(settings.name, settings.protocol, settings.hosts, {})
    sasl: SaslConfig | None = given.get("sasl")
    if sasl is not None:
        options["sasl_mechanism"] = sasl.mechanism
        options["sasl_username"] = _reveal(sasl.username)
        options["sasl_password"] = sasl.password.reveal()
    tls: TlsConfig | None = given.get("tls")
    if tls is not None:
        options.update(
            tls_ca_file=_path(tls.ca_file),
            tls_cert_file=_path(tls.cert_file),
            tls_key_file=_path(tls.key_file),
            tls_check_hostname=tls.check_hostname,
            tls_key_password=tls.key_password.reveal() if tls.key_password else None,
        )
    return EndpointSettings(settings.name, settings.protocol, settings.hosts, options)


def _reveal(value: str | Secret) -> str:
    return value if isinstance(value, str) else value.reveal()


def _path(value: Any) -> str | None:
    return None if value is None else str(value)
