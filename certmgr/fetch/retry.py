"""How often, and how patiently, a failed download is tried again.

Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
And Jitter"): before attempt n+1 the fetcher sleeps a uniform random time in
[0, min(max_delay, base_delay * 2**n)], so clients that failed together do not
come back together. Only transient failures are retried: connection errors,
timeouts, HTTP 5xx and 429; never 4xx nor a policy refusal.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RETRY_STATUSES", "RetryPolicy", "backoff_delay", "retry_after_seconds"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` counts the first try: 3 means one try and up to two retries."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")


def backoff_delay(retry_number: int, *, policy: RetryPolicy, rng: random.Random) -> float:
    """The sleep before retry number `retry_number` (0 for the first retry), in seconds."""
    ceiling = min(policy.max_delay, policy.base_delay * (2 ** retry_number))
    return rng.uniform(0.0, ceiling)


def retry_after_seconds(value: str | None, *, policy: RetryPolicy) -> float | None:
    """A `Retry-After: <seconds>` header as a delay capped at `max_delay`; None if absent.

    The HTTP-date form is ignored: honouring it would need the wall clock here.
    """
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value.strip()), policy.max_delay)
