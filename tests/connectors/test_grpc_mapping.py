"""Every error has a gRPC status, and the generated modules match the published .proto."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

import mesh.core.errors as errors
from connectors.entrypoints.grpc_server import status_of
from tools.protos import FILES, GENERATED, generate


def instances() -> list[errors.MeshError]:
    found: list[errors.MeshError] = []
    for name in errors.__all__:
        cls = getattr(errors, name)
        if cls in (errors.MeshError, errors.RequestError, errors.DeliveryError):
            continue
        found.append(cls("x", []) if cls is errors.MethodNotAllowed else cls("x"))
    return found


@pytest.mark.parametrize("error", instances(), ids=lambda e: type(e).__name__)
def test_every_error_has_a_status(error: errors.MeshError) -> None:
    assert status_of(error) is not grpc.StatusCode.INTERNAL


def test_the_issue_s_codes() -> None:
    assert status_of(errors.SchemaViolation("x")) is grpc.StatusCode.INVALID_ARGUMENT
    assert status_of(errors.NotSent("x")) is grpc.StatusCode.UNAVAILABLE
    assert status_of(errors.OutcomeUnknown("x")) is grpc.StatusCode.DEADLINE_EXCEEDED
    assert status_of(errors.RouteNotFound("x")) is grpc.StatusCode.NOT_FOUND


def test_generated_modules_are_current(tmp_path: Path) -> None:
    generate(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_text() == (GENERATED / name).read_text(), name
