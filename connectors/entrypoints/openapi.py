"""Describe the HTTP routes the gateway serves as an OpenAPI 3.1 document (``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from mesh.core.media import BATCH_MEDIA_TYPE
from mesh.core.routes import Action, Route, RouteTable

__all__ = ["describe"]

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def describe(routes: RouteTable, title: str = "Mesh gateway", version: str = "1") -> dict[str, Any]:
    """Return the OpenAPI document for ``routes`` (a pure function of the table)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": {route.path.text: _path_item(route) for route in routes.routes},
        "components": {"schemas": _components(), "responses": _responses()},
    }


def _path_item(route: Route) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if route.title:
        item["summary"] = route.title
    if route.description:
        item["description"] = route.description
    if route.path.parameters:
        item["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": _parameter(route, name)}
            for name in route.path.parameters
        ]
    if Action.PUBLISH in route.actions:
        item["post"] = _publish(route)
    if Action.SUBSCRIBE in route.actions:
        item["get"] = _subscribe(route)
    return item


def _parameter(route: Route, name: str) -> dict[str, Any]:
    allowed = route.parameters.get(name)
    return {"type": "string", "enum": sorted(allowed)} if allowed else {"type": "string"}


def _payload_schema(route: Route, content_type: str) -> Any:
    schemas = [m.payload_schema for m in route.messages if m.content_type == content_type]
    schemas = [s for s in schemas if s is not None]
    if not schemas:
        return {}
    return schemas[0] if len(schemas) == 1 else {"oneOf": schemas}


def _publish(route: Route) -> dict[str, Any]:
    content = {ct: {"schema": _payload_schema(route, ct)} for ct in sorted(route.content_types)}
    content[BATCH_MEDIA_TYPE] = {"schema": {"$ref": "#/components/schemas/Batch"}}
    return {
        "operationId": f"publish {route.path.text}",
        "summary": "Publish a message (201 once the broker acknowledged it)",
        "parameters": [
            {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}},
            {"name": route.key.header, "in": "header", "schema": {"type": "string"}},
            {"name": route.key.query, "in": "query", "schema": {"type": "string"}},
        ],
        "requestBody": {"required": True, "content": content},
        "responses": {
            "201": {
                "description": "acknowledged by the broker",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Receipt"}}
                },
            },
            "200": {
                "description": "batch: every message acknowledged",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/BatchResult"}}
                },
            },
            "207": {
                "description": "batch: some messages failed",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/BatchResult"}}
                },
            },
            **{
                code: {"$ref": f"#/components/responses/{code}"}
                for code in ("400", "413", "415", "503", "504")
            },
        },
    }


def _subscribe(route: Route) -> dict[str, Any]:
    return {
        "operationId": f"subscribe {route.path.text}",
        "summary": "Read messages: an SSE stream, or a long poll answered as JSON",
        "parameters": [
            {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            {"name": "from", "in": "query", "schema": {"enum": ["earliest", "latest"]}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            {"name": "wait", "in": "query", "schema": {"type": "number", "minimum": 0}},
        ],
        "responses": {
            "200": {
                "description": "a stream of events, or a page of messages",
                "content": {
                    "text/event-stream": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"$ref": "#/components/schemas/Page"}},
                },
            },
            **{code: {"$ref": f"#/components/responses/{code}"} for code in ("400", "406", "503")},
        },
    }


def _responses() -> dict[str, Any]:
    text = {
        "400": "invalid input",
        "406": "not acceptable",
        "413": "body too large",
        "415": "unsupported content type",
        "503": "broker unavailable, nothing sent",
        "504": "outcome unknown",
    }
    return {
        code: {"description": d, "content": {"application/problem+json": {"schema": _PROBLEM}}}
        for code, d in text.items()
    }


def _components() -> dict[str, Any]:
    receipt = {
        "type": "object",
        "required": ["cursor"],
        "properties": {
            "partition": {"type": "integer"},
            "offset": {"type": "integer"},
            "cursor": {"type": "string"},
        },
    }
    return {
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "code": {"type": "string"},
            },
        },
        "Receipt": receipt,
        "Batch": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["payload"],
                "additionalProperties": False,
                "properties": {
                    "payload": {},
                    "key": {"type": "string"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
        "BatchResult": {
            "type": "object",
            "properties": {
                "results": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"status": {"type": "integer"}}},
                }
            },
        },
        "Page": {
            "type": "object",
            "properties": {
                "messages": {"type": "array", "items": {"type": "object"}},
                "restarts": {"type": "array", "items": {"type": "object"}},
                "cursor": {"type": "string"},
            },
        },
    }
