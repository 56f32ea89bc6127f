"""The gateway configuration file: which documents, which listener, which brokers, which limits.

Loaded from YAML or JSON and validated strictly (unknown keys are refused). Secrets are never
written in the file itself: they name an environment variable or a file to read them from.
``mesh schema config`` prints this model's JSON Schema for editors.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mesh.specs.source import parse_text

__all__ = [
    "AclRuleConfig",
    "AuthConfig",
    "CatalogConfig",
    "CorsConfig",
    "GatewayConfig",
    "GrpcConfig",
    "HttpConfig",
    "IdempotencyConfig",
    "JwtConfig",
    "KafkaConfig",
    "KeysConfig",
    "LimitConfig",
    "LimitsConfig",
    "ListenConfig",
    "ListenerTlsConfig",
    "MqttConfig",
    "PlanConfig",
    "PollConfig",
    "PublishConfig",
    "QuotaConfig",
    "SaslConfig",
    "Secret",
    "SecurityOverride",
    "ServerOverride",
    "SpecEntry",
    "SseConfig",
    "TlsConfig",
    "WebSocketConfig",
]

NEVER_FORWARDED = frozenset({"authorization", "cookie", "proxy-authorization", "set-cookie"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(_Strict):
    """A secret read from an environment variable (``env``) or a file (``file``), never inline."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret names exactly one of 'env' or 'file'")
        return self

    def reveal(self) -> str:
        """Read the secret now; raises ``ValueError`` naming the source when it is missing."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ValueError(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            return self.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {self.file}: {exc.strerror}") from exc


class SaslConfig(_Strict):
    mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
    username: str | Secret
    password: Secret


class TlsConfig(_Strict):
    """TLS to the broker. With no files, the system's trusted CAs verify the broker."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: Secret | None = None
    check_hostname: bool = True


class ServerOverride(_Strict):
    """Overrides for an AsyncAPI server, by name (``"*"`` applies to every server without one)."""

    host: str | None = Field(
        default=None, description="host:port, or several separated by commas (bootstrap list)"
    )
    protocol: str | None = None
    sasl: SaslConfig | None = None
    tls: TlsConfig | None = None
    username: str | Secret | None = Field(default=None, description="MQTT user name")
    password: Secret | None = Field(default=None, description="MQTT password")
    client_id: str | None = Field(
        default=None, description="MQTT client id prefix (replaces the document's clientId)"
    )


Requirements = list[dict[str, list[str]]]


class SecurityOverride(_Strict):
    """Client-facing requirements stated outright, replacing what the operations say: per side,
    security requirement objects (``{scheme: [scopes]}``; any one suffices; ``[]`` is open)
    naming the document's ``components/securitySchemes``."""

    publish: Requirements | None = None
    subscribe: Requirements | None = None


class SpecEntry(_Strict):
    path: Path
    base_path: str | None = Field(default=None, description="prefix for every route, e.g. /v1")
    server: str | None = Field(
        default=None, description="the server to use when several of a channel's servers match"
    )
    actions: list[Literal["publish", "subscribe"]] | None = Field(
        default=None, description="what clients may do on every channel, replacing the default"
    )
    channels: dict[str, ChannelOverride] = Field(default_factory=dict)
    security: SecurityOverride | None = Field(
        default=None, description="client-facing requirements for every channel of the document"
    )
    upstreams: list[str] | None = Field(
        default=None,
        description="OpenAPI: upstream base URLs replacing the document's servers "
        "(several are balanced round-robin)",
    )


class ChannelOverride(_Strict):
    actions: list[Literal["publish", "subscribe"]] | None = None


class ListenConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class GrpcConfig(_Strict):
    """The gRPC listener (``mesh.v1.Gateway``, reflection and health)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9090, ge=0, le=65535)


class LimitsConfig(_Strict):
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    max_batch_messages: int = Field(default=500, gt=0)


class PublishConfig(_Strict):
    timeout_seconds: float = Field(default=5.0, gt=0, description="deadline for the broker ack")


class IdempotencyConfig(_Strict):
    ttl_seconds: float = Field(default=86_400, gt=0)
    max_entries: int = Field(default=100_000, gt=0)


class SseConfig(_Strict):
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    retry_ms: int = Field(default=2_000, ge=0)
    batch_limit: int = Field(default=500, gt=0, description="messages written per flush at most")
    write_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="a stream client (SSE, WebSocket, gRPC) slower to accept a write is dropped",
    )


class WebSocketConfig(_Strict):
    max_frame_bytes: int = Field(default=1_048_576, gt=0, description="larger frames close 1009")
    ping_interval_seconds: float = Field(
        default=20.0, gt=0, description="a peer that does not answer a ping within half is dropped"
    )
    max_in_flight: int = Field(
        default=32, gt=0, description="publishes of one session awaiting their ack at once"
    )


class PollConfig(_Strict):
    default_limit: int = Field(default=100, gt=0)
    max_limit: int = Field(default=1_000, gt=0)
    max_wait_seconds: float = Field(default=30.0, ge=0)


class CorsConfig(_Strict):
    allow_origins: list[str] = Field(
        default_factory=list, description="exact origins, or '*' for any; none by default"
    )
    allow_headers: list[str] = Field(
        default_factory=lambda: [
            "Content-Type",
            "Idempotency-Key",
            "Last-Event-ID",
            "Message-Key",
            "Authorization",
        ]
    )
    expose_headers: list[str] = Field(default_factory=lambda: ["Location"])
    allow_credentials: bool = False
    max_age_seconds: int = Field(default=600, ge=0)


class KafkaConfig(_Strict):
    fetch_max_wait_ms: int = Field(
        default=10, ge=0, description="streaming readers' fetch wait; keep low for Tansu"
    )
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    linger_ms: int = Field(default=0, ge=0)
    max_request_size: int = Field(default=1_048_576, gt=0)
    client_buffer_messages: int = Field(
        default=10_000,
        gt=0,
        description="messages buffered per subscriber of a shared reader; a fuller one is dropped",
    )


class MqttConfig(_Strict):
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    reconnect_max_seconds: float = Field(
        default=5.0, gt=0, description="the longest wait between reconnect attempts"
    )
    qos: Literal[0, 1, 2] = Field(
        default=1, description="QoS of publishes and subscriptions without an mqtt binding"
    )
    replay_messages: int = Field(
        default=1_000,
        gt=0,
        description="recent messages kept per subscribed topic filter for resuming streams",
    )
    linger_seconds: float = Field(
        default=30.0,
        ge=0,
        description="how long a topic filter stays subscribed after its last stream closed",
    )


class HttpConfig(_Strict):
    """HTTP upstreams (OpenAPI operations); ``x-mesh`` sets timeout and retries per operation."""

    timeout_seconds: float = Field(
        default=30.0, gt=0, description="how long an upstream may take to start answering"
    )
    retries: int = Field(
        default=1, ge=0, le=10, description="further attempts for idempotent methods"
    )
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    eject_after_failures: int = Field(
        default=5, gt=0, description="consecutive failures that take an upstream URL out"
    )
    eject_seconds: float = Field(
        default=10.0, gt=0, description="how long an ejected URL rests before one probe request"
    )
    max_connections: int = Field(default=256, gt=0, description="per upstream URL set")


class JwtConfig(_Strict):
    """How the tokens of one bearer (``http``/``oauth2``/``openIdConnect``) scheme are checked."""

    algorithms: list[str] = Field(
        default_factory=lambda: ["RS256"],
        description="accepted signature algorithms; 'none' is never accepted",
    )
    issuer: str | None = Field(default=None, description="required 'iss'")
    audience: str | None = Field(default=None, description="required 'aud'")
    jwks_url: str | None = Field(default=None, description="where the signing keys are published")
    public_key_file: Path | None = Field(default=None, description="a PEM public key instead")
    secret: Secret | None = Field(default=None, description="HS256/384/512 shared secret instead")
    leeway_seconds: float = Field(default=30.0, ge=0, description="clock skew allowed on exp/nbf")
    scopes_claim: str = Field(default="scope", description="claim with the token's scopes")
    refetch_seconds: float = Field(
        default=30.0, gt=0, description="the least time between two JWKS fetches for unknown kids"
    )

    @model_validator(mode="after")
    def _one_key_source(self) -> JwtConfig:
        sources = [self.jwks_url, self.public_key_file, self.secret]
        if sum(s is not None for s in sources) != 1:
            raise ValueError("give exactly one of jwks_url, public_key_file or secret")
        if "none" in (a.lower() for a in self.algorithms):
            raise ValueError("the 'none' algorithm is never accepted")
        symmetric = {a.upper().startswith("HS") for a in self.algorithms}
        if len(symmetric) > 1:
            raise ValueError("do not mix HS and public-key algorithms in one scheme")
        if (self.secret is not None) != (symmetric == {True}):
            raise ValueError("HS algorithms take a 'secret'; public-key algorithms a key or JWKS")
        return self


class KeysConfig(_Strict):
    """API keys issued by the gateway (``mesh keys``, ``/_mesh/admin/keys``)."""

    file: Path = Field(description="where key records (HMACs, never keys) are kept")
    secret: Secret = Field(description="the HMAC server secret")
    reload_seconds: float = Field(
        default=5.0, gt=0, description="how soon a change by another process takes effect"
    )


class AuthConfig(_Strict):
    """Credentials checked for routes whose documents ask for them (docs/auth.md)."""

    jwt: dict[str, JwtConfig] = Field(
        default_factory=dict, description="per bearer scheme name of the documents"
    )
    keys: KeysConfig | None = None
    admin_token: Secret | None = Field(
        default=None, description="bearer token of the admin API (/_mesh/admin/...)"
    )


PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
MEASURES = ("requests", "messages", "bytes", "delivered_messages", "delivered_bytes")


class LimitConfig(_Strict):
    """One limit: exactly one of ``requests``, ``messages`` or ``bytes``, ``per`` a period."""

    requests: int | None = Field(default=None, gt=0)
    messages: int | None = Field(default=None, gt=0, description="published (and acked) messages")
    bytes: int | None = Field(default=None, gt=0, description="published payload bytes")
    delivered_messages: int | None = Field(
        default=None, gt=0, description="messages written to the consumer's streams and polls"
    )
    delivered_bytes: int | None = Field(
        default=None, gt=0, description="payload bytes written to the consumer's streams and polls"
    )
    per: Literal["second", "minute", "hour", "day"]
    algorithm: Literal["token_bucket", "fixed_window", "sliding_window"] = Field(
        default="token_bucket",
        description="token_bucket for rates (bursts up to the limit); windows for quotas",
    )

    @model_validator(mode="after")
    def _one_measure(self) -> LimitConfig:
        if sum(v is not None for v in (getattr(self, m) for m in MEASURES)) != 1:
            raise ValueError(f"a limit counts exactly one of {', '.join(MEASURES)}")
        return self


class PlanConfig(_Strict):
    limits: list[LimitConfig] = Field(default_factory=list)
    max_streams: int | None = Field(
        default=None, gt=0, description="concurrent streams per consumer (shared with Redis)"
    )


class QuotaConfig(_Strict):
    """Where quota counters live and who is on which plan (docs/quotas.md)."""

    store: Literal["memory", "redis"] = Field(
        default="memory", description="redis shares counters between gateway processes"
    )
    redis_url: str = "redis://127.0.0.1:6379/0"
    timeout_ms: int = Field(default=50, gt=0, description="the longest wait for Redis")
    fail: Literal["open", "closed"] = Field(
        default="open", description="when Redis is slow or down: admit (open) or refuse (closed)"
    )
    default_plan: str | None = Field(
        default=None, description="plan of authenticated consumers that name none"
    )
    anonymous_plan: str | None = Field(
        default=None, description="plan of anonymous callers, counted per client address"
    )
    plan_claim: str = Field(default="plan", description="JWT claim that names a plan")


class AclRuleConfig(_Strict):
    """Who may do what on which channels (docs/auth.md#channel-acls)."""

    channels: list[str] = Field(description="route paths, e.g. /iot/devices/{deviceId}/telemetry")
    actions: list[Literal["publish", "subscribe"]]
    keys: list[str] = Field(default_factory=list, description="API key ids")
    subjects: list[str] = Field(default_factory=list, description="JWT 'sub' values")
    scopes: list[str] = Field(default_factory=list, description="scopes the principal must have")
    groups: list[str] = Field(default_factory=list, description="any of these groups")
    claims: dict[str, str] = Field(default_factory=dict, description="claims that must equal these")
    parameters: dict[str, str] = Field(
        default_factory=dict,
        description="per address parameter: a glob (acme-*, *) or {claim}, the principal's claim",
    )
    groups_claim: str = "groups"


class ListenerTlsConfig(_Strict):
    """TLS on the gateway's own listeners: HTTPS/WSS and gRPC."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = Field(
        default=None, description="CA that signs client certificates (mTLS)"
    )
    client_certificates: Literal["optional", "required"] = Field(
        default="optional", description="with a client CA: whether every client must present one"
    )
    reload_seconds: float = Field(
        default=10.0, gt=0, description="how often the certificate files are checked for changes"
    )


class CatalogConfig(_Strict):
    """The catalog of registered documents (docs/catalog.md); needs ``auth.admin_token``."""

    path: Path = Field(
        description="the SQLite file, e.g. data/catalog.sqlite; with postgres_url, live documents "
        "are written beside it"
    )
    postgres_url: str | Secret | None = Field(
        default=None,
        description="keep the catalog in PostgreSQL, shared by every gateway using it "
        "(postgresql://user@host/db)",
    )
    public_read: bool = Field(
        default=False, description="let anyone read the catalog; writing always needs the admin"
    )
    refuse_breaking: bool = Field(
        default=False, description="refuse versions that break consumers of the previous one"
    )


class GatewayConfig(_Strict):
    """The whole gateway configuration (every key optional)."""

    listen: ListenConfig = Field(default_factory=ListenConfig)
    grpc: GrpcConfig = Field(default_factory=GrpcConfig)
    specs: list[SpecEntry] = Field(default_factory=list)
    servers: dict[str, ServerOverride] = Field(default_factory=dict)
    forward_headers: list[str] = Field(
        default_factory=list, description="request headers copied into every Kafka record"
    )
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    publish: PublishConfig = Field(default_factory=PublishConfig)
    idempotency: IdempotencyConfig = Field(default_factory=IdempotencyConfig)
    sse: SseConfig = Field(default_factory=SseConfig)
    poll: PollConfig = Field(default_factory=PollConfig)
    websocket: WebSocketConfig = Field(default_factory=WebSocketConfig)
    cors: CorsConfig = Field(default_factory=CorsConfig)
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    tls: ListenerTlsConfig | None = None
    catalog: CatalogConfig | None = None
    acl: list[AclRuleConfig] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or CIDRs whose X-Forwarded-For/Forwarded the gateway believes",
    )
    plans: dict[str, PlanConfig] = Field(default_factory=dict)
    quotas: QuotaConfig = Field(default_factory=QuotaConfig)
    drain_seconds: float = Field(default=5.0, ge=0, description="grace for streams on shutdown")

    @field_validator("forward_headers")
    @classmethod
    def _no_credentials(cls, names: list[str]) -> list[str]:
        return check_forwarded(names)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)  # ValueError names the bad one
        return values

    @model_validator(mode="after")
    def _plans_exist(self) -> GatewayConfig:
        for name in (self.quotas.default_plan, self.quotas.anonymous_plan):
            if name is not None and name not in self.plans:
                raise ValueError(f"quotas name plan {name!r}, which 'plans' does not define")
        return self

    @classmethod
    def load(cls, path: Path) -> GatewayConfig:
        """Read a YAML or JSON config; relative spec paths are relative to the file."""
        data: Any = parse_text(path.read_text(encoding="utf-8"), str(path)) or {}
        config = cls.model_validate(data)
        specs = [
            entry.model_copy(update={"path": (path.parent / entry.path).resolve()})
            for entry in config.specs
        ]
        return config.model_copy(update={"specs": specs})


def check_forwarded(names: list[str]) -> list[str]:
    """Refuse credential headers in a forwarding allowlist; return the names lowercased."""
    lowered = [n.lower() for n in names]
    refused = sorted(set(lowered) & NEVER_FORWARDED)
    if refused:
        raise ValueError(f"header(s) {refused} carry credentials and are never forwarded")
    return lowered


SpecEntry.model_rebuild()
