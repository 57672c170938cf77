"""Quotas: per-key rate limits (GCRA in Redis) and concurrency limits, and owner ids keyed with a server secret.

In process (TestClient) against the real Redis, with no workers (jobs stay queued); the tenants under
concurrent load go through two real API servers sharing one Redis.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from processes import stop_processes
from pydantic import ValidationError
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from servicekit import KEY_A, KEY_B, free_port, wait_until

from api.app import create_app
from api.auth import ANONYMOUS, OwnerSecret, owner_id
from api.quotas import RateLimiter
from api.settings import ApiSettings, hash_key
from worker.keys import Keys

PROBLEM = "application/problem+json"
PROMPT_JOB = {"prompt": "a cat", "width": 128, "height": 128}
OWNER_SECRET = "an-owner-secret-of-32-characters"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def delete_namespace(redis_url: str, namespace: str) -> None:
    redis = Redis.from_url(redis_url)
    for pattern in (f"{namespace}:*", f"rq:*{namespace}*"):
        for key in redis.scan_iter(match=pattern, count=500):
            redis.delete(key)


@pytest.fixture
def fresh_namespace(redis_url: str) -> Iterator[str]:
    """A namespace of this test alone: its quotas and owner secret start from nothing."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    delete_namespace(redis_url, name)


def settings_for(redis_url: str, namespace: str, results: Path, **extra: object) -> ApiSettings:
    return ApiSettings(
        redis_url=redis_url, namespace=namespace, results_url=str(results), api_keys=[KEY_A, KEY_B], **extra
    )


def assert_rate_limited(response: httpx.Response, quota: int) -> int:
    """A 429 ``rate_limited`` problem with its headers; returns its Retry-After (seconds)."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert (problem["status"], problem["code"], problem["title"]) == (
        429,
        "rate_limited",
        "Too Many Requests",
    )
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    assert response.headers["RateLimit-Policy"] == f'"default";q={quota};w=60'
    assert response.headers["RateLimit"] == f'"default";r=0;t={retry_after}'
    return retry_after


# -- rate limits ----------------------------------------------------------------------------------------
def test_gcra_counts_exactly_in_redis(redis_url: str, fresh_namespace: str) -> None:
    """3 per minute: a burst of 3, then one every 20 s, told exactly; the state expires once the bucket is full."""

    async def run() -> list:
        redis = AsyncRedis.from_url(redis_url)
        limiter = RateLimiter(redis, Keys(fresh_namespace))
        try:
            decisions = [await limiter.hit("key_x", 3) for _ in range(5)]
            ttl_ms = await redis.pttl(Keys(fresh_namespace).rate("key_x"))
        finally:
            await redis.aclose()
        return [decisions, ttl_ms]

    decisions, ttl_ms = asyncio.run(run())
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert {d.next_s for d in decisions} == {20}  # the first unit spent comes back 20 s later
    assert 59_000 < ttl_ms <= 60_000


def test_over_the_rate_limit_is_a_429_until_retry_after_has_passed(
    redis_url: str, fresh_namespace: str, tmp_path: Path
) -> None:
    """120 per minute for key A (one request back every 0.5 s); key B keeps the default."""
    policies = json.dumps([{"key": KEY_A, "rate_per_minute": 120}])
    settings = settings_for(redis_url, fresh_namespace, tmp_path, key_policies=policies)
    with TestClient(create_app(settings)) as client:
        first = client.get("/v1/generations", headers=auth(KEY_A))
        assert first.status_code == 200
        assert first.headers["RateLimit-Policy"] == '"default";q=120;w=60'
        assert first.headers["RateLimit"] == '"default";r=119;t=1'
        passed = 1
        while (response := client.get("/v1/generations", headers=auth(KEY_A))).status_code == 200:
            passed += 1
            assert passed <= 200, "the limit never applied"
        assert passed >= 120
        retry_after = assert_rate_limited(response, 120)
        assert retry_after == 1  # 0.5 s until the next request, rounded up
        other = client.get("/v1/generations", headers=auth(KEY_B))
        assert other.status_code == 200 and other.headers["RateLimit"].startswith('"default";r=599;')
        time.sleep(retry_after)
        again = client.get("/v1/generations", headers=auth(KEY_A))
        assert again.status_code == 200, again.text
        assert client.get("/healthz").headers.get("RateLimit") is None  # only /v1 is counted


def test_every_v1_route_and_error_carries_the_ratelimit_headers(
    redis_url: str, fresh_namespace: str, tmp_path: Path
) -> None:
    settings = settings_for(redis_url, fresh_namespace, tmp_path, rate_limit_per_minute=6)  # 1 back per 10 s
    with TestClient(create_app(settings)) as client:
        created = client.post("/v1/generations", json=PROMPT_JOB, headers=auth(KEY_A))
        responses = [
            created,
            client.get(f"/v1/generations/{created.json()['id']}", headers=auth(KEY_A)),  # a raw Response
            client.get("/v1/generations/gen_nope", headers=auth(KEY_A)),  # a problem
            client.post("/v1/plans", json={"prompt": "a cat"}, headers=auth(KEY_A)),
        ]
        remaining = [int(r.headers["RateLimit"].split("r=")[1].split(";")[0]) for r in responses]
        assert [r.status_code for r in responses] == [202, 200, 404, 200]
        assert remaining == [5, 4, 3, 2]
        assert "RateLimit" not in client.get("/v1/generations").headers  # 401: not counted


def test_rate_limit_zero_is_unlimited_and_auth_off_has_no_quota(redis_url, fresh_namespace, tmp_path) -> None:
    policies = [{"key": KEY_A, "rate_per_minute": 0}]
    settings = settings_for(
        redis_url, fresh_namespace, tmp_path, key_policies=policies, rate_limit_per_minute=1
    )
    with TestClient(create_app(settings)) as client:
        assert all(client.get("/v1/generations", headers=auth(KEY_A)).status_code == 200 for _ in range(5))
        assert "RateLimit" not in client.get("/v1/generations", headers=auth(KEY_A)).headers
        assert client.get("/v1/generations", headers=auth(KEY_B)).status_code == 200
        assert_rate_limited(client.get("/v1/generations", headers=auth(KEY_B)), 1)
    anonymous = ApiSettings(
        redis_url=redis_url, namespace=fresh_namespace, results_url=str(tmp_path), max_active_jobs=1
    )
    with TestClient(create_app(anonymous)) as client:  # no keys: one loopback user, no quotas
        submitted = [client.post("/v1/generations", json=PROMPT_JOB) for _ in range(2)]
        assert [r.status_code for r in submitted] == [202, 202]
        assert "RateLimit" not in submitted[-1].headers


# -- two tenants under concurrent load, through two API replicas sharing Redis -------------------------
@pytest.fixture(scope="module")
def replicas(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two API servers (no workers) on one Redis and namespace; key A may make 30 requests a minute."""
    env = {**service_env, "REGIONAL_KEY_POLICIES": json.dumps([{"key": KEY_A, "rate_per_minute": 30}])}
    log_dir = tmp_path_factory.mktemp("replicas")
    processes, urls = [], []
    try:
        for index in range(2):
            port = free_port()
            log = open(log_dir / f"api{index}.log", "wb")  # noqa: SIM115 (closed with the process)
            command = [sys.executable, "-m", "regional.cli", "serve", "--port", str(port)]
            processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, processes, strict=True):
            wait_until(lambda u=url, p=process: _healthy(u, p), 60, 0.2, f"the API at {url}")
        yield urls
    finally:
        stop_processes(*processes, timeout=15)


