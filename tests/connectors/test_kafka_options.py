"""Broker credentials reach aiokafka as they should (no SASL/TLS broker runs here to prove more)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from connectors.endpoints.kafka_options import KafkaOptions
from mesh.config import GatewayConfig, SaslConfig, Secret, TlsConfig
from mesh.core.connector import EndpointSettings
from mesh.gateway import connector_settings


def settings(**options: object) -> EndpointSettings:
    return EndpointSettings("main", "kafka", ("k1:9092", "k2:9092"), options)


def test_plain_by_default() -> None:
    args = KafkaOptions.from_settings(settings()).client_args()
    assert args["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert args["security_protocol"] == "PLAINTEXT"
    assert "ssl_context" not in args


def test_sasl_over_tls() -> None:
    options = KafkaOptions.from_settings(
        settings(
            secure=True,
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="u",
            sasl_password="p",
            tls_check_hostname=False,
        )
    )
    args = options.client_args()
    assert args["security_protocol"] == "SASL_SSL"
    assert (args["sasl_mechanism"], args["sasl_plain_username"], args["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "u",
        "p",
    )
    assert isinstance(args["ssl_context"], ssl.SSLContext)
    assert args["ssl_context"].check_hostname is False


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown Kafka option"):
        KafkaOptions.from_settings(settings(colour="blue"))


def test_secrets_come_from_the_environment_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_USER", "gateway")
    (tmp_path / "password").write_text("s3cret\n")
    sasl = SaslConfig(
        mechanism="PLAIN",
        username=Secret(env="KAFKA_USER"),
        password=Secret(file=tmp_path / "password"),
    )
    compiled = settings(secure=True, sasl=sasl, tls=TlsConfig(check_hostname=False))
    options = connector_settings(compiled, GatewayConfig()).options
    assert (options["sasl_username"], options["sasl_password"]) == ("gateway", "s3cret")
    assert options["secure"] is True
    KafkaOptions.from_settings(connector_settings(compiled, GatewayConfig()))


def test_a_missing_secret_says_where_it_was_looked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE", raising=False)
    with pytest.raises(ValueError, match="environment variable NOPE is not set"):
        Secret(env="NOPE").reveal()
    with pytest.raises(ValueError, match="names exactly one"):
        Secret(env="A", file=Path("b"))
