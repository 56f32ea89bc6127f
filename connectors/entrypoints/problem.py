"""The one place where ``MeshError`` becomes an HTTP answer: RFC 9457 problem documents."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from aiohttp import web

from mesh.core.errors import MeshError, MethodNotAllowed, QuotaExceeded, Unauthorized
from mesh.core.media import dump_json
from mesh.core.problems import PROBLEM_TYPES, problem_uri

__all__ = ["PROBLEM_JSON", "json_response", "problem_body", "problem_response"]

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("mesh.http")


def problem_body(
    code: str, detail: str, instance: str | None = None, **extensions: Any
) -> dict[str, Any]:
    kind = PROBLEM_TYPES[code]
    body: dict[str, Any] = {
        "type": problem_uri(code),
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        "code": code,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(extensions)
    return body


def problem_response(error: MeshError, instance: str | None = None) -> web.Response:
    body = problem_body(error.code, error.detail, instance, **error.extensions)
    response = json_response(body, error.status, PROBLEM_JSON)
    if isinstance(error, MethodNotAllowed):
        response.headers["Allow"] = ", ".join(error.allowed)
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = error.challenge
    if "retry_after" in error.extensions:
        response.headers["Retry-After"] = str(error.extensions["retry_after"])
    if isinstance(error, QuotaExceeded):
        policy, wait = error.extensions.get("policy", "quota"), error.extensions.get("retry_after")
        response.headers["RateLimit"] = f'"{policy}";r=0;t={wait}'
    return response


def internal_error(exc: BaseException, instance: str) -> web.Response:
    incident = uuid.uuid4().hex[:16]
    log.error("internal error %s on %s", incident, instance, exc_info=exc)
    body = problem_body("internal-error", f"unexpected failure; incident {incident}", instance)
    return json_response(body, 500, PROBLEM_JSON)


def json_response(
    body: Any, status: int = 200, content_type: str = "application/json"
) -> web.Response:
    return web.Response(
        body=dump_json(body),
        status=status,
        content_type=content_type,
    )
