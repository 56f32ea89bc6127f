"""Semantic checks beyond the JSON Schema, and problems that name file and JSON pointer."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.specs.loader import check_files, load_document
from mesh.specs.problems import Severity, SpecError
from tests.conftest import channel_spec, write_spec


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write_spec(tmp_path, text)
    return [f"{p.pointer}: {p.message}" for p in check_files([path])]


def test_dangling_reference_is_an_error(tmp_path: Path) -> None:
    text = channel_spec("a", payload="{$ref: '#/components/schemas/Missing'}")
    found = problems(tmp_path, text)
    assert found == [
        "/channels/c/messages/m/payload/$ref: reference '#/components/schemas/Missing' "
        "points to nothing"
    ]


def test_operation_message_must_be_in_its_channel(tmp_path: Path) -> None:
    text = (
        channel_spec("a", actions=())
        + """  op:
    action: send
    channel: {$ref: '#/channels/c'}
    messages:
      - $ref: '#/components/messages/other'
components:
  messages:
    other: {payload: {type: string}}
"""
    )
    text = text.replace("operations:\n\n", "operations:\n")
    found = problems(tmp_path, text)
    assert found == [
        "/operations/op/messages/0: message '#/components/messages/other' is not one of the "
        "messages of channel '#/channels/c'"
    ]


def test_address_parameter_needs_a_definition(tmp_path: Path) -> None:
    found = problems(tmp_path, channel_spec("sensors.{id}"))
    assert found == ["/channels/c/address: parameter 'id' has no 'parameters' entry"]


def test_unused_parameter_is_a_warning(tmp_path: Path) -> None:
    path = write_spec(tmp_path, channel_spec("a", extra_channel="    parameters:\n      id: {}"))
    (warning,) = load_document(path).warnings
    assert warning.severity is Severity.WARNING
    assert warning.pointer == "/channels/c/parameters/id"


def test_invalid_payload_schema_is_an_error(tmp_path: Path) -> None:
    found = problems(tmp_path, channel_spec("a", payload="{type: 7}"))
    assert len(found) == 1
    assert found[0].startswith("/channels/c/messages/m/payload: invalid schema")


def test_example_breaking_its_schema_is_a_warning(tmp_path: Path) -> None:
    text = channel_spec("a", payload="{type: object, required: [id]}").replace(
        "        name: thing\n", "        name: thing\n        examples: [{payload: {}}]\n"
    )
    path = write_spec(tmp_path, text)
    (warning,) = load_document(path).warnings
    assert warning.pointer == "/channels/c/messages/m/examples/0/payload"
    assert '"id" is a required property' in warning.message


def test_references_into_other_files_resolve(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "order.yaml").write_text(
        "Order:\n  type: object\n  properties:\n    id: {$ref: '#/Id'}\nId: {type: string}\n"
    )
    path = write_spec(tmp_path, channel_spec("a", payload="{$ref: 'schemas/order.yaml#/Order'}"))
    assert load_document(path).warnings == ()


def test_missing_referenced_file_is_an_error(tmp_path: Path) -> None:
    found = problems(tmp_path, channel_spec("a", payload="{$ref: 'nope.yaml#/X'}"))
    assert len(found) == 1
    assert "nope.yaml does not exist" in found[0]


def test_remote_references_are_not_fetched(tmp_path: Path) -> None:
    found = problems(tmp_path, channel_spec("a", payload="{$ref: 'https://example.com/s.json'}"))
    assert "is not fetched" in found[0]


def test_server_variables_must_be_declared(tmp_path: Path) -> None:
    text = channel_spec("a").replace("host: 'localhost:9092'", "host: 'broker:{port}'")
    assert problems(tmp_path, text) == ["/servers/main/host: variable 'port' is not in 'variables'"]


def test_every_problem_names_file_and_pointer(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "asyncapi: 3.0.0\ninfo: {title: T}\nchannels: {c: {bogus: 1}}\n")
    with pytest.raises(SpecError) as caught:
        load_document(path)
    lines = sorted(str(p) for p in caught.value.problems)
    assert lines == [
        f"{path}: /channels/c/bogus: unknown field 'bogus'",
        f"{path}: /info/version: required field is missing",
    ]


def test_syntax_errors_are_reported(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "asyncapi: [unclosed\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        load_document(path)


def test_unsupported_version_is_refused(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "asyncapi: 2.0.0\ninfo: {title: T, version: '1'}\n")
    with pytest.raises(SpecError, match="not supported"):
        load_document(path)


OPENAPI = """openapi: 3.1.0
info: {title: Pets, version: '1'}
paths:
  /pets/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        '200':
          description: a pet
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
components:
  schemas:
    Pet: {type: object}
"""


def test_openapi_3_1_loads(tmp_path: Path) -> None:
    doc = load_document(write_spec(tmp_path, OPENAPI))
    assert doc.version == "3.1.0"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("openapi: 3.1.0", "openapi: 3.0.3"), "/openapi"),
        (("Pet: {type: object}", "Animal: {type: object}"), "points to nothing"),
        (("required: true, ", ""), "must have 'required: true'"),
        (("{name: id,", "{name: petId,"), "path parameter 'id' is not declared"),
        (("      responses:", "      answers: 1\n      responses:"), "unknown field 'answers'"),
    ],
)
def test_openapi_problems(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = OPENAPI.replace(*change)
    found = problems(tmp_path, text)
    assert any(expected in line for line in found), found
