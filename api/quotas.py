"""Per-key rate limits: GCRA in one Redis script, so API replicas share each key's budget exactly, answered
with the IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers-10) and 429 problems.

GCRA (the generic cell rate algorithm) keeps one number per key: the theoretical arrival time (TAT) of the
next request if the key sent at exactly its rate. A quota of ``q`` requests per minute is a bucket of ``q``
requests refilled evenly over the minute (one every ``60 / q`` s); a request passes while the TAT stays within
a minute of now. The script reads the clock with Redis's ``TIME``, so replicas' clocks never disagree.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.exceptions import ApiError
from worker.keys import Keys

logger = logging.getLogger(__name__)

WINDOW_S = 60
"""The window of every quota: ``REGIONAL_RATE_LIMIT_PER_MINUTE`` requests per 60 s."""

POLICY_NAME = "default"
"""The name of the quota policy in the RateLimit headers."""

STATE_KEY = "rate_limit"
"""Where a request's ``RateDecision`` is kept on ``request.state`` for ``RateLimitHeaders``."""

_GCRA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
local after = tat + interval - now
if after > capacity then
  return {0, 0, after - capacity}
end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.ceil(after / 1000))
local free = capacity - after
return {1, math.floor(free / interval), interval - free % interval}
"""
"""KEYS: the owner's rate key (its TAT, in microseconds of Redis's clock; it expires when the bucket is full
again). ARGV: the interval between requests at the quota's rate (us), the quota (requests per window).
Returns {allowed (1 or 0), requests left, us until one more request is available}."""


@dataclass(frozen=True)
class RateDecision:
    """One request's outcome against its key's quota."""

    quota: int
    allowed: bool
    remaining: int
    next_s: int
    """Seconds (rounded up, at least 1) until one more request is available: a refused one's Retry-After."""

    def headers(self) -> list[tuple[str, str]]:
        """``RateLimit-Policy`` and ``RateLimit``; ``t`` is the time until more quota is available."""
        return [
            ("RateLimit-Policy", f'"{POLICY_NAME}";q={self.quota};w={WINDOW_S}'),
            ("RateLimit", f'"{POLICY_NAME}";r={self.remaining};t={self.next_s}'),
        ]


class RateLimited(ApiError):
    """A request over its key's rate limit: 429 ``rate_limited`` with ``Retry-After`` (``api.problems``)."""

    def __init__(self, decision: RateDecision) -> None:
        super().__init__(
            429,
            "rate_limited",
            f"this API key is over its quota of {decision.quota} requests per minute; "
            f"retry after {decision.next_s} s",
        )
        self.retry_after_s = decision.next_s


class RateLimiter:
    """Counts requests per owner in Redis (``Keys.rate``), atomically across API replicas."""

    def __init__(self, redis: AsyncRedis, keys: Keys) -> None:
        self.keys = keys
        self._gcra = redis.register_script(_GCRA)

    async def hit(self, owner: str, per_minute: int) -> RateDecision | None:
        """Count one request of ``owner`` against ``per_minute`` (> 0). ``None`` when Redis fails: the limiter
        lets the request through rather than fail it (routes that need Redis answer 503 themselves, and
        planning, which needs none, keeps working)."""
        interval_us = max(1, WINDOW_S * 1_000_000 // per_minute)
        try:
            allowed, remaining, next_us = await self._gcra(
                keys=[self.keys.rate(owner)], args=[interval_us, per_minute]
            )
        except RedisError as exc:
            logger.warning("rate limit not checked, Redis failed (%s)", type(exc).__name__)
            return None
        return RateDecision(per_minute, bool(allowed), int(remaining), max(1, math.ceil(next_us / 1_000_000)))


class RateLimitHeaders:
    """Adds the RateLimit headers of a request's decision (put on ``request.state`` by the auth dependency) to
    its response, whichever route or error handler answered, and whatever response class it used."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            # request.state lives in scope["state"]; read at the response's start, after the dependency ran
            decision = scope.get("state", {}).get(STATE_KEY)
            if message["type"] == "http.response.start" and decision is not None:
                extra = [(name.lower().encode(), value.encode()) for name, value in decision.headers()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
