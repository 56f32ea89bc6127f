"""Compile OpenAPI 3.1 documents into operations: each proxied to the document's HTTP servers, or
linked to a channel route with ``x-mesh.channel``.

Servers apply as OpenAPI says: an operation's ``servers`` replace its path item's, which replace
the document's; the spec entry's ``upstreams`` replace them all. Several URLs form one upstream,
balanced round-robin; operations with the same URLs share it. Parameters (path, query, header,
cookie) and JSON request bodies are checked against their schemas before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs

from mesh.config import GatewayConfig, SpecEntry
from mesh.core.address import parse_template
from mesh.core.auth import Requirement
from mesh.core.connector import EndpointSettings
from mesh.core.pointer import escape
from mesh.core.proxy import BodyCheck, Location, Operation, ParameterCheck
from mesh.specs.document import Document
from mesh.specs.extension import OpenApiExtension, OperationExtension, read_extension
from mesh.specs.problems import SpecError, SpecProblem
from mesh.specs.schemas import SchemaCompiler
from mesh.specs.security import Schemes

__all__ = ["OperationsBuilder"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass
class OperationsBuilder:
    """Collects the operations of every OpenAPI document and the upstreams they need."""

    config: GatewayConfig
    schemes: Schemes
    operations: list[Operation] = field(default_factory=list)
    upstreams: dict[str, EndpointSettings] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add_document(self, doc: Document, entry: SpecEntry, base: str) -> None:
        defaults = read_extension(
            OpenApiExtension, doc.data.get("x-mesh"), str(doc.path), ("x-mesh",)
        )
        base = base or _base(defaults.basePath if defaults else None)
        compiler = SchemaCompiler(doc.workspace.files, draft=jsonschema_rs.Draft202012)
        root_servers = doc.data.get("servers")
        for path, raw_item, item_pointer in doc.entries("paths"):
            item = doc.locate(raw_item, doc.path, item_pointer)
            value: dict[str, Any] = item.value or {}
            for method in METHODS:
                if method not in value:
                    continue
                pointer = f"{item.pointer}/{method}"
                located = doc.locate(value[method], item.file, pointer)
                operation = self._operation(
                    doc,
                    entry,
                    defaults,
                    compiler,
                    (base + path, path, method.upper()),
                    (value, located.value, item.file, item.pointer, located.pointer),
                    located.value.get("servers") or value.get("servers") or root_servers,
                )
                if operation is not None:
                    self.operations.append(operation)
                    self.origins[operation.id] = f"{doc.path}: {located.pointer}"

    def _operation(
        self,
        doc: Document,
        entry: SpecEntry,
        defaults: OpenApiExtension | None,
        compiler: SchemaCompiler,
        where: tuple[str, str, str],
        found: tuple[dict[str, Any], dict[str, Any], Path, str, str],
        servers: Any,
    ) -> Operation | None:
        gateway_path, path, method = where
        item, operation, file, item_pointer, pointer = found
        ext: OperationExtension | None = read_extension(
            OperationExtension, operation.get("x-mesh"), str(file), (pointer, "x-mesh")
        )
        channel = ext.channel if ext else None
        urls = entry.upstreams or _urls(servers or [])
        upstream = self._upstream(urls) if urls and channel is None else None
        if upstream is None and channel is None:
            self.warnings.append(
                f"{doc.path}: {pointer}: skipped: no http(s) server to proxy to "
                "and no x-mesh.channel"
            )
            return None
        http = self.config.http

        def pick(name: str, fallback: Any) -> Any:
            for source in (ext, defaults):
                value = getattr(source, name, None) if source else None
                if value is not None:
                    return value
            return fallback

        return Operation(
            id=f"{doc.path}#{pointer}",
            method=method,
            path=parse_template(gateway_path),
            upstream_path=path,
            upstream=upstream,
            parameters=_parameters(doc, compiler, item, operation, file, item_pointer, pointer),
            body=_body(doc, compiler, operation.get("requestBody"), file, pointer),
            timeout=float(pick("timeoutSeconds", http.timeout_seconds)),
            retries=int(pick("retries", http.retries)),
            channel=parse_template(channel) if channel else None,
            security=self._security(doc, operation, pointer),
        )

    def _security(
        self, doc: Document, operation: Mapping[str, Any], pointer: str
    ) -> Requirement | None:
        requirement = self.schemes.openapi(doc, operation, pointer)
        return None if requirement.open else requirement

    def _upstream(self, urls: list[str]) -> str:
        """Share one upstream between operations with the same URLs."""
        hosts = tuple(urls)
        for name, known in self.upstreams.items():
            if known.hosts == hosts:
                return name
        base = urlsplit(urls[0]).hostname or "upstream"
        name, n = base, 2
        while name in self.upstreams:
            name, n = f"{base}-{n}", n + 1
        self.upstreams[name] = EndpointSettings(name, "http", hosts)
        return name


def _base(value: str | None) -> str:
    value = (value or "").strip()
    if value and not value.startswith("/"):
        value = "/" + value
    return value.rstrip("/")


def _urls(servers: list[Any]) -> list[str]:
    urls = []
    for server in servers:
        url = str(server.get("url", ""))
        for name, variable in (server.get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(variable.get("default", "")))
        if urlsplit(url).scheme in ("http", "https"):
            urls.append(url.rstrip("/"))
    return urls


def _parameters(
    doc: Document,
    compiler: SchemaCompiler,
    item: Mapping[str, Any],
    operation: Mapping[str, Any],
    file: Path,
    item_pointer: str,
    pointer: str,
) -> tuple[ParameterCheck, ...]:
    """Path item parameters, replaced by the operation's of the same name and location."""
    found: dict[tuple[str, str], ParameterCheck] = {}
    for owner, where in ((item, item_pointer), (operation, pointer)):
        for index, raw in enumerate(owner.get("parameters") or []):
            located = doc.locate(raw, file, f"{where}/parameters/{index}")
            value = located.value
            schema = value.get("schema")
            check = None
            if isinstance(schema, dict | bool):
                check = _compile(compiler, located.file, located.pointer + "/schema")
            kind = schema.get("type") if isinstance(schema, dict) else None
            location = Location(value["in"])
            name = value["name"] if location is not Location.HEADER else value["name"].lower()
            found[(name, location.value)] = ParameterCheck(
                name=name,
                location=location,
                required=bool(value.get("required")) or location is Location.PATH,
                kind=kind if isinstance(kind, str) else None,
                check=check,
            )
    return tuple(found.values())


def _body(
    doc: Document, compiler: SchemaCompiler, raw: Any, file: Path, pointer: str
) -> BodyCheck | None:
    if raw is None:
        return None
    located = doc.locate(raw, file, pointer + "/requestBody")
    media = {}
    for media_type, value in (located.value.get("content") or {}).items():
        schema_pointer = f"{located.pointer}/content/{escape(media_type)}/schema"
        has_schema = isinstance(value, dict) and "schema" in value
        media[media_type.split(";")[0].strip().lower()] = (
            _compile(compiler, located.file, schema_pointer) if has_schema else None
        )
    return BodyCheck(bool(located.value.get("required")), media)


def _compile(compiler: SchemaCompiler, file: Path, pointer: str) -> Any:
    try:
        return compiler.compile(file, pointer)
    except ValueError as exc:
        raise SpecError([SpecProblem(str(file), pointer, str(exc))]) from exc
