"""Authentication on every entrypoint: JWTs from a real JWKS server, API keys from the admin API,
against the real Tansu broker."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from aiohttp import ClientSession, WSServerHandshakeError, web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from grpc import aio

from connectors.entrypoints.grpc_api import gateway_pb2 as pb
from connectors.entrypoints.grpc_api import gateway_pb2_grpc as pb_grpc
from mesh.broker import free_port
from mesh.config import AclRuleConfig, AuthConfig, JwtConfig, KeysConfig, Secret, SseConfig
from mesh.gateway import RunningGateway
from tests.conftest import Start, write_spec

ISSUER = "https://id.test"
AUDIENCE = "mesh"
ADMIN = "admin-token-for-tests"

SPEC = """asyncapi: 3.0.0
info: {title: Secure, version: 1.0.0}
servers:
  main: {host: 'localhost:9092', protocol: kafka}
channels:
  orders:
    address: '%(topic)s'
    messages:
      order: {payload: {type: object}}
operations:
  placeOrder:
    action: receive
    channel: {$ref: '#/channels/orders'}
    security:
      - $ref: '#/components/securitySchemes/placing'
      - $ref: '#/components/securitySchemes/partnerKey'
  followOrders:
    action: send
    channel: {$ref: '#/channels/orders'}
    security:
      - $ref: '#/components/securitySchemes/following'
      - $ref: '#/components/securitySchemes/partnerKey'
components:
  securitySchemes:
    placing:
      type: oauth2
      flows: &flows
        clientCredentials:
          tokenUrl: https://id.test/token
          availableScopes: {orders:write: place orders, orders:read: follow orders}
      scopes: [orders:write]
    following:
      type: oauth2
      flows: *flows
      scopes: [orders:read]
    partnerKey: {type: httpApiKey, name: X-API-Key, in: header}
