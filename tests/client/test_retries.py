"""Retries, idempotency and errors, against a real HTTP server scripted per test (the ``fake`` fixture)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from servicekit import free_port

from client import (
    ConnectionFailedError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    RegionalClient,
    ServerError,
)
from client.retry import RetryPolicy, parse_retry_after

LAYOUT = {
    "width": 128,
    "height": 128,
    "base_prompt": "a red circle and a blue square",
    "regions": [{"prompt": "a red circle", "box": [0.0, 0.0, 0.5, 1.0]}],
}


def idempotent_create(fake, job_factory, before=None):
    """``POST /v1/generations`` as the service does it: one job per Idempotency-Key, replayed after.
    ``before(try_number, exchange, jobs)`` may answer a try itself (and return True)."""
    jobs: dict[str, object] = {}

    def create(exchange) -> None:
        if before is not None and before(len(fake.calls("POST", "/v1/generations")), exchange, jobs):
            return
        key = exchange.headers["Idempotency-Key"]
        replayed = key in jobs
        jobs.setdefault(key, job_factory(f"gen_{len(jobs)}"))
        exchange.send_json(202, jobs[key], {"Idempotent-Replayed": "true"} if replayed else None)

    fake.on("POST", "/v1/generations", create)
    return jobs


def test_a_503_is_retried_with_the_same_idempotency_key(fake, connect, job_factory) -> None:
    def unavailable_first(try_number, exchange, jobs) -> bool:
        if try_number == 1:  # the service's answer while Redis is away: nothing was created
            exchange.send_problem(503, "redis_unavailable", "try again", {"Retry-After": "0"})
            return True
        return False

    jobs = idempotent_create(fake, job_factory, unavailable_first)
    job = connect(fake.url, "key").submit(layout=LAYOUT, steps=4, seed=3)

    tries = fake.calls("POST", "/v1/generations")
    assert len(tries) == 2 and len(jobs) == 1 and job.id == "gen_0"
    keys = {t.headers["Idempotency-Key"] for t in tries}
    assert len(keys) == 1 and uuid.UUID(keys.pop()).version == 4
    assert tries[0].body == tries[1].body  # the same body too, or the service would refuse the key
    assert tries[0].json() == {"layout": LAYOUT, "steps": 4, "seed": 3}  # what was given, as given
    assert tries[0].headers["Authorization"] == "Bearer key"


def test_an_answer_lost_after_the_job_was_created_gets_that_job_back(fake, connect, job_factory) -> None:
    def create_then_drop(try_number, exchange, jobs) -> bool:
        if try_number == 1:  # the job is created, then the connection dies before the answer
            jobs[exchange.headers["Idempotency-Key"]] = job_factory("gen_first")
            exchange.drop()
            return True
        return False

    jobs = idempotent_create(fake, job_factory, create_then_drop)
    job = connect(fake.url, max_retries=2).submit("a cat on a sofa", width=256, height=256)

    assert job.id == "gen_first" and len(jobs) == 1
    tries = fake.calls("POST", "/v1/generations")
    assert len(tries) == 2 and tries[0].headers["Idempotency-Key"] == tries[1].headers["Idempotency-Key"]
    assert "Authorization" not in tries[0].headers  # no key configured, none sent


def test_the_callers_idempotency_key_is_used(fake, connect, job_factory) -> None:
    idempotent_create(fake, job_factory)
    client = connect(fake.url)
    first = client.submit(layout=LAYOUT, idempotency_key="order-42")
    second = client.submit(layout=LAYOUT, idempotency_key="order-42")
    assert first.id == second.id
    assert [t.headers["Idempotency-Key"] for t in fake.calls("POST", "/v1/generations")] == ["order-42"] * 2


def test_an_invalid_body_is_refused_before_anything_is_sent(fake, connect) -> None:
    client = connect(fake.url)
    with pytest.raises(ValueError, match="exactly one of `prompt` or `layout`"):
        client.submit("a cat", layout=LAYOUT)
    with pytest.raises(ValueError, match="steps"):
        client.submit("a cat", steps=0)
    assert fake.requests == []


def rate_limited(fake, path: str, retry_after: str, times: int, job=None) -> list[float]:
    """``GET path`` answers 429 ``rate_limited`` as the service does, ``times`` times, then ``job``."""
    tries: list[float] = []

    def handler(exchange) -> None:
        if len(tries) >= times:
            exchange.send_json(200, job)
            return
        tries.append(time.monotonic())
        headers = {
            "Retry-After": retry_after,
            "RateLimit": '"default";r=0;t=1',
            "RateLimit-Policy": '"default";q=60;w=60',
        }
        exchange.send_problem(429, "rate_limited", "over 60 requests per minute", headers)

    fake.on("GET", path, handler)
    return tries


def test_a_429_waits_as_retry_after_says(fake, connect, job_factory) -> None:
    rate_limited(fake, "/v1/generations/gen_1", "1", times=1, job=job_factory("gen_1"))
    started = time.monotonic()
    job = connect(fake.url).get("gen_1")
    elapsed = time.monotonic() - started
    assert job.id == "gen_1" and len(fake.requests) == 2
    assert 1.0 <= elapsed < 3.0


def test_retry_after_as_an_http_date(fake, connect, job_factory) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    rate_limited(fake, "/v1/generations/gen_1", when, times=1, job=job_factory("gen_1"))
    started = time.monotonic()
    connect(fake.url).get("gen_1")
    assert 0.9 <= time.monotonic() - started < 4.0  # the date has whole seconds: 1-2 s from now


def test_still_rate_limited_after_the_retries_raises_with_the_problem(fake, connect) -> None:
    rate_limited(fake, "/v1/generations/gen_1", "0", times=100)
    with pytest.raises(RateLimitedError) as caught:
        connect(fake.url, max_retries=2).get("gen_1")
    error = caught.value
    assert len(fake.requests) == 3  # the first try and two retries
    assert (error.status, error.code, error.detail) == (429, "rate_limited", "over 60 requests per minute")
    assert error.retry_after == 0 and error.rate_limit == '"default";r=0;t=1'
    assert error.rate_limit_policy == '"default";q=60;w=60'
    assert error.problem["type"] == "about:blank#rate_limited" and error.headers["Retry-After"] == "0"


def test_a_retry_after_longer_than_the_cap_is_raised_at_once(fake, connect) -> None:
    rate_limited(fake, "/v1/generations/gen_1", "120", times=100)
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as caught:
        connect(fake.url, max_retry_wait=5).get("gen_1")
    assert len(fake.requests) == 1 and time.monotonic() - started < 2
    assert caught.value.retry_after == 120


def test_connection_errors_are_retried_then_raised(fake, connect) -> None:
    fake.on("GET", "/v1/generations/gen_1", lambda exchange: exchange.drop())
    with pytest.raises(ConnectionFailedError, match="tried 3 time"):
        connect(fake.url, max_retries=2).get("gen_1")
    assert len(fake.requests) == 3


def test_a_server_that_is_not_there(connect) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(ConnectionFailedError, match="ConnectError"):
        connect(f"http://127.0.0.1:{port}", max_retries=1).get("gen_1")


def test_error_answers_raise_the_problem(fake, connect) -> None:
    items = [
        {
            "field": "steps",
            "message": "Input should be greater than or equal to 1",
            "type": "greater_than_equal",
        }
    ]
    fake.on(
        "POST",
        "/v1/generations",
        lambda exchange: exchange.send_problem(422, "validation_error", "steps: too small", errors=items),
    )
    fake.on(
        "GET",
        "/v1/generations/gen_gone",
        lambda exchange: exchange.send_problem(404, "not_found", "no such generation"),
    )
    client = connect(fake.url)

    with pytest.raises(InvalidRequestError) as invalid:
        client.submit(layout=LAYOUT)
    assert invalid.value.status == 422 and invalid.value.code == "validation_error"
    assert invalid.value.errors == items and invalid.value.detail == "steps: too small"

    with pytest.raises(NotFoundError) as missing:
        client.get("gen_gone")
    assert (missing.value.code, missing.value.detail) == ("not_found", "no such generation")
    assert missing.value.title == "Not Found" and "404 Not Found: no such generation" in str(missing.value)
    assert len(fake.calls("GET", "/v1/generations/gen_gone")) == 1  # a 404 is final: no retry


def test_an_error_answer_that_is_not_a_problem(fake, connect) -> None:
    page = b"<html><body>502 Bad Gateway</body></html>"
    fake.on("GET", "/v1/generations/gen_1", lambda exchange: exchange.send(502, page, "text/html"))
    with pytest.raises(ServerError) as caught:
        connect(fake.url).get("gen_1")
    assert caught.value.status == 502 and caught.value.code is None
    assert caught.value.title == "Bad Gateway" and "502 Bad Gateway</body>" in caught.value.detail


def test_ids_are_quoted_into_the_path(fake, connect) -> None:
    with pytest.raises(NotFoundError):
        connect(fake.url).get("../plans")
    assert fake.requests[0].path == "/v1/generations/..%2Fplans"


def test_the_base_url_and_key_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("REGIONAL_URL", "https://regional.example/api/")
    monkeypatch.setenv("REGIONAL_API_KEY", "env-key")
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            404, json={"title": "Not Found", "status": 404, "code": "not_found", "detail": "x"}
        )

    with RegionalClient(transport=httpx.MockTransport(answer)) as client, pytest.raises(NotFoundError):
        client.get("gen_1")
    assert str(seen[0].url) == "https://regional.example/api/v1/generations/gen_1"
    assert seen[0].headers["Authorization"] == "Bearer env-key"
    with httpx.Client(transport=httpx.MockTransport(answer)) as mine:
        with RegionalClient(http_client=mine) as client, pytest.raises(NotFoundError):
            client.get("gen_2")
        assert not mine.is_closed  # the caller's client stays the caller's to close
    assert str(seen[1].url) == "https://regional.example/api/v1/generations/gen_2"
    with pytest.raises(ValueError, match="not an http"):
        RegionalClient("127.0.0.1:8000")


def test_parse_retry_after() -> None:
    now = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0 and parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Sun, 01 Jun 2025 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sun, 01 Jun 2025 11:00:00 GMT", now) == 0.0  # in the past: now
    for unreadable in (None, "", "-1", "1.5", "soon", "٣"):
        assert parse_retry_after(unreadable, now) is None


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(max_retries=5, max_wait_s=4.0, base_s=0.5)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (8, 4.0)]:
        delays = [policy.backoff(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 10  # jittered, not one fixed value
    assert policy.delay_after_error(5) is None and policy.delay_after_error(4) is not None
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
