"""Compile loaded AsyncAPI documents and the gateway config into routes and endpoint settings.

The direction rule: a channel with a ``send`` operation can be subscribed to through the gateway,
one with a ``receive`` operation can be published to. ``x-mesh.actions`` (document or channel) and
the gateway config's ``actions`` replace it. A channel uses its ``servers`` (all the document's
when absent) whose protocol a connector serves; ``x-mesh.server`` or the config's ``server`` picks
one when several match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mesh.config import GatewayConfig, ServerOverride, SpecEntry
from mesh.core.address import parse_template
from mesh.core.auth import Requirement, Scheme
from mesh.core.connector import EndpointSettings
from mesh.core.pointer import escape, split_pointer
from mesh.core.policy import Policy, PolicyChain
from mesh.core.proxy import OperationTable
from mesh.core.routes import Action, ChannelMessage, KeySource, Route, RouteTable
from mesh.policies import KeyFromField, NameByMessage, SchemaValidation
from mesh.specs import asyncapi as aa
from mesh.specs.bindings import bindings as server_bindings
from mesh.specs.bindings import operation_bindings
from mesh.specs.checks import channel_messages
from mesh.specs.compile_openapi import OperationsBuilder
from mesh.specs.document import Document, Kind
from mesh.specs.extension import ChannelExtension, DocumentExtension, read_extension
from mesh.specs.paths import RESERVED_PATHS, overlap, reserved
from mesh.specs.problems import SpecError, SpecProblem
from mesh.specs.schemas import SchemaCompiler, payload_location
from mesh.specs.security import Schemes

__all__ = ["RESERVED_PATHS", "Compiled", "compile_gateway"]

DEFAULT_CONTENT_TYPE = "application/json"
# secure protocol names -> the protocol their connector serves
_SECURE = {
    "kafka-secure": "kafka",
    "mqtts": "mqtt",
    "secure-mqtt": "mqtt",
    "https": "http",
    "wss": "ws",
}


@dataclass(frozen=True)
class Compiled:
    """What the gateway serves: channel routes and the endpoints they need, OpenAPI operations
    and the upstreams they need, and load warnings."""

    routes: RouteTable
    endpoints: Mapping[str, EndpointSettings]
    warnings: Sequence[str] = field(default_factory=tuple)
    operations: OperationTable = field(default_factory=OperationTable)
    upstreams: Mapping[str, EndpointSettings] = field(default_factory=dict)
    schemes: Mapping[str, Scheme] = field(default_factory=dict)


def compile_gateway(
    documents: Sequence[tuple[Document, SpecEntry]],
    config: GatewayConfig,
    protocols: frozenset[str],
) -> Compiled:
    """Build routes for every channel; raise ``SpecError`` on any collision or misconfiguration.

    ``protocols`` are the server protocols the registered connectors serve.
    """
    schemes = Schemes(config)
    builder = _Builder(config, protocols, schemes)
    operations = OperationsBuilder(config, schemes)
    for doc, entry in documents:
        if doc.kind is Kind.ASYNCAPI:
            builder.add_document(doc, entry)
        else:
            operations.add_document(doc, entry, _base_path(entry.base_path or ""))
    builder.check_collisions()
    _check_operations(builder, operations)
    return Compiled(
        RouteTable(builder.routes),
        dict(builder.endpoints),
        tuple(builder.warnings + operations.warnings),
        OperationTable(tuple(operations.operations)),
        dict(operations.upstreams),
        dict(schemes.found),
    )


class _Builder:
    def __init__(self, config: GatewayConfig, protocols: frozenset[str], schemes: Schemes) -> None:
        self.config = config
        self.protocols = protocols
        self.schemes = schemes
        self.routes: list[Route] = []
        self.origins: dict[str, str] = {}
        self.endpoints: dict[str, EndpointSettings] = {}
        self.warnings: list[str] = []

    def add_document(self, doc: Document, entry: SpecEntry) -> None:
        model: aa.AsyncApi = doc.model
        ext = read_extension(
            DocumentExtension, model.extension("x-mesh"), str(doc.path), ("x-mesh",)
        )
        assert ext is None or isinstance(ext, DocumentExtension)
        base = _base_path(entry.base_path or (ext.basePath if ext else None) or "")
        compiler = SchemaCompiler(doc.workspace.files)
        before = len(self.routes)
        for channel_id, raw, pointer in doc.entries("channels"):
            channel = doc.resolve(raw, aa.Channel, doc.path, pointer)
            route = self._route(doc, entry, ext, base, channel_id, channel, compiler)
            if route is not None:
                self.routes.append(route)
                self.origins[route.id] = f"{doc.path}: {pointer}"
        if len(self.routes) == before:
            raise SpecError(
                [
                    SpecProblem(
                        str(doc.path),
                        "/channels",
                        "no channel can be served: none has an address, an operation and a server "
                        f"whose protocol is one of {sorted(self.protocols)}",
                    )
                ]
            )

    def _route(
        self,
        doc: Document,
        entry: SpecEntry,
        doc_ext: DocumentExtension | None,
        base: str,
        channel_id: str,
        channel: Any,
        compiler: SchemaCompiler,
    ) -> Route | None:
        value: aa.Channel = channel.value
        where = f"{doc.path}: {channel.pointer}"
        ext = read_extension(
            ChannelExtension,
            value.extension("x-mesh"),
            str(channel.file),
            (*split_pointer(channel.pointer), "x-mesh"),
        )
        if value.address is None:
            self.warnings.append(f"{where}: skipped: the channel has no address")
            return None
        actions = self._actions(doc, entry, doc_ext, ext, channel_id, channel.pointer)
        if not actions:
            self.warnings.append(f"{where}: skipped: no operation lets clients use it")
            return None
        server = self._server(doc, entry, doc_ext, ext, value, where)
        if server is None:
            return None
        template = parse_template(value.address)
        messages = _messages(doc, channel, compiler)
        protocol = self.endpoints[server].protocol
        key = (ext and ext.key) or (doc_ext and doc_ext.key)
        headers = (ext and ext.headers) or (doc_ext and doc_ext.headers) or []
        return Route(
            id=f"{doc.path}#{channel.pointer}",
            path=parse_template(base + "/" + value.address.lstrip("/")),
            address=template,
            endpoint=server,
            actions=actions,
            messages=messages,
            parameters=_parameters(doc, value, channel),
            key=KeySource(key.header, key.query, key.field) if key else KeySource(),
            forward_headers=tuple(dict.fromkeys([*self.config.forward_headers, *headers])),
            publish_chain=_publish_chain(messages, key.field if key else None),
            subscribe_chain=PolicyChain((NameByMessage(messages),)),
            title=value.title or value.summary,
            description=value.description,
            bindings=operation_bindings(doc, channel.pointer, protocol),
            security=self._stated(doc, entry, doc_ext, ext, self._security(doc, channel.pointer)),
        )

    def _stated(
        self,
        doc: Document,
        entry: SpecEntry,
        doc_ext: DocumentExtension | None,
        ext: ChannelExtension | None,
        found: dict[Action, Requirement],
    ) -> dict[Action, Requirement]:
        """Requirements stated outright replace the operations': the gateway config's, then the
        channel's ``x-mesh``, then the document's."""
        stated = dict(found)
        for action in Action:
            for source, where in (
                (entry.security, "gateway config"),
                (ext and ext.security, "x-mesh"),
                (doc_ext and doc_ext.security, "x-mesh"),
            ):
                listed = getattr(source, action.value, None) if source else None
                if listed is None:
                    continue
                requirement = self.schemes.objects(doc, listed, f"/{where}/{action.value}")
                if requirement.open:
                    stated.pop(action, None)
                else:
                    stated[action] = requirement
                break
        return stated

    def _security(self, doc: Document, channel_pointer: str) -> dict[Action, Requirement]:
        """Per action, the alternatives of every operation granting it; open if one is open."""
        found: dict[Action, list[Requirement]] = {}
        for _, raw, pointer in doc.entries("operations"):
            located = doc.locate(raw, doc.path, pointer)
            op = aa.Operation.model_validate(located.value)
            if doc.workspace.resolve(op.channel.ref, doc.path).pointer != channel_pointer:
                continue
            action = Action.SUBSCRIBE if op.action == "send" else Action.PUBLISH
            requirement = self.schemes.asyncapi(doc, located.value, located.pointer)
            found.setdefault(action, []).append(requirement)
        return {
            action: Requirement(tuple(a for r in requirements for a in r.alternatives))
            for action, requirements in found.items()
            if not any(r.open for r in requirements)
        }

    def _actions(
        self,
        doc: Document,
        entry: SpecEntry,
        doc_ext: DocumentExtension | None,
        ext: ChannelExtension | None,
        channel_id: str,
        pointer: str,
    ) -> frozenset[Action]:
        override = entry.channels.get(channel_id)
        chosen = (
            (override and override.actions)
            or entry.actions
            or (ext and ext.actions)
            or (doc_ext and doc_ext.actions)
        )
        if chosen is not None:
            return frozenset(Action(a) for a in chosen)
        found: set[Action] = set()
        for _, raw, op_pointer in doc.entries("operations"):
            op = doc.resolve(raw, aa.Operation, doc.path, op_pointer).value
            if doc.workspace.resolve(op.channel.ref, doc.path).pointer == pointer:
                found.add(Action.SUBSCRIBE if op.action == "send" else Action.PUBLISH)
        return frozenset(found)

    def _server(
        self,
        doc: Document,
        entry: SpecEntry,
        doc_ext: DocumentExtension | None,
        ext: ChannelExtension | None,
        channel: aa.Channel,
        where: str,
    ) -> str | None:
        # (name, server or reference, where it stands): a channel's own list names servers by
        # reference (into /servers or /components/servers); without one, all the document's
        candidates: list[tuple[str, Any, str]] = (
            [
                (split_pointer(doc.workspace.resolve(ref.ref, doc.path).pointer)[-1], ref, where)
                for ref in channel.servers
            ]
            if channel.servers
            else list(doc.entries("servers"))
        )
        usable = {}
        for name, raw, pointer in candidates:
            server = doc.resolve(raw, aa.Server, doc.path, pointer)
            bindings = server_bindings(doc, server.value.bindings, server.file, server.pointer)
            settings = self._settings(name, server.value, bindings)
            if settings.protocol in self.protocols:
                usable[name] = settings
        wanted = entry.server or (ext and ext.server) or (doc_ext and doc_ext.server)
        if wanted is not None:
            usable = {k: v for k, v in usable.items() if k == wanted}
        if not usable:
            self.warnings.append(
                f"{where}: skipped: no server with a protocol in {sorted(self.protocols)}"
                + (f" named {wanted!r}" if wanted else "")
            )
            return None
        if len(usable) > 1:
            raise SpecError(
                [
                    SpecProblem(
                        str(doc.path),
                        where.split(": ", 1)[1],
                        f"servers {sorted(usable)} all match; pick one with x-mesh.server "
                        "or the gateway config's 'server'",
                    )
                ]
            )
        name, settings = next(iter(usable.items()))
        return self._endpoint(settings)

    def _settings(
        self, name: str, server: aa.Server, bindings: Mapping[str, Any]
    ) -> EndpointSettings:
        override = self.config.servers.get(name) or self.config.servers.get("*") or ServerOverride()
        host = override.host or _server_host(server)
        protocol = (override.protocol or server.protocol).lower()
        served = _SECURE.get(protocol, protocol)
        options: dict[str, Any] = {"secure": protocol in _SECURE or override.tls is not None}
        for option in ("sasl", "tls", "username", "password", "client_id"):
            if getattr(override, option) is not None:
                options[option] = getattr(override, option)
        if bindings.get(served):
            options["binding"] = bindings[served]
        return EndpointSettings(
            name=name,
            protocol=served,
            hosts=tuple(h.strip() for h in host.split(",") if h.strip()),
            options=options,
        )

    def _endpoint(self, settings: EndpointSettings) -> str:
        """Share one endpoint between servers that reach the same brokers the same way."""
        for name, known in self.endpoints.items():
            if (known.protocol, known.hosts, known.options) == (
                settings.protocol,
                settings.hosts,
                settings.options,
            ):
                return name
        name, n = settings.name, 2
        while name in self.endpoints:
            name, n = f"{settings.name}-{n}", n + 1
        self.endpoints[name] = EndpointSettings(
            name, settings.protocol, settings.hosts, settings.options
        )
        return name

    def check_collisions(self) -> None:
        problems = []
        for i, route in enumerate(self.routes):
            reason = reserved(route.path)
            if reason:
                problems.append(self._problem(route, reason))
            for other in self.routes[:i]:
                if overlap(route.path, other.path):
                    problems.append(
                        self._problem(
                            route,
                            f"path {route.path.text!r} collides with {self.origins[other.id]}; "
                            "give one document a base path",
                        )
                    )
        if problems:
            raise SpecError(problems)

    def _problem(self, route: Route, message: str) -> SpecProblem:
        file, pointer = self.origins[route.id].split(": ", 1)
        return SpecProblem(file, pointer + "/address", message)


def _check_operations(builder: _Builder, operations: OperationsBuilder) -> None:
    """Operations may not shadow channels or each other; a linked channel must exist."""
    problems = []
    channels = {route.path.text: route for route in builder.routes}
    seen: dict[tuple[str, str], str] = {}
    for operation in operations.operations:
        file, pointer = operations.origins[operation.id].split(": ", 1)
        where = seen.setdefault((operation.path.text, operation.method), operation.id)
        if where != operation.id:
            problems.append(
                SpecProblem(
                    file,
                    pointer,
                    f"{operation.method} "
                    f"{operation.path.text!r} is also {operations.origins[where]}",
                )
            )
        reason = reserved(operation.path)
        if reason:
            problems.append(SpecProblem(file, pointer, reason))
        for route in builder.routes:
            if overlap(route.path, operation.path):
                problems.append(
                    SpecProblem(
                        file,
                        pointer,
                        f"path {operation.path.text!r} "
                        f"collides with the channel at {builder.origins[route.id]}",
                    )
                )
        if operation.channel is None:
            continue
        linked = channels.get(operation.channel.text)
        if linked is None:
            problems.append(
                SpecProblem(
                    file,
                    pointer + "/x-mesh/channel",
                    f"no channel is served at {operation.channel.text!r}",
                )
            )
        elif set(operation.channel.parameters) - set(operation.path.parameters):
            problems.append(
                SpecProblem(
                    file,
                    pointer + "/x-mesh/channel",
                    "the operation's path does not give every parameter of the channel",
                )
            )
    if problems:
        raise SpecError(problems)


def _base_path(value: str) -> str:
    value = value.strip()
    if value and not value.startswith("/"):
        value = "/" + value
    return value.rstrip("/")


def _server_host(server: aa.Server) -> str:
    host = server.host
    for name, variable in (server.variables or {}).items():
        default = getattr(variable, "default", None)
        if default is not None:
            host = host.replace("{" + name + "}", default)
    return host


def _messages(doc: Document, channel: Any, compiler: SchemaCompiler) -> tuple[ChannelMessage, ...]:
    default = doc.model.defaultContentType or DEFAULT_CONTENT_TYPE
    out = []
    for key, message in channel_messages(doc, channel.value, channel.file, channel.pointer):
        value = _with_traits(doc, message)
        located = doc.locate(value.payload, message.file, message.pointer + "/payload")
        found = None if value.payload is None else payload_location(located.value, located.pointer)
        check = compiler.compile(located.file, found[1]) if found is not None else None
        out.append(
            ChannelMessage(
                name=value.name or key,
                content_type=(value.contentType or default).split(";")[0].strip().lower(),
                accepts=check,
                title=value.title or value.summary,
                payload_schema=compiler.inline(located.file, found[1])
                if found is not None
                else None,
            )
        )
    # a channel that declares no message still carries the document's default content type
    return tuple(out) or (ChannelMessage(name=None, content_type=default.lower()),)


def _with_traits(doc: Document, message: Any) -> aa.Message:
    """Apply message traits: a field the message sets itself wins over its traits'."""
    value: aa.Message = message.value
    merged: dict[str, Any] = {}
    for index, trait in enumerate(value.traits or []):
        found = doc.resolve(
            trait, aa.MessageTrait, message.file, f"{message.pointer}/traits/{index}"
        )
        merged.update(found.value.model_dump(exclude_unset=True, by_alias=True))
    merged.update(value.model_dump(exclude_unset=True, by_alias=True, exclude={"traits"}))
    return aa.Message.model_validate(merged)


def _parameters(
    doc: Document, channel: aa.Channel, located: Any
) -> dict[str, frozenset[str] | None]:
    out: dict[str, frozenset[str] | None] = {}
    for name, raw in (channel.parameters or {}).items():
        pointer = f"{located.pointer}/parameters/{escape(name)}"
        parameter = doc.resolve(raw, aa.Parameter, located.file, pointer).value
        out[name] = frozenset(parameter.enum) if parameter.enum else None
    return out


def _publish_chain(messages: tuple[ChannelMessage, ...], key_field: str | None) -> PolicyChain:
    policies: list[Policy] = [SchemaValidation(messages)]
    if key_field is not None:
        policies.append(KeyFromField(key_field))
    return PolicyChain(tuple(policies))
