from __future__ import annotations

import pytest

from mesh.core.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from mesh.core.idempotency import Answer, IdempotencyStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_first_request_goes_ahead_and_retry_gets_the_answer() -> None:
    store = IdempotencyStore(ttl=60, max_entries=10)
    assert store.begin("route", "k", "fp") is None
    answer = Answer(201, "application/json", b"{}")
    store.finish("route", "k", answer)
    assert store.begin("route", "k", "fp") == answer


def test_concurrent_retry_is_refused_while_in_progress() -> None:
    store = IdempotencyStore(ttl=60, max_entries=10)
    store.begin("route", "k", "fp")
    with pytest.raises(IdempotencyKeyInUse):
        store.begin("route", "k", "fp")


def test_key_reused_for_another_request_is_refused() -> None:
    store = IdempotencyStore(ttl=60, max_entries=10)
    store.begin("route", "k", "fp")
    store.finish("route", "k", Answer(201, "application/json", b"{}"))
    with pytest.raises(IdempotencyKeyReused):
        store.begin("route", "k", "other")


def test_scopes_are_separate() -> None:
    store = IdempotencyStore(ttl=60, max_entries=10)
    store.begin("a", "k", "fp")
    assert store.begin("b", "k", "fp") is None


def test_forgotten_key_runs_again() -> None:
    store = IdempotencyStore(ttl=60, max_entries=10)
    store.begin("route", "k", "fp")
    store.forget("route", "k")
    assert store.begin("route", "k", "fp") is None


def test_entries_expire_and_are_bounded() -> None:
    clock = Clock()
    store = IdempotencyStore(ttl=10, max_entries=2, clock=clock)
    for key in ("a", "b", "c"):
        store.begin("r", key, "fp")
    assert len(store) == 2
    clock.now = 11
    assert store.begin("r", "c", "fp") is None
    assert len(store) == 1
