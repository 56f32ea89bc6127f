"""Every official example document loads; converted 2.6 documents are valid 3.0 documents."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

from mesh.specs.convert import convert_2_6
from mesh.specs.loader import load_document
from mesh.specs.problems import Severity
from tests.conftest import SHARED

CORPUS = sorted((SHARED / "corpus" / "asyncapi").glob("*/*.yml"))
SCHEMA_3_0 = json.loads((SHARED / "schemas" / "asyncapi" / "3.0.0.json").read_text())
# Bindings are versioned separately; 2.6 documents may carry bindings of older versions.
_BINDINGS = "bindings"


def test_corpus_is_there() -> None:
    assert len(CORPUS) == 21


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_document_loads(path: Path) -> None:
    doc = load_document(path)
    assert doc.data["asyncapi"] in ("3.0.0", "3.1.0")
    assert doc.text == path.read_text()
    assert all(w.severity is Severity.WARNING for w in doc.warnings)


def test_the_two_kraken_examples_load_with_example_warnings() -> None:
    warned = {p.name: load_document(p).warnings for p in CORPUS if p.name.startswith("kraken")}
    assert len(warned) == 2
    for warnings in warned.values():
        assert warnings
        assert all("example does not match" in w.message for w in warnings)
        assert all(w.pointer.endswith("/payload") for w in warnings)


def _strip_bindings(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip_bindings(v) for k, v in value.items() if k != _BINDINGS}
    if isinstance(value, list):
        return [_strip_bindings(v) for v in value]
    return value


@pytest.mark.parametrize(
    "path", [p for p in CORPUS if p.parent.name == "2.6.0"], ids=lambda p: p.name
)
def test_converted_2_6_document_is_valid_3_0(path: Path) -> None:
    converted = _strip_bindings(convert_2_6(yaml.safe_load(path.read_text())))
    validator = jsonschema_rs.validator_for(SCHEMA_3_0)
    errors = [e.message[:200] for e in validator.iter_errors(json.loads(json.dumps(converted)))]
    assert errors == []


def test_conversion_inverts_publish_and_subscribe() -> None:
    doc = load_document(SHARED / "corpus" / "asyncapi" / "2.6.0" / "streetlights-kafka.yml")
    operations = doc.data["operations"]
    # 2.6 `publish` (clients publish, the application receives) becomes `receive`
    assert operations["receiveLightMeasurement"]["action"] == "receive"
    # 2.6 `subscribe` (clients subscribe, the application sends) becomes `send`
    assert operations["turnOn"]["action"] == "send"
    channel = operations["turnOn"]["channel"]["$ref"]
    assert channel == "#/channels/smartylighting.streetlights.1.0.action.streetlightId.turn.on"
    assert operations["turnOn"]["messages"] == [{"$ref": f"{channel}/messages/turnOnOff"}]
