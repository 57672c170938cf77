"""The API in process (TestClient) against the real Redis, with no workers: jobs stay queued."""

from __future__ import annotations

import base64
import io
import json
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


def test_plans_need_no_redis(tmp_path) -> None:
    """Planning runs in the API process; with Redis down it still answers (only its metrics go uncounted)."""
    dead = settings_for("redis://127.0.0.1:1/0", "test-dead", str(tmp_path))
    with TestClient(create_app(dead), raise_server_exceptions=False) as dead_client:
        response = dead_client.post("/v1/plans", json={"prompt": "a cat left of a dog"}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert len(response.json()["layout"]["regions"]) == 2


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


def test_stored_layouts_are_served_as_stored_without_decoding_masks(client, monkeypatch) -> None:
    import regional.layout

    created = client.post("/v1/generations", json=mask_body(png_b64(64, 64), regions=2), headers=AUTH)
    assert created.status_code == 202, created.text
    generation_id = created.json()["id"]
    decoded = []
    monkeypatch.setattr(regional.layout, "decode_mask_png", lambda data: decoded.append(1))
    read = client.get(f"/v1/generations/{generation_id}", headers=AUTH)
    listed = client.get("/v1/generations", headers=AUTH)
    assert read.status_code == listed.status_code == 200
    assert decoded == []  # reads never decode masks
    assert read.json()["layout"]["regions"][0]["mask"] == png_b64(64, 64)
    # a record written under older, looser rules is still served (not a 500)
    redis, namespace = (
        Redis.from_url(client.app.state.settings.redis_url),
        client.app.state.settings.namespace,
    )
    old = {
        "width": 100,
        "height": 128,
        "base_prompt": "x",
        "regions": [{"prompt": "a cat", "box": [0, 0, 2, 1]}],
    }
    redis.hset(f"{namespace}:gen:{generation_id}", "layout", json.dumps(old))
    read = client.get(f"/v1/generations/{generation_id}", headers=AUTH)
    assert read.status_code == 200 and read.json()["layout"] == old
    assert client.get("/v1/generations", headers=AUTH).json()["data"][0]["layout"] == old
    schema = client.get("/openapi.json").json()["components"]["schemas"]["GenerationOut"]
    assert {"$ref": "#/components/schemas/Layout"} in schema["properties"]["layout"]["anyOf"]


def test_links_use_the_public_url_when_set(redis_url, tmp_path) -> None:
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    settings = settings_for(redis_url, namespace, str(tmp_path)).model_copy(
        update={"public_url": "https://api.example.com/regional"}
    )
    with TestClient(create_app(settings)) as public:
        response = public.post(
            "/v1/generations", json={"prompt": "a cat"}, headers={**AUTH, "Host": "attacker.example"}
        )
    assert response.status_code == 202, response.text
    job = response.json()
    expected = f"https://api.example.com/regional/v1/generations/{job['id']}"
    assert response.headers["Location"] == job["links"]["self"] == expected
    with pytest.raises(ValidationError):
        ApiSettings(public_url="api.example.com")


def test_readyz_shows_worker_details_only_to_authenticated_callers(client) -> None:
    settings = client.app.state.settings
    worker = {"name": "w1", "host": "gpu-host-7", "pid": 4242, "queues": ["generate"], "model": "tiny"}
    Redis.from_url(settings.redis_url).set(f"{settings.namespace}:worker:w1", json.dumps(worker), ex=30)
    for headers in ({}, {"Authorization": "Bearer wrong-key"}):
        anonymous = client.get("/readyz", headers=headers)
        assert anonymous.status_code == 200, anonymous.text
        assert anonymous.json() == {"status": "ready", "workers_ready": {"plan": 0, "generate": 1}}
        assert "gpu-host-7" not in anonymous.text and "4242" not in anonymous.text
    authenticated = client.get("/readyz", headers=AUTH).json()
    assert authenticated["workers"] == [worker] and authenticated["workers_ready"]["generate"] == 1


def test_failed_enqueue_stores_no_exception_text(client, monkeypatch) -> None:
    from worker import queues

    def broken(*args, **kwargs):
        raise RedisConnectionError("connection reset by redis://:hunter2@10.0.0.5")

    monkeypatch.setattr(queues, "enqueue_stage", broken)
    assert client.post("/v1/generations", json={"prompt": "a cat"}, headers=AUTH).status_code == 503
    [job] = client.get("/v1/generations", headers=AUTH).json()["data"]
    assert job["error"]["code"] == "enqueue_failed" and "hunter2" not in job["error"]["message"]
