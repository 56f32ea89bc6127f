"""Counting against limits: exact at the boundary for every algorithm."""

from __future__ import annotations

import pytest

from mesh.core.quota import Algorithm, Limit, Measure, take


def run(limit: Limit, times: list[float], amount: int = 1) -> list[bool]:
    state: list[float] = []
    return [take(limit, state, amount, t).allowed for t in times]


def test_a_token_bucket_allows_its_burst_then_refills_evenly() -> None:
    limit = Limit(Measure.REQUESTS, 3, 1.0)
    assert run(limit, [0.0, 0.0, 0.0, 0.0, 0.34, 0.34]) == [True, True, True, False, True, False]


@pytest.mark.parametrize("algorithm", [Algorithm.FIXED_WINDOW, Algorithm.SLIDING_WINDOW])
def test_windows_allow_exactly_the_limit(algorithm: Algorithm) -> None:
    limit = Limit(Measure.MESSAGES, 5, 60.0, algorithm)
    assert run(limit, [1.0] * 6) == [True] * 5 + [False]


def test_a_fixed_window_starts_afresh_and_a_sliding_one_remembers_the_last() -> None:
    fixed = Limit(Measure.MESSAGES, 4, 60.0, Algorithm.FIXED_WINDOW)
    sliding = Limit(Measure.MESSAGES, 4, 60.0, Algorithm.SLIDING_WINDOW)
    times = [50.0] * 4 + [61.0]
    assert run(fixed, times) == [True] * 5
    assert run(sliding, times) == [True] * 4 + [False]  # 4 x 49/60 of the last window still count


def test_a_refusal_says_when_the_amount_fits() -> None:
    limit = Limit(Measure.REQUESTS, 2, 1.0)
    state: list[float] = []
    take(limit, state, 2, 0.0)
    refused = take(limit, state, 1, 0.0)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(0.5)
