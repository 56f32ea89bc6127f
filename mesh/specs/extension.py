"""The ``x-mesh`` extension: what a document or a channel says about how the gateway serves it.

At the document root it sets defaults for every channel; on a channel it overrides them.
``mesh schema x-mesh`` prints the JSON Schema of both for editors.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mesh.config import SecurityOverride, check_forwarded
from mesh.specs.model import problems_from
from mesh.specs.problems import SpecError

__all__ = [
    "ChannelExtension",
    "DocumentExtension",
    "KeyExtension",
    "OpenApiExtension",
    "OperationExtension",
    "read_extension",
]

ActionName = Literal["publish", "subscribe"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class KeyExtension(_Strict):
    """Where the message key comes from; an explicit header or query value wins over ``field``."""

    field: str | None = Field(
        default=None, description="JSON pointer into the payload, e.g. /order/id"
    )
    header: str = Field(default="Message-Key", description="request header carrying the key")
    query: str = Field(default="key", description="query parameter carrying the key")

    @field_validator("field")
    @classmethod
    def _pointer(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("'field' is a JSON pointer and starts with '/'")
        return value


class ChannelExtension(_Strict):
    """``x-mesh`` on a channel."""

    actions: list[ActionName] | None = Field(
        default=None,
        description="what clients may do, replacing the direction rule: publish and/or subscribe",
    )
    key: KeyExtension | None = None
    headers: list[str] | None = Field(
        default=None, description="request headers copied into Kafka record headers"
    )
    server: str | None = Field(default=None, description="server to use when several match")
    security: SecurityOverride | None = Field(
        default=None,
        description="client-facing requirements per side, replacing the operations' security",
    )

    @field_validator("headers")
    @classmethod
    def _no_credentials(cls, names: list[str] | None) -> list[str] | None:
        return None if names is None else check_forwarded(names)


class DocumentExtension(ChannelExtension):
    """``x-mesh`` at the document root: defaults for every channel, plus the base path."""

    basePath: str | None = Field(default=None, description="prefix for every route, e.g. /v1")


class OperationExtension(_Strict):
    """``x-mesh`` on an OpenAPI operation (or, without ``channel``, at the document root)."""

    channel: str | None = Field(
        default=None,
        description="the gateway path of a channel route (AsyncAPI), e.g. /iot/devices/{id}/"
        "commands: the operation publishes its request body there (POST, PUT) or streams from "
        "it (GET) instead of calling an upstream; the operation's path parameters fill it in",
    )
    timeoutSeconds: float | None = Field(
        default=None, gt=0, description="how long the upstream may take to start answering"
    )
    retries: int | None = Field(
        default=None,
        ge=0,
        le=10,
        description="further attempts on another upstream URL, for idempotent methods only",
    )


class OpenApiExtension(OperationExtension):
    """``x-mesh`` at the root of an OpenAPI document: defaults for every operation."""

    basePath: str | None = Field(default=None, description="prefix for every route, e.g. /v1")


def read_extension(model: type[_Strict], value: Any, file: str, pointer: tuple[object, ...]) -> Any:
    """Validate an ``x-mesh`` value; raise ``SpecError`` pointing into it when invalid."""
    if value is None:
        return None
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise SpecError(problems_from(exc, file, pointer)) from exc
