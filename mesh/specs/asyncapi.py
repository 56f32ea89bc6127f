"""The AsyncAPI 3.x object model (3.0 and 3.1; 2.6 documents are converted to it on load).

Strict where the specification is: unknown fields are refused except ``x-`` extensions, required
fields are required, enumerations are checked. Schema Objects and bindings stay plain JSON values;
schemas are checked by compiling them (see ``mesh.specs.checks``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AnyUrl, Field, field_validator, model_validator

from mesh.specs.model import Ref, Reference, SpecObject

__all__ = [
    "AsyncApi",
    "Channel",
    "Components",
    "Info",
    "Message",
    "MessageTrait",
    "Operation",
    "Parameter",
    "SecurityScheme",
    "Server",
]

Schema = dict[str, Any] | bool
Bindings = dict[str, Any]


class ExternalDocs(SpecObject):
    url: AnyUrl
    description: str | None = None


class Tag(SpecObject):
    name: str
    description: str | None = None
    externalDocs: Ref[ExternalDocs] | None = None


class Contact(SpecObject):
    name: str | None = None
    url: AnyUrl | None = None
    email: str | None = None


class License(SpecObject):
    name: str
    url: AnyUrl | None = None


class Info(SpecObject):
    title: str
    version: str
    description: str | None = None
    termsOfService: AnyUrl | None = None
    contact: Contact | None = None
    license: License | None = None
    tags: list[Ref[Tag]] | None = None
    externalDocs: Ref[ExternalDocs] | None = None


class ServerVariable(SpecObject):
    enum: list[str] | None = None
    default: str | None = None
    description: str | None = None
    examples: list[str] | None = None


class Server(SpecObject):
    host: str
    protocol: str
    protocolVersion: str | None = None
    pathname: str | None = None
    title: str | None = None
    summary: str | None = None
    description: str | None = None
    variables: dict[str, Ref[ServerVariable]] | None = None
    security: list[Ref[SecurityScheme]] | None = None
    tags: list[Ref[Tag]] | None = None
    externalDocs: Ref[ExternalDocs] | None = None
    bindings: Ref[Bindings] | None = None


class OAuthFlow(SpecObject):
    authorizationUrl: AnyUrl | None = None
    tokenUrl: AnyUrl | None = None
    refreshUrl: AnyUrl | None = None
    availableScopes: dict[str, str] | None = None


class OAuthFlows(SpecObject):
    implicit: OAuthFlow | None = None
    password: OAuthFlow | None = None
    clientCredentials: OAuthFlow | None = None
    authorizationCode: OAuthFlow | None = None


SecuritySchemeType = Literal[
    "userPassword",
    "apiKey",
    "X509",
    "symmetricEncryption",
    "asymmetricEncryption",
    "httpApiKey",
    "http",
    "oauth2",
    "openIdConnect",
    "plain",
    "scramSha256",
    "scramSha512",
    "gssapi",
]

_SCHEME_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # scheme type -> (required fields, further allowed fields); "type" and "description" always are
    "apiKey": ({"in"}, set()),
    "httpApiKey": ({"name", "in"}, set()),
    "http": ({"scheme"}, {"bearerFormat"}),
    "oauth2": ({"flows"}, {"scopes"}),
    "openIdConnect": ({"openIdConnectUrl"}, {"scopes"}),
}


class SecurityScheme(SpecObject):
    type: SecuritySchemeType
    description: str | None = None
    name: str | None = None
    in_: str | None = Field(default=None, alias="in")
    scheme: str | None = None
    bearerFormat: str | None = None
    flows: OAuthFlows | None = None
    openIdConnectUrl: AnyUrl | None = None
    scopes: list[str] | None = None

    @model_validator(mode="after")
    def _fields_fit_type(self) -> SecurityScheme:
        required, optional = _SCHEME_FIELDS.get(self.type, (set(), set()))
        given = {
            name
            for name, field in type(self).model_fields.items()
            if getattr(self, name) is not None and name not in ("type", "description")
            for name in [field.alias or name]
        }
        if missing := required - given:
            raise ValueError(f"a {self.type!r} scheme needs {', '.join(sorted(missing))}")
        if extra := given - required - optional:
            raise ValueError(f"a {self.type!r} scheme takes no {', '.join(sorted(extra))}")
        if self.type == "apiKey" and self.in_ not in ("user", "password"):
            raise ValueError("an 'apiKey' scheme's 'in' must be 'user' or 'password'")
        if self.type == "httpApiKey" and self.in_ not in ("query", "header", "cookie"):
            raise ValueError("an 'httpApiKey' scheme's 'in' must be 'query', 'header' or 'cookie'")
        return self


class CorrelationId(SpecObject):
    location: str
    description: str | None = None


class MessageExample(SpecObject):
    headers: dict[str, Any] | None = None
    payload: Any = None
    name: str | None = None
    summary: str | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> MessageExample:
        if self.headers is None and "payload" not in self.model_fields_set:
            raise ValueError("an example needs 'headers' or 'payload'")
        return self


class MessageTrait(SpecObject):
    contentType: str | None = None
    headers: Schema | Reference | None = None
    correlationId: Ref[CorrelationId] | None = None
    tags: list[Ref[Tag]] | None = None
    summary: str | None = None
    name: str | None = None
    title: str | None = None
    description: str | None = None
    externalDocs: Ref[ExternalDocs] | None = None
    deprecated: bool = False
    examples: list[MessageExample] | None = None
    bindings: Ref[Bindings] | None = None


class Message(MessageTrait):
    payload: Any = None
    traits: list[Ref[MessageTrait]] | None = None


class Parameter(SpecObject):
    enum: list[str] | None = None
    default: str | None = None
    description: str | None = None
    examples: list[str] | None = None
    location: str | None = None


class Channel(SpecObject):
    address: str | None = None
    messages: dict[str, Ref[Message]] | None = None
    parameters: dict[str, Ref[Parameter]] | None = None
    title: str | None = None
    summary: str | None = None
    description: str | None = None
    servers: list[Reference] | None = None
    tags: list[Ref[Tag]] | None = None
    externalDocs: Ref[ExternalDocs] | None = None
    bindings: Ref[Bindings] | None = None


class OperationTrait(SpecObject):
    title: str | None = None
    summary: str | None = None
    description: str | None = None
    security: list[Ref[SecurityScheme]] | None = None
    tags: list[Ref[Tag]] | None = None
    externalDocs: Ref[ExternalDocs] | None = None
    bindings: Ref[Bindings] | None = None


class ReplyAddress(SpecObject):
    location: str
    description: str | None = None


class OperationReply(SpecObject):
    address: Ref[ReplyAddress] | None = None
    channel: Reference | None = None
    messages: list[Reference] | None = None


class Operation(OperationTrait):
    action: Literal["send", "receive"]
    channel: Reference
    messages: list[Reference] | None = None
    reply: Ref[OperationReply] | None = None
    traits: list[Ref[OperationTrait]] | None = None


class Components(SpecObject):
    schemas: dict[str, Any] | None = None
    servers: dict[str, Ref[Server]] | None = None
    channels: dict[str, Ref[Channel]] | None = None
    operations: dict[str, Ref[Operation]] | None = None
    messages: dict[str, Ref[Message]] | None = None
    securitySchemes: dict[str, Ref[SecurityScheme]] | None = None
    serverVariables: dict[str, Ref[ServerVariable]] | None = None
    parameters: dict[str, Ref[Parameter]] | None = None
    correlationIds: dict[str, Ref[CorrelationId]] | None = None
    replies: dict[str, Ref[OperationReply]] | None = None
    replyAddresses: dict[str, Ref[ReplyAddress]] | None = None
    externalDocs: dict[str, Ref[ExternalDocs]] | None = None
    tags: dict[str, Ref[Tag]] | None = None
    operationTraits: dict[str, Ref[OperationTrait]] | None = None
    messageTraits: dict[str, Ref[MessageTrait]] | None = None
    serverBindings: dict[str, Ref[Bindings]] | None = None
    channelBindings: dict[str, Ref[Bindings]] | None = None
    operationBindings: dict[str, Ref[Bindings]] | None = None
    messageBindings: dict[str, Ref[Bindings]] | None = None


class AsyncApi(SpecObject):
    asyncapi: Literal["3.0.0", "3.1.0"]
    id: str | None = None
    info: Info
    servers: dict[str, Ref[Server]] | None = None
    defaultContentType: str | None = None
    channels: dict[str, Ref[Channel]] | None = None
    operations: dict[str, Ref[Operation]] | None = None
    components: Components | None = None

    @field_validator("id")
    @classmethod
    def _id_is_uri(cls, value: str | None) -> str | None:
        if value is not None and ":" not in value:
            raise ValueError("'id' must be a URI (for example urn:example:orders)")
        return value
