"""API key records: HMACs only, constant-time checks, revocation seen by other processes."""

from __future__ import annotations

import time
from pathlib import Path

from connectors.auth.keys import KeyStore


def test_a_key_is_checked_by_its_hmac_and_never_stored(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.json", "secret")
    issued = store.issue("partner", ["orders:write"])
    principal = store.verify(issued.key, "partnerKey")
    assert principal is not None
    assert principal.id == f"key:{issued.record.id}"
    assert principal.scopes == frozenset({"orders:write"})
    assert issued.key not in (tmp_path / "keys.json").read_text()
    other = "B" if issued.key.endswith("A") else "A"
    assert store.verify(issued.key[:-1] + other, "partnerKey") is None  # one character off
    assert store.verify("not-a-key", "partnerKey") is None
    assert KeyStore(tmp_path / "keys.json", "another secret").verify(issued.key, "k") is None


def test_a_revocation_by_another_process_takes_effect_within_the_reload_time(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys.json"
    gateway = KeyStore(path, "secret", reload_seconds=0.2)
    issued = KeyStore(path, "secret").issue("partner")
    time.sleep(0.25)
    assert gateway.verify(issued.key, "k") is not None
    KeyStore(path, "secret").revoke(issued.record.id)
    time.sleep(0.25)
    assert gateway.verify(issued.key, "k") is None
