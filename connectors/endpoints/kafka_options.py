"""Kafka endpoint options, read from the plain values the gateway puts in ``EndpointSettings``."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from aiokafka.helpers import create_ssl_context

from mesh.core.connector import EndpointSettings

__all__ = ["KafkaOptions"]


@dataclass(frozen=True, slots=True)
class KafkaOptions:
    bootstrap: tuple[str, ...]
    secure: bool = False
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_key_password: str | None = None
    tls_check_hostname: bool = True
    fetch_max_wait_ms: int = 10
    connect_timeout: float = 5.0
    linger_ms: int = 0
    max_request_size: int = 1_048_576
    client_buffer: int = 10_000

    @classmethod
    def from_settings(cls, settings: EndpointSettings) -> KafkaOptions:
        known = set(cls.__dataclass_fields__) - {"bootstrap"}
        unknown = set(settings.options) - known
        if unknown:
            raise ValueError(f"unknown Kafka option(s) {sorted(unknown)}")
        return cls(bootstrap=settings.hosts, **settings.options)

    def client_args(self) -> dict[str, Any]:
        """Connection arguments shared by aiokafka producers, consumers and clients."""
        protocol = ("SASL_" if self.sasl_mechanism else "") + (
            "SSL" if self.secure else "PLAINTEXT"
        )
        args: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap),
            "security_protocol": protocol,
            "request_timeout_ms": int(self.connect_timeout * 1000) + 30_000,
        }
        if self.secure:
            args["ssl_context"] = self._ssl_context()
        if self.sasl_mechanism:
            args["sasl_mechanism"] = self.sasl_mechanism
            args["sasl_plain_username"] = self.sasl_username
            args["sasl_plain_password"] = self.sasl_password
        return args

    def _ssl_context(self) -> ssl.SSLContext:
        context: ssl.SSLContext = create_ssl_context(
            cafile=self.tls_ca_file,
            certfile=self.tls_cert_file,
            keyfile=self.tls_key_file,
            password=self.tls_key_password,
        )
        context.check_hostname = self.tls_check_hostname
        return context
