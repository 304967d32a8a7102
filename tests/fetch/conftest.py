"""Fetch fixtures: a loopback server, a fetcher whose sleeps are recorded, not slept."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import pytest

from certmgr.clock import FixedClock
from certmgr.fetch import HttpFetcher, RetryPolicy
from certmgr.fetch.testserver import LoopbackServer

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def fetcher(sleeps: list[float]) -> Iterator[HttpFetcher]:
    with HttpFetcher(now=FixedClock(T0).now, retry=RetryPolicy(attempts=3, base_delay=0.5),
                     sleep=sleeps.append, rng=random.Random(7)) as f:
        yield f