def _healthy(url: str, process: subprocess.Popen) -> bool:
    assert process.poll() is None, "an API server exited"
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_tenant_over_its_quota_leaves_the_other_unaffected_under_load(replicas: list[str]) -> None:
    """8 threads per key, each alternating between the replicas: A (30 a minute) is held to its quota across
    both replicas together; B (the default, 600 a minute) sends 320 requests and never sees a 429."""
    threads_per_key, requests_per_thread = 8, 40
    statuses: dict[str, Counter[int]] = {KEY_A: Counter(), KEY_B: Counter()}
    lock, start = threading.Lock(), threading.Barrier(2 * threads_per_key)

    def hammer(key: str) -> None:
        clients = [httpx.Client(base_url=url, headers=auth(key), timeout=30) for url in replicas]
        seen: Counter[int] = Counter()
        start.wait()
        for index in range(requests_per_thread):
            seen[clients[index % len(clients)].get("/v1/generations").status_code] += 1
        for client in clients:
            client.close()
        with lock:
            statuses[key].update(seen)

    workers = [threading.Thread(target=hammer, args=(key,)) for key in (KEY_A, KEY_B) * threads_per_key]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    elapsed = time.monotonic() - began
    assert statuses[KEY_B] == {200: threads_per_key * requests_per_thread}, statuses
    assert set(statuses[KEY_A]) == {200, 429} and sum(statuses[KEY_A].values()) == 320, statuses
    # its burst of 30, plus one request back every 2 s while the load ran: never more, whichever replica
    assert 30 <= statuses[KEY_A][200] <= 30 + int(elapsed / 2) + 1, (statuses, elapsed)


