"""Which routes the documents protect, and with what; checked against the gateway config."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.config import (
    AuthConfig,
    GatewayConfig,
    JwtConfig,
    KeysConfig,
    Secret,
    SecurityOverride,
    SpecEntry,
)
from mesh.core.auth import Requirement, SchemeKind, SchemeNeed
from mesh.core.routes import Action
from mesh.specs.compile import Compiled, compile_gateway
from mesh.specs.loader import load_document
from mesh.specs.problems import SpecError
from tests.conftest import write_spec

AUTH = AuthConfig(
    jwt={"bearer": JwtConfig(jwks_url="https://id.test/jwks")},
    keys=KeysConfig(file=Path("keys.json"), secret=Secret(env="X")),
)

ASYNCAPI = """asyncapi: 3.0.0
info: {title: T, version: 1.0.0}
servers:
  main: {host: 'localhost:9092', protocol: kafka}
channels:
  c: {address: c}
operations:
  read: {action: send, channel: {$ref: '#/channels/c'}, security: [%(read)s]}
  write: {action: receive, channel: {$ref: '#/channels/c'}}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
    key: {type: httpApiKey, name: X-Key, in: header}
    user: {type: userPassword}
"""


def compile_one(tmp_path: Path, text: str, auth: AuthConfig = AUTH) -> Compiled:
    entry = SpecEntry(path=write_spec(tmp_path, text))
    config = GatewayConfig(specs=[entry], auth=auth)
    return compile_gateway([(load_document(entry.path), entry)], config, frozenset({"kafka"}))


def test_an_asyncapi_operations_security_protects_its_side_only(tmp_path: Path) -> None:
    refs = (
        "{$ref: '#/components/securitySchemes/bearer'}, {$ref: '#/components/securitySchemes/key'}"
    )
    compiled = compile_one(tmp_path, ASYNCAPI % {"read": refs})
    (route,) = compiled.routes.routes
    assert route.security == {
        Action.SUBSCRIBE: Requirement(((SchemeNeed("bearer"),), (SchemeNeed("key"),)))
    }
    assert {n: s.kind for n, s in compiled.schemes.items()} == {
        "bearer": SchemeKind.BEARER,
        "key": SchemeKind.API_KEY,
    }


def test_a_scheme_the_gateway_cannot_check_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot protect gateway routes"):
        compile_one(tmp_path, ASYNCAPI % {"read": "{$ref: '#/components/securitySchemes/user'}"})


def test_a_bearer_scheme_without_its_config_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"auth\.jwt\.bearer"):
        compile_one(
            tmp_path,
            ASYNCAPI % {"read": "{$ref: '#/components/securitySchemes/bearer'}"},
            AuthConfig(),
        )


def test_openapi_operation_security_replaces_the_documents(tmp_path: Path) -> None:
    text = """openapi: 3.1.0
info: {title: T, version: 1.0.0}
servers: [{url: 'http://up.test'}]
security: [{bearer: [orders:read]}]
paths:
  /a: {get: {}}
  /b: {get: {security: [{bearer: [], key: []}, {}]}}
  /c: {get: {security: []}}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
    key: {type: apiKey, name: key, in: query}
"""
    compiled = compile_one(tmp_path, text)
    security = {o.path.text: o.security for o in compiled.operations.operations}
    assert security == {
        "/a": Requirement(((SchemeNeed("bearer", frozenset({"orders:read"})),),)),
        "/b": None,  # an empty alternative: anonymous access is allowed
        "/c": None,
    }


def test_requirements_stated_outright_replace_the_operations(tmp_path: Path) -> None:
    refs = "{$ref: '#/components/securitySchemes/bearer'}"
    text = (ASYNCAPI % {"read": refs}).replace(
        "info: {title: T, version: 1.0.0}",
        "info: {title: T, version: 1.0.0}\n"
        "x-mesh: {security: {publish: [{key: []}], subscribe: []}}",
    )
    stated = compile_one(tmp_path, text)
    (route,) = stated.routes.routes
    assert route.security == {Action.PUBLISH: Requirement(((SchemeNeed("key"),),))}

    entry = SpecEntry(
        path=write_spec(tmp_path, text, "b.yaml"),
        security=SecurityOverride(subscribe=[{"bearer": ["orders:read"]}]),
    )
    config = GatewayConfig(specs=[entry], auth=AUTH)
    (route,) = compile_gateway(
        [(load_document(entry.path), entry)], config, frozenset({"kafka"})
    ).routes.routes
    assert route.security[Action.SUBSCRIBE] == Requirement(
        ((SchemeNeed("bearer", frozenset({"orders:read"})),),)
    )
    assert route.security[Action.PUBLISH] == Requirement(((SchemeNeed("key"),),))
