"""Convert an AsyncAPI 2.6 document into the 3.0 shape, keeping everything 3.0 can express.

The 2.x ``publish``/``subscribe`` operations describe what *clients* do: ``subscribe`` means the
application sends (3.0 ``send``), ``publish`` means it receives (3.0 ``receive``). Channels keyed by
address get an id derived from the address; operation messages become references into their
channel's ``messages``, as 3.0 requires.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mesh.core.pointer import escape

__all__ = ["convert_2_6"]

_ACTIONS = {"subscribe": "send", "publish": "receive"}
_ID_UNSAFE = re.compile(r"[^\w.\-]+")


def convert_2_6(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a new 3.0.0 document equivalent to the 2.x ``doc`` (which is left untouched)."""
    out: dict[str, Any] = {"asyncapi": "3.0.0"}
    for key in ("id", "defaultContentType"):
        if key in doc:
            out[key] = doc[key]
    out["info"] = _info(doc)
    if isinstance(doc.get("servers"), dict):
        out["servers"] = {n: _server(s) for n, s in doc["servers"].items()}
    channels, operations = _channels(doc.get("channels") or {})
    if channels:
        out["channels"] = channels
    if operations:
        out["operations"] = operations
    if isinstance(doc.get("components"), dict):
        out["components"] = _components(doc["components"])
    out.update({k: v for k, v in doc.items() if k.startswith("x-")})
    return out


def _info(doc: dict[str, Any]) -> Any:
    info = doc.get("info")
    if not isinstance(info, dict):
        return info
    info = dict(info)
    for key in ("tags", "externalDocs"):
        if key in doc:
            info[key] = doc[key]
    return info


def _server(server: Any) -> Any:
    if not isinstance(server, dict) or "$ref" in server:
        return server
    out = {k: v for k, v in server.items() if k not in ("url", "security")}
    url = str(server.get("url", ""))
    url = url.split("://", 1)[1] if "://" in url else url
    host, slash, path = url.partition("/")
    out["host"] = host
    if slash and path:
        out["pathname"] = "/" + path
    if "security" in server:
        out["security"] = _security(server["security"])
    return out


def _security(requirements: Any) -> Any:
    if not isinstance(requirements, list):
        return requirements
    return [
        {"$ref": f"#/components/securitySchemes/{escape(name)}"}
        for requirement in requirements
        if isinstance(requirement, dict)
        for name in requirement
    ]


