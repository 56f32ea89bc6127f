"""MQTT endpoint options, read from the plain values the gateway puts in ``EndpointSettings``.

``binding`` is the server's ``mqtt`` binding from the AsyncAPI document (``clientId``,
``cleanSession``, ``keepAlive``, ``lastWill``, ``sessionExpiryInterval``); the gateway config's
values win over it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from mesh.core.connector import EndpointSettings

__all__ = ["MqttOptions"]


@dataclass(frozen=True, slots=True)
class MqttOptions:
    host: str
    port: int
    secure: bool = False
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    clean_start: bool = True
    keepalive: int = 60
    session_expiry: int = 0
    will: dict[str, Any] | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_key_password: str | None = None
    tls_check_hostname: bool = True
    qos: int = 1
    connect_timeout: float = 5.0
    reconnect_max: float = 5.0
    replay_messages: int = 1_000
    linger_seconds: float = 30.0
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, settings: EndpointSettings) -> MqttOptions:
        options = dict(settings.options)
        binding: dict[str, Any] = options.pop("binding", None) or {}
        known = set(cls.__dataclass_fields__) - {"host", "port", "ssl_context"}
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"unknown MQTT option(s) {sorted(unknown)}")
        secure = bool(options.get("secure"))
        host, _, port = settings.hosts[0].rpartition(":") if settings.hosts else ("", "", "")
        if not host:
            host, port = port or "localhost", ""
        from_binding = {
            "client_id": binding.get("clientId"),
            "clean_start": binding.get("cleanSession"),
            "keepalive": binding.get("keepAlive"),
            "session_expiry": _integer(binding.get("sessionExpiryInterval")),
            "will": binding.get("lastWill"),
        }
        merged: dict[str, Any] = {k: v for k, v in from_binding.items() if v is not None} | {
            k: v for k, v in options.items() if v is not None
        }
        made = cls(host=host, port=int(port or (8883 if secure else 1883)), **merged)
        if secure:
            object.__setattr__(made, "ssl_context", made._ssl_context())
        return made

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.tls_ca_file)
        if self.tls_cert_file:
            context.load_cert_chain(self.tls_cert_file, self.tls_key_file, self.tls_key_password)
        context.check_hostname = self.tls_check_hostname
        return context


def _integer(value: Any) -> int | None:
    """A binding value that may be a plain integer or a Schema Object with a ``const``/default."""
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        found = value.get("const", value.get("default"))
        return found if isinstance(found, int) else None
    return None
