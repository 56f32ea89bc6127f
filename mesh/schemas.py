"""JSON Schemas of the gateway config and the ``x-mesh`` extension, for editors."""

from __future__ import annotations

from typing import Any

from mesh.config import GatewayConfig
from mesh.specs.extension import (
    ChannelExtension,
    DocumentExtension,
    OpenApiExtension,
    OperationExtension,
)

__all__ = ["json_schema"]


def json_schema(which: str) -> dict[str, Any]:
    """``config``: the gateway config file; ``x-mesh``: the extension (document or channel)."""
    if which == "config":
        schema = GatewayConfig.model_json_schema()
    else:
        schema = {
            "title": "x-mesh",
            "description": "The x-mesh extension: at an AsyncAPI document's root or on a "
            "channel; at an OpenAPI document's root or on an operation.",
            "anyOf": [
                DocumentExtension.model_json_schema(),
                ChannelExtension.model_json_schema(),
                OpenApiExtension.model_json_schema(),
                OperationExtension.model_json_schema(),
            ],
        }
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
