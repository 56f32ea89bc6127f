"""The OpenAPI 3.1 object model: strict on the objects the gateway reads, open on schemas.

Schema Objects are JSON Schema 2020-12 and are checked by compiling them; everything else refuses
unknown fields except ``x-`` extensions, as the specification does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AnyUrl, Field, model_validator

from mesh.specs.model import Ref, SpecObject

__all__ = ["OpenApi", "OpenApiOperation", "PathItem"]

Schema = dict[str, Any] | bool


class Contact(SpecObject):
    name: str | None = None
    url: AnyUrl | None = None
    email: str | None = None


class License(SpecObject):
    name: str
    identifier: str | None = None
    url: AnyUrl | None = None


class Info(SpecObject):
    title: str
    version: str
    summary: str | None = None
    description: str | None = None
    termsOfService: str | None = None
    contact: Contact | None = None
    license: License | None = None


class ExternalDocs(SpecObject):
    url: str
    description: str | None = None


class Tag(SpecObject):
    name: str
    description: str | None = None
    externalDocs: ExternalDocs | None = None


class ServerVariable(SpecObject):
    default: str
    enum: list[str] | None = None
    description: str | None = None


class Server(SpecObject):
    url: str
    description: str | None = None
    variables: dict[str, ServerVariable] | None = None


class Example(SpecObject):
    summary: str | None = None
    description: str | None = None
    value: Any = None
    externalValue: str | None = None


class MediaType(SpecObject):
    schema_: Schema | None = Field(default=None, alias="schema")
    example: Any = None
    examples: dict[str, Ref[Example]] | None = None
    encoding: dict[str, Any] | None = None


class Parameter(SpecObject):
    name: str
    in_: Literal["query", "header", "path", "cookie"] = Field(alias="in")
    description: str | None = None
    required: bool = False
    deprecated: bool = False
    allowEmptyValue: bool = False
    style: str | None = None
    explode: bool | None = None
    allowReserved: bool = False
    schema_: Schema | None = Field(default=None, alias="schema")
    example: Any = None
    examples: dict[str, Ref[Example]] | None = None
    content: dict[str, MediaType] | None = None

    @model_validator(mode="after")
    def _path_is_required(self) -> Parameter:
        if self.in_ == "path" and not self.required:
            raise ValueError("a path parameter must have 'required: true'")
        return self


class Header(SpecObject):
    description: str | None = None
    required: bool = False
    deprecated: bool = False
    schema_: Schema | None = Field(default=None, alias="schema")
    example: Any = None
    examples: dict[str, Ref[Example]] | None = None
    content: dict[str, MediaType] | None = None
    style: str | None = None
    explode: bool | None = None


class RequestBody(SpecObject):
    content: dict[str, MediaType]
    description: str | None = None
    required: bool = False


class Link(SpecObject):
    operationRef: str | None = None
    operationId: str | None = None
    parameters: dict[str, Any] | None = None
    requestBody: Any = None
    description: str | None = None
    server: Server | None = None


class Response(SpecObject):
    description: str
    headers: dict[str, Ref[Header]] | None = None
    content: dict[str, MediaType] | None = None
    links: dict[str, Ref[Link]] | None = None


class OpenApiOperation(SpecObject):
    tags: list[str] | None = None
    summary: str | None = None
    description: str | None = None
    externalDocs: ExternalDocs | None = None
    operationId: str | None = None
    parameters: list[Ref[Parameter]] | None = None
    requestBody: Ref[RequestBody] | None = None
    responses: dict[str, Ref[Response]] | None = None
    callbacks: dict[str, Any] | None = None
    deprecated: bool = False
    security: list[dict[str, list[str]]] | None = None
    servers: list[Server] | None = None


class PathItem(SpecObject):
    ref: str | None = Field(default=None, alias="$ref")
    summary: str | None = None
    description: str | None = None
    get: OpenApiOperation | None = None
    put: OpenApiOperation | None = None
    post: OpenApiOperation | None = None
    delete: OpenApiOperation | None = None
    options: OpenApiOperation | None = None
    head: OpenApiOperation | None = None
    patch: OpenApiOperation | None = None
    trace: OpenApiOperation | None = None
    servers: list[Server] | None = None
    parameters: list[Ref[Parameter]] | None = None


class SecurityScheme(SpecObject):
    type: Literal["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"]
    description: str | None = None
    name: str | None = None
    in_: Literal["query", "header", "cookie"] | None = Field(default=None, alias="in")
    scheme: str | None = None
    bearerFormat: str | None = None
    flows: dict[str, Any] | None = None
    openIdConnectUrl: str | None = None

    @model_validator(mode="after")
    def _fields_fit_type(self) -> SecurityScheme:
        needs = {
            "apiKey": ("name", "in_"),
            "http": ("scheme",),
            "oauth2": ("flows",),
            "openIdConnect": ("openIdConnectUrl",),
        }.get(self.type, ())
        missing = [n.rstrip("_") for n in needs if getattr(self, n) is None]
        if missing:
            raise ValueError(f"a {self.type!r} scheme needs {', '.join(missing)}")
        return self


class Components(SpecObject):
    schemas: dict[str, Schema] | None = None
    responses: dict[str, Ref[Response]] | None = None
    parameters: dict[str, Ref[Parameter]] | None = None
    examples: dict[str, Ref[Example]] | None = None
    requestBodies: dict[str, Ref[RequestBody]] | None = None
    headers: dict[str, Ref[Header]] | None = None
    securitySchemes: dict[str, Ref[SecurityScheme]] | None = None
    links: dict[str, Ref[Link]] | None = None
    callbacks: dict[str, Any] | None = None
    pathItems: dict[str, Ref[PathItem]] | None = None


class OpenApi(SpecObject):
    openapi: str = Field(pattern=r"^3\.1\.\d+(-.+)?$")
    info: Info
    jsonSchemaDialect: str | None = None
    servers: list[Server] | None = None
    paths: dict[str, PathItem] | None = None
    webhooks: dict[str, Ref[PathItem]] | None = None
    components: Components | None = None
    security: list[dict[str, list[str]]] | None = None
    tags: list[Tag] | None = None
    externalDocs: ExternalDocs | None = None

    @model_validator(mode="after")
    def _has_content(self) -> OpenApi:
        if self.paths is None and self.webhooks is None and self.components is None:
            raise ValueError("an OpenAPI 3.1 document needs 'paths', 'webhooks' or 'components'")
        bad = [p for p in self.paths or {} if not p.startswith("/")]
        if bad:
            raise ValueError(f"path(s) {bad} must start with '/'")
        return self
