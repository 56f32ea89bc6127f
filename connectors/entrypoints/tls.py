"""TLS for the gateway's listeners (HTTPS/WSS and gRPC), with certificates reloaded in place.

The certificate and key are read again when their files change (checked every
``reload_seconds`` for HTTP, at each new connection for gRPC): new connections get the new
certificate, open ones keep theirs. With a client CA, clients present certificates signed by it
(``optional`` or ``required``); a verified certificate's subject can be a principal (mTLS).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

__all__ = ["ListenerTls", "certificate_subject"]

log = logging.getLogger("mesh.tls")


@dataclass(frozen=True)
class ListenerTls:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_certificates: str = "none"  # none, optional or required
    reload_seconds: float = 10.0

    def _stamp(self) -> tuple[float, float]:
        return self.cert_file.stat().st_mtime, self.key_file.stat().st_mtime

    def ssl_context(self) -> ssl.SSLContext:
        """A server context for aiohttp; ``watch`` keeps its certificate current."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file is not None:
            context.load_verify_locations(self.client_ca_file)
            context.verify_mode = (
                ssl.CERT_REQUIRED if self.client_certificates == "required" else ssl.CERT_OPTIONAL
            )
        return context

    async def watch(self, context: ssl.SSLContext) -> None:
        """Reload the certificate into ``context`` whenever its files change; runs until
        cancelled."""
        stamp = self._stamp()
        while True:
            await asyncio.sleep(self.reload_seconds)
            try:
                now = self._stamp()
                if now != stamp:
                    context.load_cert_chain(self.cert_file, self.key_file)
                    stamp = now
                    log.info("reloaded the TLS certificate %s", self.cert_file)
            except (OSError, ssl.SSLError) as exc:
                log.warning("keeping the TLS certificate in use: %s", exc)

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """Credentials that read the certificate again, when changed, for each new connection.
        With a client CA, gRPC clients must present a certificate (grpcio has no optional)."""
        state: dict[str, Any] = {"stamp": self._stamp()}

        def configuration() -> Any:
            root = self.client_ca_file.read_bytes() if self.client_ca_file else None
            pair = (self.key_file.read_bytes(), self.cert_file.read_bytes())
            return grpc.ssl_server_certificate_configuration([pair], root_certificates=root)

        def fetch() -> Any:
            try:
                now = self._stamp()
                if now == state["stamp"]:
                    return None
                state["stamp"] = now
                log.info("reloaded the gRPC TLS certificate %s", self.cert_file)
                return configuration()
            except OSError:
                return None

        # grpcio cannot ask for a client certificate without requiring one: with a client CA,
        # the gRPC listener requires client certificates
        required = self.client_ca_file is not None
        return grpc.dynamic_ssl_server_credentials(
            configuration(), fetch, require_client_authentication=required
        )


def certificate_subject(peercert: Any) -> str | None:
    """``CN=...,O=...`` from the ``peercert`` dict of a verified TLS connection."""
    if not isinstance(peercert, dict) or not peercert.get("subject"):
        return None
    parts = [f"{_SHORT.get(k, k)}={v}" for rdn in peercert["subject"] for k, v in rdn]
    return ",".join(parts)


_SHORT = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
}
