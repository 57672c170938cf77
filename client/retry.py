"""When to retry a request and how long to wait first: exponential backoff with jitter, ``Retry-After``
honoured. Only 429 and 503 answers and connection errors are retried; every other answer is final."""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

RETRY_STATUSES = frozenset({429, 503})
"""Answers that mean "not now": over quota, or the service (its Redis, its workers) briefly unavailable."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date (RFC 9110, 10.2.3).

    None when the header is absent or unreadable; a date in the past means 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; an obsolete form may come without a zone
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first try, none waiting more than ``max_wait_s``."""

    max_retries: int = 3
    max_wait_s: float = 30.0
    base_s: float = 0.5

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries={self.max_retries}; give 0 (no retries) or more")
        if self.max_wait_s < 0:
            raise ValueError(f"max_retry_wait={self.max_wait_s}; give a number of seconds >= 0")

    def backoff(self, attempt: int) -> float:
        """The wait before retry ``attempt + 1``: doubling from ``base_s``, capped, with "equal jitter" (half
        fixed, half random) so clients that failed together do not all come back together."""
        ceiling = min(self.max_wait_s, self.base_s * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def delay_after_error(self, attempt: int) -> float | None:
        """Seconds before retrying after a connection error on try ``attempt`` (0-based); None: give up."""
        return None if attempt >= self.max_retries else self.backoff(attempt)

    def delay_after(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds before retrying after ``response`` on try ``attempt``; None: it is the final answer."""
        if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
            return None
        asked = parse_retry_after(response.headers.get("Retry-After"))
        if asked is None:
            return self.backoff(attempt)
        if asked > self.max_wait_s:  # longer than we may wait: the caller sees the answer and decides
            return None
        # Up to 10% more than asked, so the clients a quota window turned away do not return in one burst.
        return asked + random.uniform(0, asked * 0.1)
