"""Mesh accepts and refuses the same documents as the official AsyncAPI JSON Schemas."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from mesh.specs.loader import load_document
from mesh.specs.problems import SpecError
from tests.conftest import SHARED

BASE = SHARED / "corpus" / "asyncapi" / "3.0.0" / "streetlights-kafka-asyncapi.yml"
Doc = dict[str, Any]


def official(doc: Doc) -> bool:
    version = doc.get("asyncapi", "3.0.0")
    schema_file = SHARED / "schemas" / "asyncapi" / f"{version}.json"
    schema = json.loads(schema_file.read_text())
    return bool(jsonschema_rs.validator_for(schema).is_valid(doc))


def mesh_accepts(doc: Doc, tmp_path: Path) -> bool:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    try:
        load_document(path)
    except SpecError:
        return False
    return True


def setting(path: str, value: Any) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target[part]
        target[last] = value

    return apply


def deleting(path: str) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = target[part]
        del target[last]

    return apply


LIGHT = "channels.lightingMeasured"
SERVER = "servers.scram-connections"
MESSAGE = "components.messages.lightMeasured"

BROKEN: dict[str, Callable[[Doc], None]] = {
    "no info": deleting("info"),
    "no title": deleting("info.title"),
    "no version": deleting("info.version"),
    "version is a number": setting("info.version", 1.0),
    "unknown root field": setting("foo", 1),
    "unknown info field": setting("info.owner", "me"),
    "license without name": setting("info.license", {"url": "https://example.com"}),
    "unknown channel field": setting(f"{LIGHT}.topic", "x"),
    "address is a number": setting(f"{LIGHT}.address", 123),
    "channel servers inline": setting(f"{LIGHT}.servers", [{"host": "h", "protocol": "kafka"}]),
    "server without protocol": deleting(f"{SERVER}.protocol"),
    "server without host": deleting(f"{SERVER}.host"),
    "server with 2.x url": setting(f"{SERVER}.url", "kafka://h:9092"),
    "servers as a list": setting("servers", [{"host": "h", "protocol": "kafka"}]),
    "tag without name": setting(f"{SERVER}.tags", [{"description": "x"}]),
    "operation action publish": setting("operations.turnOn.action", "publish"),
    "operation without channel": deleting("operations.turnOn.channel"),
    "operation message inline": setting("operations.turnOn.messages", [{"payload": {}}]),
    "message with messageId": setting(f"{MESSAGE}.messageId", "x"),
    "message contentType number": setting(f"{MESSAGE}.contentType", 5),
    "parameter with 2.x schema": setting(
        "components.parameters.streetlightId.schema", {"type": "string"}
    ),
    "unknown security scheme type": setting("components.securitySchemes.certs.type", "magic"),
    "httpApiKey without in": setting(
        "components.securitySchemes.certs", {"type": "httpApiKey", "name": "k"}
    ),
    "oauth2 without flows": setting("components.securitySchemes.certs", {"type": "oauth2"}),
    "defaultContentType number": setting("defaultContentType", 5),
    "example with unknown field": setting(f"{MESSAGE}.examples", [{"value": 1}]),
    "external docs without url": setting("info.externalDocs", {"description": "x"}),
}


def _extensions(doc: Doc) -> None:
    setting("x-team", "lights")(doc)
    setting("info.x-owner", "me")(doc)
    setting(f"{LIGHT}.x-mesh", {"actions": ["subscribe"]})(doc)


VALID: dict[str, Callable[[Doc], None]] = {
    "as is": lambda doc: None,
    "extensions everywhere": lambda doc: _extensions(doc),
    "null address": setting(f"{LIGHT}.address", None),
    # the specification asks for keys like ^[\w\d.\-_]+$ but its schema does not enforce it
    "component key with a space": setting("components.schemas.bad key!", {"type": "string"}),
    "3.1.0": setting("asyncapi", "3.1.0"),
}


def base() -> Doc:
    return copy.deepcopy(yaml.safe_load(BASE.read_text()))


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_documents_are_refused_by_both(name: str, tmp_path: Path) -> None:
    doc = base()
    BROKEN[name](doc)
    assert official(doc) is False, "the case must break the official schema"
    assert mesh_accepts(doc, tmp_path) is False


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_documents_are_accepted_by_both(name: str, tmp_path: Path) -> None:
    doc = base()
    VALID[name](doc)
    assert official(doc) is True
    assert mesh_accepts(doc, tmp_path) is True


@pytest.mark.parametrize(
    "path",
    sorted((SHARED / "corpus" / "asyncapi" / "3.0.0").glob("*.yml")),
    ids=lambda p: p.name,
)
def test_corpus_documents_are_accepted_by_both(path: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert official(json.loads(json.dumps(doc, default=str)))
    assert mesh_accepts(json.loads(json.dumps(doc, default=str)), tmp_path)
