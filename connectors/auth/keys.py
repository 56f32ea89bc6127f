"""API keys issued by the gateway: random, stored only as an HMAC-SHA256 under a server secret.

A key reads ``mk_{id}_{secret}``: the id finds its record, the HMAC of the whole key is compared
in constant time. A slow password hash has no place here: the keys carry 256 random bits, and
every request checks one, and a key once verified is remembered until the records change.
Records live in a JSON file, written atomically; a process notices another's changes (a
revocation) within ``reload_seconds``, and its own at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mesh.core.auth import Principal

__all__ = ["IssuedKey", "KeyRecord", "KeyStore"]

_KEY = re.compile(r"^mk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    digest: str
    scopes: list[str] = field(default_factory=list)
    created: float = 0.0
    revoked: float | None = None
    plan: str | None = None


@dataclass(frozen=True)
class IssuedKey:
    """A new key: ``key`` is shown once and never stored."""

    key: str
    record: KeyRecord


class KeyStore:
    """The keys of one gateway (or of several sharing ``path``)."""

    def __init__(self, path: Path, secret: str, reload_seconds: float = 5.0) -> None:
        self.path = path
        self.reload_seconds = reload_seconds
        self._secret = secret.encode()
        self._records: dict[str, KeyRecord] = {}
        self._verified: dict[str, Principal] = {}  # cleared whenever the records change
        self._mtime: float | None = None
        self._checked = 0.0
        self._load()

    def issue(
        self, name: str, scopes: list[str] | None = None, plan: str | None = None
    ) -> IssuedKey:
        self._load()
        key_id = secrets.token_hex(8)
        key = f"mk_{key_id}_{secrets.token_urlsafe(32)}"
        digest = self._digest(key)
        record = KeyRecord(key_id, name, digest, sorted(scopes or []), time.time(), None, plan)
        self._records[key_id] = record
        self._save()
        return IssuedKey(key, record)

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke a key; raises ``KeyError`` for an unknown id."""
        self._load()
        record = self._records[key_id]
        if record.revoked is None:
            record = KeyRecord(**{**asdict(record), "revoked": time.time()})
            self._records[key_id] = record
            self._save()
        return record

    def records(self) -> list[KeyRecord]:
        self._load()
        return sorted(self._records.values(), key=lambda r: r.created)

    def verify(self, key: str, scheme: str) -> Principal | None:
        """The key's principal, or None when it is malformed, unknown, wrong or revoked."""
        self._reload_if_due()
        cached = self._verified.get(key)
        if cached is not None and cached.scheme == scheme:
            return cached
        found = _KEY.match(key)
        record = self._records.get(found.group(1)) if found else None
        if record is None or record.revoked is not None:
            return None
        if not hmac.compare_digest(self._digest(key), record.digest):
            return None
        principal = Principal(
            id=f"key:{record.id}",
            scheme=scheme,
            scopes=frozenset(record.scopes),
            claims={"name": record.name, "plan": record.plan},
        )
        if len(self._verified) >= _CACHE_SIZE:
            self._verified.clear()
        self._verified[key] = principal
        return principal

    def active(self, key_id: str) -> bool:
        """Whether the key is known and not revoked (as of the last reload)."""
        self._reload_if_due()
        record = self._records.get(key_id)
        return record is not None and record.revoked is None

    def _digest(self, key: str) -> str:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()

    def _reload_if_due(self) -> None:
        now = time.monotonic()
        if now - self._checked >= self.reload_seconds:
            self._checked = now
            self._load()

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._records, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        self._records = {k: KeyRecord(**v) for k, v in data.get("keys", {}).items()}
        self._verified.clear()
        self._mtime = mtime

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"keys": {k: asdict(v) for k, v in self._records.items()}}
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
        os.replace(temporary, self.path)
        self._verified.clear()
        self._mtime = self.path.stat().st_mtime
