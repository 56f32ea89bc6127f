"""TLS on the gateway's listeners: HTTPS and gRPC, client certificates as principals, and a
certificate replaced on disk while the gateway runs."""

from __future__ import annotations

import asyncio
import shutil
import ssl
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import ClientError, ClientSession, TCPConnector
from grpc import aio

from connectors.entrypoints.grpc_api import gateway_pb2 as pb
from connectors.entrypoints.grpc_api import gateway_pb2_grpc as pb_grpc
from mesh.config import ListenerTlsConfig
from tests.certs import certificates
from tests.conftest import Start, channel_spec, write_spec

MTLS = """components:
  securitySchemes:
    certificate: {type: X509}
"""


def spec(tmp_path: Path, topic: str) -> Path:
    text = channel_spec(topic) + MTLS
    text = text.replace(
        "  op_receive:\n    action: receive\n    channel: {$ref: '#/channels/c'}",
        "  op_receive:\n    action: receive\n    channel: {$ref: '#/channels/c'}\n"
        "    security: [{$ref: '#/components/securitySchemes/certificate'}]",
    )
    return write_spec(tmp_path, text)


def client_context(files: dict[str, Path], with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=files["ca.pem"])
    if with_certificate:
        context.load_cert_chain(files["client.pem"], files["client.key"])
    return context


def peer_common_name(port: int, cafile: Path) -> str:
    import socket

    context = ssl.create_default_context(cafile=cafile)
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        certificate: Any = tls.getpeercert()
    return str(dict(x[0] for x in certificate["subject"])["commonName"])


async def test_https_with_client_certificates_as_principals_and_a_reloaded_certificate(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    files = certificates(tmp_path)
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(files["server.pem"], served / "cert.pem")
    shutil.copy(files["server.key"], served / "key.pem")
    tls = ListenerTlsConfig(
        cert_file=served / "cert.pem",
        key_file=served / "key.pem",
        client_ca_file=files["ca.pem"],
        reload_seconds=0.2,
    )
    async with start_gateway([spec(tmp_path, topic)], tls=tls) as gw:
        url = f"{gw.url}/{topic}"
        assert url.startswith("https://")
        with_cert = ClientSession(connector=TCPConnector(ssl=client_context(files, True)))
        without = ClientSession(connector=TCPConnector(ssl=client_context(files, False)))
        async with with_cert, without:
            accepted = await with_cert.post(url, json={})
            refused = await without.post(url, json={})
            before = await asyncio.to_thread(peer_common_name, gw.port, files["ca.pem"])
            shutil.copy(files["server2.key"], served / "key.pem")
            shutil.copy(files["server2.pem"], served / "cert.pem")
            await asyncio.sleep(0.6)
            after = await asyncio.to_thread(peer_common_name, gw.port, files["ca.pem"])
            still = await with_cert.post(url, json={})
    assert accepted.status == 201
    assert (refused.status, refused.headers["WWW-Authenticate"]) == (401, 'Mutual realm="mesh"')
    assert (before, after) == ("server", "server2")
    assert still.status == 201


async def test_grpc_over_tls_takes_the_client_certificate_as_the_principal(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    files = certificates(tmp_path)
    tls = ListenerTlsConfig(
        cert_file=files["server.pem"], key_file=files["server.key"], client_ca_file=files["ca.pem"]
    )
    root = files["ca.pem"].read_bytes()
    request = pb.PublishRequest(channel=f"/{topic}", payload=b"{}")
    async with start_gateway([spec(tmp_path, topic)], tls=tls) as gw:
        target = f"127.0.0.1:{gw.grpc_port}"
        mutual = grpc.ssl_channel_credentials(
            root, files["client.key"].read_bytes(), files["client.pem"].read_bytes()
        )
        async with aio.secure_channel(target, mutual) as channel:
            stub: Any = pb_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
            reply = await stub.Publish(request)
        async with aio.secure_channel(target, grpc.ssl_channel_credentials(root)) as channel:
            stub = pb_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(aio.AioRpcError) as refused:
                await stub.Publish(request)
    assert reply.outcome == pb.ACKED
    # grpcio cannot make client certificates optional: without one the handshake fails
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_client_certificate_from_another_ca_is_refused_on_https_wss_and_grpc(
    tmp_path: Path, start_gateway: Start, topic: str
) -> None:
    files = certificates(tmp_path / "ours")
    strangers = certificates(tmp_path / "theirs")
    tls = ListenerTlsConfig(
        cert_file=files["server.pem"], key_file=files["server.key"], client_ca_file=files["ca.pem"]
    )
    context = ssl.create_default_context(cafile=files["ca.pem"])
    context.load_cert_chain(strangers["client.pem"], strangers["client.key"])
    mismatched = grpc.ssl_channel_credentials(
        files["ca.pem"].read_bytes(),
        strangers["client.key"].read_bytes(),
        strangers["client.pem"].read_bytes(),
    )
    async with (
        start_gateway([spec(tmp_path, topic)], tls=tls) as gw,
        ClientSession(connector=TCPConnector(ssl=context)) as http,
    ):
        with pytest.raises(ClientError):
            await http.post(f"{gw.url}/{topic}", json={})
        with pytest.raises(ClientError):
            await http.ws_connect(f"{gw.url}/{topic}", protocols=("mesh.v1",))
        async with aio.secure_channel(f"127.0.0.1:{gw.grpc_port}", mismatched) as channel:
            stub: Any = pb_grpc.GatewayStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(aio.AioRpcError) as refused:
                await stub.Publish(pb.PublishRequest(channel=f"/{topic}", payload=b"{}"))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
