"""Backoff: full jitter under an exponential, capped ceiling."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certmgr.fetch import RetryPolicy
from certmgr.fetch.retry import backoff_delay, retry_after_seconds

POLICY = RetryPolicy(attempts=5, base_delay=0.5, max_delay=8.0)


@given(retry_number=st.integers(0, 30), seed=st.integers(0, 2**32))
def test_delay_within_full_jitter_bounds(retry_number: int, seed: int) -> None:
    delay = backoff_delay(retry_number, policy=POLICY, rng=random.Random(seed))
    assert 0.0 <= delay <= min(8.0, 0.5 * 2**retry_number)


def test_delays_spread_and_grow() -> None:
    rng = random.Random(1)
    first = [backoff_delay(0, policy=POLICY, rng=rng) for _ in range(200)]
    fourth = [backoff_delay(3, policy=POLICY, rng=rng) for _ in range(200)]
    assert len(set(first)) == 200  # jitter: no two clients wait the same
    assert max(first) <= 0.5 < max(fourth)


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("2", 2.0), (" 120 ", 8.0), ("Wed, 21 Oct 2026 07:28:00 GMT", None), ("-1", None),
])
def test_retry_after(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header, policy=POLICY) == expected


def test_invalid_retry_policy() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)