"""


class Issuer:
    """An identity provider: an RSA key published as a JWKS on a free port."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.port = free_port()
        self.fetches = 0

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"

    @property
    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    async def jwks(self, request: web.Request) -> web.Response:
        self.fetches += 1
        entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return web.json_response({"keys": [{**entry, "kid": "k1", "alg": "RS256"}]})

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "client-1",
            "exp": now + 300,
            "nbf": now - 5,
            "scope": "orders:write orders:read",
            **overrides,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    found = Issuer()
    app = web.Application()
    app.router.add_get("/jwks", found.jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", found.port).start()
    yield found
    await runner.cleanup()


def bad_tokens(issuer: Issuer) -> dict[str, str]:
    """Tokens every entrypoint must refuse with 401, by what is wrong with them."""
    now = int(time.time())
    good = issuer.token()
    head, body, signature = good.split(".")
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300},
        None,  # type: ignore[arg-type]
        algorithm="none",
    )
    confused = _hs256(
        {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "scope": "orders:write"},
        issuer.public_pem,
    )
    return {
        "expired": issuer.token(exp=now - 120),
        "not yet valid": issuer.token(nbf=now + 120),
        "wrong audience": issuer.token(aud="someone-else"),
        "wrong issuer": issuer.token(iss="https://evil.test"),
        "alg none": unsigned,
        "HS256 signed with the RSA public key": confused,
        "unknown kid": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300},
            issuer.other,
            algorithm="RS256",
            headers={"kid": "k-unknown"},
        ),
        "tampered signature": f"{head}.{body}.{signature[::-1]}",
        "another key, same kid": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300},
            issuer.other,
            algorithm="RS256",
            headers={"kid": "k1"},
        ),
    }


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 token signed by hand (PyJWT refuses a PEM as an HMAC key, as it should)."""
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode()) + "."
    signing += b64(json.dumps(claims).encode())
    signature = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{b64(signature)}"


@asynccontextmanager
async def secure_gateway(
    tmp_path: Path, start_gateway: Start, issuer: Issuer, topic: str, **config: Any
) -> AsyncIterator[RunningGateway]:
    os.environ["MESH_TEST_KEY_SECRET"] = "key-secret"
    os.environ["MESH_TEST_ADMIN"] = ADMIN
    jwt_config = JwtConfig(issuer=ISSUER, audience=AUDIENCE, jwks_url=issuer.jwks_url)
    auth = AuthConfig(
        jwt={"placing": jwt_config, "following": jwt_config},
        keys=KeysConfig(file=tmp_path / "keys.json", secret=Secret(env="MESH_TEST_KEY_SECRET")),
        admin_token=Secret(env="MESH_TEST_ADMIN"),
    )
    spec = write_spec(tmp_path, SPEC % {"topic": topic})
    async with start_gateway([spec], auth=auth, **config) as gw:
        yield gw


async def issue_key(http: ClientSession, gw: RunningGateway, scopes: list[str]) -> dict[str, Any]:
    response = await http.post(
        f"{gw.url}/_mesh/admin/keys",
        json={"name": "partner", "scopes": scopes},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert response.status == 201
    return dict(await response.json())


async def test_rest_publish_accepts_good_credentials_and_refuses_every_bad_one(
    tmp_path: Path, start_gateway: Start, issuer: Issuer, topic: str, http: ClientSession
) -> None:
    async with secure_gateway(tmp_path, start_gateway, issuer, topic) as gw:
        url = f"{gw.url}/{topic}"

        async def post(headers: dict[str, str]) -> tuple[int, dict[str, Any], str]:
            response = await http.post(url, json={"n": 1}, headers=headers)
            return (
                response.status,
                await response.json(),
                response.headers.get("WWW-Authenticate", ""),
            )

        missing = await post({})
        refused = {
            name: await post({"Authorization": f"Bearer {token}"})
            for name, token in bad_tokens(issuer).items()
        }
        unscoped = await post({"Authorization": f"Bearer {issuer.token(scope='orders:read')}"})
        good = await post({"Authorization": f"Bearer {issuer.token()}"})
    assert (missing[0], missing[1]["code"]) == (401, "unauthorized")
    assert 'Bearer realm="mesh"' in missing[2]
    assert 'ApiKey realm="mesh", in="header", name="X-API-Key"' in missing[2]
    assert {name: r[0] for name, r in refused.items()} == dict.fromkeys(refused, 401)
    assert all('error="invalid_token"' in r[2] for r in refused.values())
    assert refused["expired"][1]["detail"] == "the token has expired"
    assert (unscoped[0], unscoped[1]["code"]) == (403, "forbidden")
    assert "orders:write" in unscoped[1]["detail"]
    assert good[0] == 201


async def test_api_keys_are_issued_checked_and_revoked_through_the_admin_api(
    tmp_path: Path, start_gateway: Start, issuer: Issuer, topic: str, http: ClientSession
) -> None:
    async with secure_gateway(tmp_path, start_gateway, issuer, topic) as gw:
        url = f"{gw.url}/{topic}"
        issued = await issue_key(http, gw, [])
        key = issued["key"]
        accepted = await http.post(url, json={"n": 1}, headers={"X-API-Key": key})
        forged = key[:-2] + ("yy" if key.endswith("xx") else "xx")
        wrong = await http.post(url, json={"n": 1}, headers={"X-API-Key": forged})
        listed = await http.get(
            f"{gw.url}/_mesh/admin/keys", headers={"Authorization": f"Bearer {ADMIN}"}
        )
        not_admin = await http.get(f"{gw.url}/_mesh/admin/keys", headers={"Authorization": "x"})
        revoked = await http.delete(
            f"{gw.url}/_mesh/admin/keys/{issued['id']}",
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        after = await http.post(url, json={"n": 1}, headers={"X-API-Key": key})
    assert (accepted.status, wrong.status) == (201, 401)
    records = (await listed.json())["keys"]
    assert [r["id"] for r in records] == [issued["id"]]
    assert all("digest" not in r and "key" not in r for r in records)
    assert not_admin.status == 401
    assert (await revoked.json())["revoked"] is not None
    assert after.status == 401
    stored = (tmp_path / "keys.json").read_text()
    assert key not in stored  # only the HMAC is kept


async def test_sse_takes_the_token_from_the_access_token_parameter(
    tmp_path: Path, start_gateway: Start, issuer: Issuer, topic: str, http: ClientSession
) -> None:
    async with secure_gateway(tmp_path, start_gateway, issuer, topic) as gw:
        url = f"{gw.url}/{topic}"
        accept = {"Accept": "text/event-stream"}
        refused = {
            name: (await http.get(url, params={"access_token": token}, headers=accept)).status
            for name, token in bad_tokens(issuer).items()
        }
        missing = await http.get(url, headers=accept)
        opened = await http.get(url, params={"access_token": issuer.token()}, headers=accept)
        status = opened.status
        opened.close()
    assert refused == dict.fromkeys(refused, 401)
    assert missing.status == 401
    assert status == 200


async def test_websocket_sessions_need_a_credential_to_open(
    tmp_path: Path, start_gateway: Start, issuer: Issuer, topic: str, http: ClientSession
) -> None:
    async with secure_gateway(tmp_path, start_gateway, issuer, topic) as gw:
        url = f"{gw.url}/{topic}"
        statuses = {}
        for name, token in {"missing": "", **bad_tokens(issuer)}.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            with pytest.raises(WSServerHandshakeError) as refused:
                await http.ws_connect(url, protocols=("mesh.v1",), headers=headers)
            statuses[name] = refused.value.status
        read_only = issuer.token(scope="orders:read")
        async with http.ws_connect(
            url, protocols=("mesh.v1",), headers={"Authorization": f"Bearer {read_only}"}
        ) as ws:
            await ws.send_json({"type": "publish", "id": "1", "payload": {"n": 1}})
            nack = await ws.receive_json(timeout=10)
    assert statuses == dict.fromkeys(statuses, 401)
    assert (nack["type"], nack["problem"]["code"]) == ("nack", "forbidden")


async def test_grpc_maps_missing_and_bad_credentials_to_unauthenticated(
    tmp_path: Path, start_gateway: Start, issuer: Issuer, topic: str
) -> None:
    async with (
        secure_gateway(tmp_path, start_gateway, issuer, topic) as gw,
        aio.insecure_channel(f"127.0.0.1:{gw.grpc_port}") as channel,
    ):
        stub: Any = pb_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
        request = pb.PublishRequest(channel=f"/{topic}", payload=b'{"n":1}')

        async def code(call: Callable[[], Any]) -> grpc.StatusCode:
            try:
                await call()
            except aio.AioRpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

        def bearer(token: str) -> tuple[tuple[str, str], ...]:
            return (("authorization", f"Bearer {token}"),)

        refused = {}
        for name, token in bad_tokens(issuer).items():
            refused[name] = await code(partial(stub.Publish, request, metadata=bearer(token)))
        missing = await code(lambda: stub.Publish(request))
        unscoped = await code(
            lambda: stub.Publish(request, metadata=bearer(issuer.token(scope="orders:read")))
        )
        published = await stub.Publish(request, metadata=bearer(issuer.token()))
        subscribe = stub.Subscribe(pb.SubscribeRequest(channel=f"/{topic}"))
        subscribe_code = await code(subscribe.read)
    assert refused == dict.fromkeys(refused, grpc.StatusCode.UNAUTHENTICATED)
    assert missing == grpc.StatusCode.UNAUTHENTICATED
    assert unscoped == grpc.StatusCode.PERMISSION_DENIED
    assert published.outcome == pb.ACKED
    assert subscribe_code == grpc.StatusCode.UNAUTHENTICATED


async def test_a_flood_of_unknown_kids_fetches_the_jwks_at_most_once_per_interval(
    tmp_path: Path, start_gateway: Start, issuer: Issuer, topic: str, http: ClientSession
) -> None:
    async with secure_gateway(tmp_path, start_gateway, issuer, topic) as gw:
        first = await http.post(
            f"{gw.url}/{topic}", json={}, headers={"Authorization": f"Bearer {issuer.token()}"}
        )
        fetched = issuer.fetches
        now = int(time.time())
        flood = [
            jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 60},
                issuer.other,
                algorithm="RS256",
                headers={"kid": f"random-{n}"},
            )
            for n in range(50)
        ]
        answers = await asyncio.gather(
            *(
                http.post(f"{gw.url}/{topic}", json={}, headers={"Authorization": f"Bearer {t}"})
                for t in flood
            )
        )
    assert first.status == 201
    assert {a.status for a in answers} == {401}
    assert issuer.fetches - fetched <= 1


async def test_openapi_operations_are_protected_by_their_security(
    tmp_path: Path, start_gateway: Start, issuer: Issuer, topic: str, http: ClientSession
) -> None:
    async def pong(request: web.Request) -> web.Response:
        return web.json_response({"pong": True})

    app = web.Application()
    app.router.add_get("/ping", pong)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    api = write_spec(
        tmp_path,
        f"""openapi: 3.1.0
