"""The API in process (TestClient) against the real Redis, with no workers: jobs stay queued."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import ValidationError
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from api.app import create_app
from api.settings import ApiSettings

KEY = "in-process-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
PROBLEM = "application/problem+json"


def settings_for(redis_url: str, namespace: str, results: str) -> ApiSettings:
    return ApiSettings(redis_url=redis_url, namespace=namespace, results_url=results, api_keys=[KEY])


@pytest.fixture
def client(redis_url: str, tmp_path) -> Iterator[TestClient]:
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    with TestClient(create_app(settings_for(redis_url, namespace, str(tmp_path)))) as test_client:
        yield test_client
    redis = Redis.from_url(redis_url)
    for pattern in (f"{namespace}:*", f"rq:*{namespace}*"):
        for key in redis.scan_iter(match=pattern, count=500):
            redis.delete(key)


def png_b64(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 255).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def mask_body(mask: str, regions: int = 1) -> dict:
    region = {"prompt": "a cat", "mask": mask}
    return {"layout": {"width": 128, "height": 128, "base_prompt": "x", "regions": [region] * regions}}


def field_error(response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "validation_error" and field in {e["field"] for e in problem["errors"]}, problem


def test_enqueue_failure_frees_the_idempotency_key(client, monkeypatch) -> None:
    """A Redis hiccup during enqueue answers 503 "try again": retrying with the same key must make a job."""
    from worker import queues

    body = {"prompt": "a cat", "width": 128, "height": 128}
    headers = {**AUTH, "Idempotency-Key": "order-1"}
    real_enqueue = queues.enqueue_stage

    def broken(*args, **kwargs):
        raise RedisConnectionError("connection reset")

    monkeypatch.setattr(queues, "enqueue_stage", broken)
    failed = client.post("/v1/generations", json=body, headers=headers)
    assert failed.status_code == 503 and failed.json()["code"] == "queue_unavailable"
    monkeypatch.setattr(queues, "enqueue_stage", real_enqueue)
    retried = client.post("/v1/generations", json=body, headers=headers)
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "queued" and "Idempotent-Replayed" not in retried.headers
    replayed = client.post("/v1/generations", json=body, headers=headers)
    assert replayed.json()["id"] == retried.json()["id"] and replayed.headers["Idempotent-Replayed"] == "true"


def test_redis_down_is_a_503_problem(tmp_path) -> None:
    dead = settings_for("redis://127.0.0.1:1/0", "test-dead", str(tmp_path))
    with TestClient(create_app(dead), raise_server_exceptions=False) as dead_client:
        for response in (
            dead_client.get("/v1/generations", headers=AUTH),
            dead_client.post("/v1/generations", json={"prompt": "a cat"}, headers=AUTH),
        ):
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["code"] == "redis_unavailable"


def test_mask_limits_are_checked_before_any_mask_is_decoded(client, monkeypatch) -> None:
    import regional.layout

    decoded = []
    real_decode = regional.layout.decode_mask_png
    monkeypatch.setattr(
        regional.layout, "decode_mask_png", lambda data: decoded.append(1) or real_decode(data)
    )
    big = png_b64(64, 64) + "A" * (1400 * 1024)  # decodes to over max_mask_bytes (1 MiB)
    field_error(client.post("/v1/generations", json=mask_body(big), headers=AUTH), "layout.regions[0].mask")
    many = mask_body(png_b64(64, 64), regions=17)  # over max_regions (16)
    field_error(client.post("/v1/generations", json=many, headers=AUTH), "layout.regions")
    assert decoded == []  # refused on the raw JSON
    huge = png_b64(2100, 2100)  # a few KB, but more pixels than the largest canvas (2048 x 2048)
    field_error(client.post("/v1/generations", json=mask_body(huge), headers=AUTH), "layout.regions[0].mask")
    assert decoded == []
    ok = client.post("/v1/generations", json=mask_body(png_b64(64, 64)), headers=AUTH)
    assert ok.status_code == 202, ok.text


def test_planner_prompt_and_limits_are_field_errors(client) -> None:
    field_error(
        client.post("/v1/plans", json={"prompt": "a cat", "planner": "nope"}, headers=AUTH), "planner"
    )
    field_error(client.post("/v1/plans", json={"prompt": "   "}, headers=AUTH), "prompt")
    field_error(client.post("/v1/plans", json={"prompt": "a cat", "width": 4096}, headers=AUTH), "width")
    field_error(client.post("/v1/generations", json={"prompt": "  \n "}, headers=AUTH), "prompt")
    field_error(
        client.post("/v1/generations", json={"prompt": "a cat", "planner": "x"}, headers=AUTH), "planner"
    )
    field_error(
        client.post("/v1/generations", json={"prompt": "a cat", "inject_steps": 10**12}, headers=AUTH),
        "inject_steps",
    )


def test_bad_key_hash_is_refused_without_echoing_the_keys() -> None:
    with pytest.raises(ValidationError) as info:
        ApiSettings(api_keys="plain-secret-key,sha256:not-hex")
    assert "plain-secret-key" not in str(info.value)