# -- concurrency limits ---------------------------------------------------------------------------------
def test_the_active_job_limit_refuses_a_third_job_until_one_ends(
    redis_url, fresh_namespace, tmp_path
) -> None:
    policies = [{"key": f"sha256:{hash_key(KEY_A)}", "max_active_jobs": 2}]
    settings = settings_for(redis_url, fresh_namespace, tmp_path, key_policies=policies)
    with TestClient(create_app(settings)) as client:
        first, second = (
            client.post("/v1/generations", json=PROMPT_JOB, headers={**auth(KEY_A), "Idempotency-Key": key})
            for key in ("one", "two")
        )
        assert first.status_code == second.status_code == 202
        third = client.post("/v1/generations", json=PROMPT_JOB, headers=auth(KEY_A))
        assert third.status_code == 429 and third.headers["content-type"] == PROBLEM
        problem = third.json()
        assert (problem["code"], problem["active"], problem["limit"]) == ("too_many_active_jobs", 2, 2)
        assert int(third.headers["Retry-After"]) >= 1 and "RateLimit" in third.headers
        replay = client.post(
            "/v1/generations", json=PROMPT_JOB, headers={**auth(KEY_A), "Idempotency-Key": "one"}
        )
        assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json()["id"] == first.json()["id"]
        assert client.post("/v1/generations", json=PROMPT_JOB, headers=auth(KEY_B)).status_code == 202
        canceled = client.post(f"/v1/generations/{first.json()['id']}/cancel", headers=auth(KEY_A))
        assert canceled.status_code == 202 and canceled.json()["status"] == "canceled"
        assert client.post("/v1/generations", json=PROMPT_JOB, headers=auth(KEY_A)).status_code == 202
        assert client.post("/v1/generations", json=PROMPT_JOB, headers=auth(KEY_A)).status_code == 429


# -- owner ids ------------------------------------------------------------------------------------------
def test_owner_ids_are_a_keyed_hash_of_the_key() -> None:
    digest = hash_key(KEY_A)
    alpha = owner_id(digest, b"one secret")
    assert alpha == owner_id(digest, b"one secret") and alpha.startswith("key_") and len(alpha) == 20
    assert alpha != owner_id(digest, b"another secret") and alpha != owner_id(hash_key(KEY_B), b"one secret")
    assert alpha != "key_" + digest[:16]  # not the bare digest any more
    assert owner_id(None, b"one secret") == ANONYMOUS


def test_replicas_share_one_generated_secret_and_another_secret_sees_nothing(
    redis_url, fresh_namespace, tmp_path, caplog
) -> None:
    caplog.set_level("DEBUG")
    settings = settings_for(redis_url, fresh_namespace, tmp_path)
    responses: list[httpx.Response] = []
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        created = one.post("/v1/generations", json=PROMPT_JOB, headers=auth(KEY_A))
        generation_id = created.json()["id"]
        responses += [created, two.get(f"/v1/generations/{generation_id}", headers=auth(KEY_A))]
        assert responses[-1].status_code == 200  # same owner id on the other replica
        listed, foreign = (two.get(f"/v1/generations{path}", headers=auth(key))
                           for path, key in (("", KEY_A), (f"/{generation_id}", KEY_B)))  # fmt: skip
        assert [g["id"] for g in listed.json()["data"]] == [generation_id] and foreign.status_code == 404
        responses += [listed, foreign]
        for path in ("/openapi.json", "/readyz", "/metrics", "/healthz"):
            responses.append(one.get(path, headers=auth(KEY_A)))
        responses += [
            one.get("/v1/generations", headers=auth("not-a-key")),
            one.get("/v1/nope", headers=auth(KEY_A)),
        ]
    stored = Redis.from_url(redis_url).get(Keys(fresh_namespace).owner_secret())
    assert stored is not None and len(stored) == 64
    other = settings_for(redis_url, fresh_namespace, tmp_path, owner_secret=OWNER_SECRET)
    with TestClient(create_app(other)) as elsewhere:
        responses.append(elsewhere.get(f"/v1/generations/{generation_id}", headers=auth(KEY_A)))
        assert responses[-1].status_code == 404  # another secret, other owner ids
    for secret in (stored.decode(), OWNER_SECRET):
        for response in responses:
            assert secret not in response.text and secret not in str(response.headers), response.request.url
        assert secret not in caplog.text


def test_two_replicas_starting_at_once_agree_on_the_secret(redis_url: str, fresh_namespace: str) -> None:
    async def run() -> list[bytes]:
        redis = AsyncRedis.from_url(redis_url)
        settings = ApiSettings(redis_url=redis_url, namespace=fresh_namespace, api_keys=[KEY_A])
        try:
            return await asyncio.gather(*(OwnerSecret(settings, redis).get() for _ in range(8)))
        finally:
            await redis.aclose()

    secrets = asyncio.run(run())
    assert len(set(secrets)) == 1 and len(secrets[0]) == 64
    assert "loaded=True" in repr(OwnerSecret(ApiSettings(owner_secret=OWNER_SECRET), AsyncRedis()))