def _channel_id(address: str, taken: set[str]) -> str:
    base = _ID_UNSAFE.sub("_", address.replace("{", "").replace("}", "")).strip("_") or "channel"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _channels(channels: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    out: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    if not isinstance(channels, dict):
        return out, operations
    taken: set[str] = set()
    for address, item in channels.items():
        cid = _channel_id(str(address), taken)
        if not isinstance(item, dict):
            out[cid] = item
            continue
        channel = _channel(item, address=str(address))
        messages: dict[str, Any] = {}
        for verb, action in _ACTIONS.items():
            if isinstance(item.get(verb), dict):
                op_id, operation = _operation(item[verb], action, cid, messages)
                operations[op_id] = operation
        if messages:
            channel["messages"] = messages
        out[cid] = channel
    return out, operations


def _channel(item: dict[str, Any], address: str | None) -> dict[str, Any]:
    channel: dict[str, Any] = {} if address is None else {"address": address}
    for key in ("description", "bindings"):
        if key in item:
            channel[key] = item[key]
    channel.update({k: v for k, v in item.items() if k.startswith("x-")})
    if isinstance(item.get("servers"), list):
        channel["servers"] = [{"$ref": f"#/servers/{escape(s)}"} for s in item["servers"]]
    if isinstance(item.get("parameters"), dict):
        channel["parameters"] = {n: _parameter(p) for n, p in item["parameters"].items()}
    return channel


def _parameter(parameter: Any) -> Any:
    if not isinstance(parameter, dict) or "$ref" in parameter:
        return parameter
    out = {k: v for k, v in parameter.items() if k in ("description", "location") or k[:2] == "x-"}
    schema = parameter.get("schema")
    if isinstance(schema, dict):
        if isinstance(schema.get("enum"), list):
            out["enum"] = [str(v) for v in schema["enum"]]
        if "default" in schema:
            out["default"] = str(schema["default"])
        if isinstance(schema.get("examples"), list):
            out["examples"] = [str(v) for v in schema["examples"]]
    return out


def _operation(
    op: dict[str, Any], action: str, cid: str, messages: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    op_id = str(op.get("operationId") or f"{action}_{cid}")
    out: dict[str, Any] = {"action": action, "channel": {"$ref": f"#/channels/{escape(cid)}"}}
    for key in ("summary", "description", "tags", "externalDocs", "bindings"):
        if key in op:
            out[key] = op[key]
    out.update({k: v for k, v in op.items() if k.startswith("x-")})
    if "security" in op:
        out["security"] = _security(op["security"])
    if isinstance(op.get("traits"), list):
        out["traits"] = [_trait(t, drop=("operationId",)) for t in op["traits"]]
    refs = []
    for index, message in enumerate(_message_list(op.get("message"))):
        name = _message_key(message, f"{op_id}.message" + (f"{index}" if index else ""))
        messages.setdefault(name, _message(message))
        refs.append({"$ref": f"#/channels/{escape(cid)}/messages/{escape(name)}"})
    if refs:
        out["messages"] = refs
    return op_id, out


def _message_list(message: Any) -> list[Any]:
    if isinstance(message, dict) and isinstance(message.get("oneOf"), list):
        return list(message["oneOf"])
    return [] if message is None else [message]


def _message_key(message: Any, fallback: str) -> str:
    if isinstance(message, dict):
        ref = message.get("$ref")
        if isinstance(ref, str):
            return ref.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
        for key in ("messageId", "name"):
            if isinstance(message.get(key), str):
                return str(message[key])
    return fallback


def _message(message: Any) -> Any:
    if not isinstance(message, dict) or "$ref" in message:
        return message
    out = {k: v for k, v in message.items() if k not in ("messageId", "schemaFormat", "traits")}
    if "schemaFormat" in message and "payload" in message:
        out["payload"] = {"schemaFormat": message["schemaFormat"], "schema": message["payload"]}
    if isinstance(message.get("traits"), list):
        out["traits"] = [_trait(t, drop=("messageId", "schemaFormat")) for t in message["traits"]]
    return out


def _trait(trait: Any, drop: tuple[str, ...]) -> Any:
    if not isinstance(trait, dict) or "$ref" in trait:
        return trait
    return {k: v for k, v in trait.items() if k not in drop}


def _scheme(scheme: Any) -> Any:
    if not isinstance(scheme, dict) or not isinstance(scheme.get("flows"), dict):
        return scheme
    flows = {
        name: {("availableScopes" if k == "scopes" else k): v for k, v in flow.items()}
        if isinstance(flow, dict)
        else flow
        for name, flow in scheme["flows"].items()
    }
    return {**scheme, "flows": flows}


def _components(components: dict[str, Any]) -> dict[str, Any]:
    convert: dict[str, Callable[[Any], Any]] = {
        "messages": _message,
        "parameters": _parameter,
        "securitySchemes": _scheme,
        "servers": _server,
        "messageTraits": lambda t: _trait(t, drop=("messageId", "schemaFormat")),
        "operationTraits": lambda t: _trait(t, drop=("operationId",)),
        "channels": lambda c: _channel(c, None) if isinstance(c, dict) and "$ref" not in c else c,
    }
    out: dict[str, Any] = {}
    for section, entries in components.items():
        fn = convert.get(section)
        if fn is not None and isinstance(entries, dict):
            out[section] = {name: fn(value) for name, value in entries.items()}
        else:
            out[section] = entries
    return out