info: {{title: Partner API, version: 1.0.0}}
servers: [{{url: 'http://127.0.0.1:{port}'}}]
security: [{{partnerKey: []}}]
paths:
  /ping:
    get: {{}}
  /health:
    get: {{security: []}}
components:
  securitySchemes:
    partnerKey: {{type: apiKey, name: key, in: query}}
""",
        "partner.yaml",
    )
    os.environ["MESH_TEST_KEY_SECRET"] = "key-secret"
    auth = AuthConfig(
        keys=KeysConfig(file=tmp_path / "keys.json", secret=Secret(env="MESH_TEST_KEY_SECRET"))
    )
    try:
        async with start_gateway([api], auth=auth) as gw:
            key = gw.state.auth.keys.issue("partner").key  # type: ignore[attr-defined]
            refused = await http.get(f"{gw.url}/ping")
            allowed = await http.get(f"{gw.url}/ping", params={"key": key})
            open_ = await http.get(f"{gw.url}/health")
    finally:
        await runner.cleanup()
    assert refused.status == 401
    assert 'ApiKey realm="mesh", in="query", name="key"' in refused.headers["WWW-Authenticate"]
    assert (allowed.status, await allowed.json()) == (200, {"pong": True})
    assert open_.status == 404  # not protected: proxied, and the upstream has no /health


async def test_streams_end_when_their_token_expires_or_their_key_is_revoked(
    tmp_path: Path, start_gateway: Start, issuer: Issuer, topic: str, http: ClientSession
) -> None:
    heartbeat = SseConfig(heartbeat_seconds=0.5)  # a revocation is seen when the stream wakes
    async with secure_gateway(tmp_path, start_gateway, issuer, topic, sse=heartbeat) as gw:
        url = f"{gw.url}/{topic}"
        expires = int(time.time()) + 3
        short = issuer.token(exp=expires)
        left = expires - time.time()  # between 2 and 3 s
        started = time.monotonic()
        sse = await http.get(
            url, params={"access_token": short}, headers={"Accept": "text/event-stream"}
        )
        ended = await asyncio.wait_for(sse.text(), 10)
        sse_took = time.monotonic() - started
        async with http.ws_connect(
            url,
            protocols=("mesh.v1",),
            headers={"Authorization": f"Bearer {issuer.token(exp=int(time.time()) + 2)}"},
        ) as ws:
            frame = await ws.receive_json(timeout=10)
            await ws.receive(timeout=5)
            close_code = ws.close_code
        issued = await issue_key(http, gw, [])
        keyed = await http.get(
            url, headers={"X-API-Key": issued["key"], "Accept": "text/event-stream"}
        )
        await http.delete(
            f"{gw.url}/_mesh/admin/keys/{issued['id']}",
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        stopped = await asyncio.wait_for(keyed.text(), 5)
    assert "event: mesh.error" in ended
    assert '"code":"unauthorized"' in ended
    assert "expired" in ended
    assert left - 0.5 < sse_took < left + 2
    assert (frame["type"], frame["problem"]["code"], close_code) == ("error", "unauthorized", 1008)
    assert '"code":"unauthorized"' in stopped
    assert "revoked" in stopped


async def test_channel_acls_keep_each_tenant_to_its_own_partition(
    tmp_path: Path, start_gateway: Start, issuer: Issuer, topic: str, http: ClientSession
) -> None:
    text = (SPEC % {"topic": topic + ".{tenant}"}).replace(
        "    messages:\n      order:",
        "    parameters:\n      tenant: {}\n    messages:\n      order:",
    )
    os.environ["MESH_TEST_KEY_SECRET"] = "key-secret"
    jwt_config = JwtConfig(issuer=ISSUER, audience=AUDIENCE, jwks_url=issuer.jwks_url)
    auth = AuthConfig(
        jwt={"placing": jwt_config, "following": jwt_config},
        keys=KeysConfig(file=tmp_path / "keys.json", secret=Secret(env="MESH_TEST_KEY_SECRET")),
    )
    path = f"/{topic}.{{tenant}}"
    acl = [
        AclRuleConfig(
            channels=[path], actions=["publish", "subscribe"], parameters={"tenant": "{tenant}"}
        )
    ]
    async with start_gateway([write_spec(tmp_path, text)], auth=auth, acl=acl) as gw:
        acme = {"Authorization": f"Bearer {issuer.token(tenant='acme')}"}
        own = await http.post(f"{gw.url}/{topic}.acme", json={"n": 1}, headers=acme)
        other = await http.post(f"{gw.url}/{topic}.globex", json={"n": 1}, headers=acme)
        read_other = await http.get(
            f"{gw.url}/{topic}.globex", headers={**acme, "Accept": "application/json"}
        )
        async with aio.insecure_channel(f"127.0.0.1:{gw.grpc_port}") as channel:
            stub: Any = pb_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(aio.AioRpcError) as refused:
                await stub.Publish(
                    pb.PublishRequest(channel=f"/{topic}.globex", payload=b"{}"),
                    metadata=(("authorization", acme["Authorization"]),),
                )
        body = await other.json()
    assert own.status == 201
    assert (other.status, body["code"]) == (403, "forbidden")
    assert "globex" not in body["detail"]
    assert read_other.status == 403
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_http_basic_carries_an_api_key_as_its_password(
    tmp_path: Path, start_gateway: Start, topic: str, http: ClientSession
) -> None:
    text = (
        "asyncapi: 3.0.0\ninfo: {title: Basic, version: 1.0.0}\n"
        "servers:\n  main: {host: 'localhost:9092', protocol: kafka}\n"
        f"channels:\n  c: {{address: '{topic}'}}\n"
        "operations:\n  put:\n    action: receive\n    channel: {$ref: '#/channels/c'}\n"
        "    security: [{$ref: '#/components/securitySchemes/basic'}]\n"
        "components:\n  securitySchemes:\n    basic: {type: http, scheme: basic}\n"
    )
    os.environ["MESH_TEST_KEY_SECRET"] = "key-secret"
    auth = AuthConfig(
        keys=KeysConfig(file=tmp_path / "keys.json", secret=Secret(env="MESH_TEST_KEY_SECRET"))
    )
    async with start_gateway([write_spec(tmp_path, text)], auth=auth) as gw:
        key = gw.state.auth.keys.issue("legacy client").key  # type: ignore[attr-defined]
        url = f"{gw.url}/{topic}"
        good = await http.post(url, json={}, headers={"Authorization": basic("legacy", key)})
        bad = await http.post(url, json={}, headers={"Authorization": basic("legacy", "wrong")})
    assert good.status == 201
    assert (bad.status, bad.headers["WWW-Authenticate"]) == (401, 'Basic realm="mesh"')


async def test_a_revoked_key_is_refused_by_every_entrypoint(
    tmp_path: Path, start_gateway: Start, issuer: Issuer, topic: str, http: ClientSession
) -> None:
    async with secure_gateway(tmp_path, start_gateway, issuer, topic) as gw:
        issued = await issue_key(http, gw, [])
        await http.delete(
            f"{gw.url}/_mesh/admin/keys/{issued['id']}",
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        key = {"X-API-Key": issued["key"]}
        url = f"{gw.url}/{topic}"
        rest = await http.post(url, json={}, headers=key)
        sse = await http.get(url, headers={**key, "Accept": "text/event-stream"})
        with pytest.raises(WSServerHandshakeError) as ws:
            await http.ws_connect(url, protocols=("mesh.v1",), headers=key)
        async with aio.insecure_channel(f"127.0.0.1:{gw.grpc_port}") as channel:
            stub: Any = pb_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(aio.AioRpcError) as grpc_refused:
                await stub.Publish(
                    pb.PublishRequest(channel=f"/{topic}", payload=b"{}"),
                    metadata=(("x-api-key", issued["key"]),),
                )
    assert (rest.status, sse.status, ws.value.status) == (401, 401, 401)
    assert grpc_refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
