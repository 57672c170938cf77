"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis), in process.

Every generated request, valid or not, must get a non-5xx answer. No workers run: jobs stay queued.
Needs schemathesis (a dev dependency); skipped without it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from redis import Redis  # noqa: E402

from api.app import create_app  # noqa: E402
from api.settings import ApiSettings  # noqa: E402

KEY = "fuzz-key"


def _app(redis_url: str, namespace: str, results: str):
    # max_wait_s=0: a generated `Prefer: wait=N` must not hold a request open with no worker running
    return create_app(
        ApiSettings(
            redis_url=redis_url, namespace=namespace, results_url=results, api_keys=[KEY], max_wait_s=0
        )
    )


@pytest.fixture(scope="module")
def running_app(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    app = _app(redis_url, namespace, str(tmp_path_factory.mktemp("results")))
    with TestClient(app):  # runs the lifespan: Redis client, service, result store on app.state
        yield app
    redis = Redis.from_url(redis_url)
    for pattern in (f"{namespace}:*", f"rq:*{namespace}*"):
        for key in redis.scan_iter(match=pattern, count=500):
            redis.delete(key)


@pytest.mark.timeout(120)
def test_no_request_gets_a_server_error(running_app) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", running_app)
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck), database=None)  # fmt: skip
        def no_server_error(case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {KEY}"})
            where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            assert response.status_code != 500, where
            if response.status_code >= 400:  # 503 no_worker is expected here: every error is a problem
                assert "application/problem+json" in response.headers["content-type"], where
                assert response.json()["code"] not in ("internal_error", "http_error"), where

        no_server_error()