# -- Redis outages ----------------------------------------------------------------------------------------
def test_redis_down_is_never_a_500(tmp_path: Path) -> None:
    """Redis down from the start, no secret configured: owner ids cannot be known, so 503 (never 500) until
    Redis comes back; then the secret is loaded, and with Redis gone again the rate limit lets requests
    through (planning needs no Redis) while the job routes answer 503."""
    from drill.cluster import redis_server_executable

    port = free_port()
    settings = settings_for(f"redis://127.0.0.1:{port}/0", "test-outage", tmp_path)
    plan = {"prompt": "a cat left of a dog"}
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for response in (client.get("/v1/generations", headers=auth(KEY_A)),
                         client.post("/v1/plans", json=plan, headers=auth(KEY_A))):  # fmt: skip
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "redis_unavailable"
        command = [redis_server_executable(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        server = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL)
        try:
            wait_until(lambda: client.get("/v1/generations", headers=auth(KEY_A)).status_code == 200, 30)
            counted = client.post("/v1/plans", json=plan, headers=auth(KEY_A))
            assert counted.status_code == 200 and "RateLimit" in counted.headers
        finally:
            stop_processes(server, timeout=10)
        unchecked = client.post("/v1/plans", json=plan, headers=auth(KEY_A))
        assert unchecked.status_code == 200 and "RateLimit" not in unchecked.headers
        down = client.get("/v1/generations", headers=auth(KEY_A))
        assert down.status_code == 503 and down.json()["code"] == "redis_unavailable"


# -- settings -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ('[{"key": "secret-a", "rate_per_minute": -1}]', "REGIONAL_KEY_POLICIES[0].rate_per_minute"),
        ('[{"key": "secret-a", "max_active_jobs": "2"}]', "REGIONAL_KEY_POLICIES[0].max_active_jobs"),
        ('[{"key": "secret-a"}, {"key": "secret-unknown"}]', "REGIONAL_KEY_POLICIES[1].key: not one of"),
        ('[{"key": "secret-a"}, {"key": "secret-a"}]', "REGIONAL_KEY_POLICIES[1].key: the same key"),
        ('[{"key": "secret-a", "secret-b": 1}]', "REGIONAL_KEY_POLICIES[0]: an unknown field"),
        ('[{"key": "sha256:secret"}]', "REGIONAL_KEY_POLICIES[0].key: an entry 'sha256:...'"),
        ('["secret-a"]', "REGIONAL_KEY_POLICIES[0]: an entry is an object"),
        ('{"key": "secret-a"}', "must be a JSON list"),
        ("[{'key': 'secret-a'}]", "REGIONAL_KEY_POLICIES is not valid JSON"),
        ("secret-a", "neither a JSON list nor the path"),
    ],
)
def test_bad_policies_name_the_field_and_never_a_key(policies: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        ApiSettings(api_keys="secret-a,secret-b", key_policies=policies)
    assert message in str(info.value)
    for key in ("secret-a", "secret-b", "secret-unknown"):
        assert key not in str(info.value)


def test_policies_from_the_environment_or_a_file(monkeypatch, tmp_path: Path) -> None:
    entries = [
        {"key": KEY_A, "rate_per_minute": 5},
        {"key": f"sha256:{hash_key(KEY_B)}", "max_active_jobs": 0},
    ]
    monkeypatch.setenv("REGIONAL_API_KEYS", f"{KEY_A},{KEY_B},test-key-charlie")
    monkeypatch.setenv("REGIONAL_RATE_LIMIT_PER_MINUTE", "100")
    monkeypatch.setenv("REGIONAL_MAX_ACTIVE_JOBS", "3")
    for value in (json.dumps(entries), str(tmp_path / "policies.json")):
        (tmp_path / "policies.json").write_text(json.dumps(entries))
        monkeypatch.setenv("REGIONAL_KEY_POLICIES", value)
        settings = ApiSettings()
        quotas = [settings.quota_for(hash_key(key)) for key in (KEY_A, KEY_B, "test-key-charlie")]
        assert [(q.rate_per_minute, q.max_active_jobs) for q in quotas] == [(5, 3), (100, 0), (100, 3)]
        assert KEY_A not in settings.model_dump_json()
    monkeypatch.setenv("REGIONAL_OWNER_SECRET", "too-short")
    with pytest.raises(ValidationError) as info:
        ApiSettings()
    assert "REGIONAL_OWNER_SECRET must be at least 32 characters" in str(info.value)
    assert "too-short" not in str(info.value)
