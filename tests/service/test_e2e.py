"""End to end through HTTP: a real uvicorn server, Redis, and two real worker processes (tiny model).

Tests share one server and two workers; the worker-kill test runs last because it kills one of them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import time
from pathlib import Path

import pytest
from PIL import Image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PROBLEM = "application/problem+json"


def submit(service, body: dict, key: str | None = None, **headers: str):
    with service.client(key) if key else service.client() as client:
        return client.post("/v1/generations", json=body, headers=headers)


def test_layout_job_succeeds_with_png(service, make_layout_body) -> None:
    response = submit(service, make_layout_body(seed=7), Prefer="wait=60")
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded", job
    assert response.headers["Location"].endswith(f"/v1/generations/{job['id']}")
    assert response.headers["Preference-Applied"] == "wait=60"
    params = job["parameters"]
    assert params["seed"] == 7 and params["steps"] == 4 and params["model"] == "tiny"
    assert params["guidance"] is not None and params["base_ratio"] is not None  # defaults filled in
    assert job["layout"]["regions"][0]["prompt"] == "a red circle"
    assert job["timings"]["sampling_s"] > 0 and job["timings"]["total_s"] >= job["timings"]["sampling_s"]
    assert job["error"] is None and job["attempts"] == 1
    [output] = job["outputs"]
    assert (output["width"], output["height"]) == (128, 128)

    with service.client() as client:
        image = client.get(output["url"])
        overlay = client.get(job["links"]["layout_png"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert hashlib.sha256(image.content).hexdigest() == output["sha256"]
    png = Image.open(io.BytesIO(image.content))
    assert png.size == (128, 128)
    assert "Seed: 7" in png.text["parameters"] and "Steps: 4" in png.text["parameters"]
    embedded = json.loads(png.text["regional"])
    assert embedded["parameters"]["seed"] == 7 and embedded["layout"]["width"] == 128

    metadata_path = (
        Path(service.env["RESULTS_URL"]) / "images" / output["sha256"][:2] / f"{output['sha256']}.json"
    )
    metadata = json.loads(metadata_path.read_text())
    assert metadata["model"]["id"] == "tiny" and "torch" in metadata["versions"]
    assert metadata["layout"]["regions"][1]["box"] == [0.5, 0.0, 1.0, 1.0]

    assert overlay.status_code == 200 and overlay.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(overlay.content)).size == (128, 128)


def test_same_seed_gives_the_same_image(service, make_layout_body) -> None:
    first = submit(service, make_layout_body(seed=11), Prefer="wait=60").json()
    second = submit(service, make_layout_body(seed=11), Prefer="wait=60").json()
    assert first["status"] == second["status"] == "succeeded"
    assert first["id"] != second["id"]
    assert first["outputs"][0]["sha256"] == second["outputs"][0]["sha256"]  # content-addressed, reproducible


def test_prompt_job_is_planned_then_generated(service) -> None:
    body = {"prompt": "a red car on the left and a fox on the right", "width": 128, "height": 128, "steps": 4}
    response = submit(service, body, Prefer="wait=60")
    job = response.json()
    assert job["status"] == "succeeded", job
    assert job["prompt"] == body["prompt"]
    assert job["layout"]["planner"] == "offline" and len(job["layout"]["regions"]) == 2
    assert (job["layout"]["width"], job["layout"]["height"]) == (128, 128)
    assert job["timings"]["plan_s"] is not None and job["timings"]["sampling_s"] is not None
    assert len(job["outputs"]) == 1


def test_plans_endpoint_returns_a_layout(service) -> None:
    with service.client() as client:
        response = client.post("/v1/plans", json={"prompt": "a cat above a dog", "width": 256, "height": 256})
        bad = client.post("/v1/plans", json={"prompt": "a cat", "planner": "nope"})
    assert response.status_code == 200, response.text
    layout = response.json()["layout"]
    assert layout["width"] == 256 and {r["phrase"] for r in layout["regions"]} >= {"a cat", "a dog"}
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM


def test_prefer_wait_returns_the_unfinished_job_when_time_runs_out(service, make_layout_body) -> None:
    started = time.monotonic()
    response = submit(service, make_layout_body(size=1024, steps=80), Prefer="wait=1")  # seconds of work
    elapsed = time.monotonic() - started
    assert response.status_code == 202
    assert response.json()["status"] in ("queued", "running")
    assert 0.9 <= elapsed < 10
    with service.client() as client:  # do not leave it occupying a worker
        assert client.post(f"/v1/generations/{response.json()['id']}/cancel").status_code == 202


def test_progress_moves_and_cancel_stops_sampling(service, make_layout_body) -> None:
    job = submit(service, make_layout_body(steps=60)).json()
    steps_seen = []

    def sampling_progress():
        current = service.job(job["id"])
        progress = current["progress"] or {}
        if progress.get("stage") == "sampling" and progress.get("step"):
            steps_seen.append(progress["step"])
        return len(set(steps_seen)) >= 2

    deadline = time.monotonic() + 90
    while not sampling_progress():
        assert time.monotonic() < deadline, "progress did not move"
        time.sleep(0.05)
    assert steps_seen == sorted(steps_seen) and steps_seen[-1] > steps_seen[0]
    current = service.job(job["id"])
    assert current["status"] == "running" and current["progress"]["total_steps"] == 60
    assert 0 < current["progress"]["fraction"] < 1

    with service.client() as client:
        canceled = client.post(f"/v1/generations/{job['id']}/cancel")
    assert canceled.status_code == 202
    assert canceled.json()["cancel_requested"] or canceled.json()["status"] == "canceled"
    final = service.wait_job(job["id"], lambda j: j["status"] != "running", 30, "the job to stop")
    assert final["status"] == "canceled" and final["outputs"] == []
    assert final["progress"]["step"] < 60  # it stopped between steps, not at the end
    with service.client() as client:
        again = client.post(f"/v1/generations/{job['id']}/cancel")
        image = client.get(f"/v1/generations/{job['id']}/images/0")
    assert again.status_code == 202 and again.json()["status"] == "canceled"
    assert image.status_code == 409 and image.json()["code"] == "not_ready"


def test_queued_job_has_a_position_and_cancels_at_once(service, make_layout_body) -> None:
    busy = [submit(service, make_layout_body(steps=60)).json()["id"] for _ in range(2)]
    for generation_id in busy:  # both workers are sampling now
        service.wait_job(generation_id, lambda j: j["status"] == "running", 90, "a worker to take it")
    waiting = submit(service, make_layout_body()).json()
    assert waiting["status"] == "queued" and waiting["queue_position"] == 0
    with service.client() as client:
        canceled = client.post(f"/v1/generations/{waiting['id']}/cancel").json()
        assert canceled["status"] == "canceled" and canceled["queue_position"] is None
        for generation_id in busy:
            client.post(f"/v1/generations/{generation_id}/cancel")
    for generation_id in busy:
        service.wait_job(generation_id, lambda j: j["status"] == "canceled", 30, "the busy jobs to stop")
    assert service.job(waiting["id"])["progress"] is None  # no worker ever started it


def test_finished_job_cannot_be_canceled(service, make_layout_body) -> None:
    job = submit(service, make_layout_body(), Prefer="wait=60").json()
    assert job["status"] == "succeeded"
    with service.client() as client:
        response = client.post(f"/v1/generations/{job['id']}/cancel")
    assert response.status_code == 409 and response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "invalid_state"


BAD_BODIES = {
    "neither prompt nor layout": ({"steps": 4}, 422, "body"),
    "both prompt and layout": (
        {"prompt": "a cat", "layout": {"width": 128, "height": 128, "base_prompt": "x"}}, 422, "body"),
    "width 13": ({"prompt": "a cat", "width": 13}, 422, "width"),
    "unknown field": ({"prompt": "a cat", "colour": "red"}, 422, "colour"),
    "box outside the canvas": (
        {"layout": {"width": 128, "height": 128, "base_prompt": "x",
                    "regions": [{"prompt": "a cat", "box": [0.5, 0.5, 1.5, 1.0]}]}}, 422, "layout.regions[0].box"),
    "steps over the limit": ({"prompt": "a cat", "steps": 500}, 422, "steps"),
    "negative seed": ({"prompt": "a cat", "seed": -1}, 422, "seed"),
    "unknown planner": ({"prompt": "a cat", "planner": "nope"}, 422, "planner"),
    "layout width conflicts": (
        {"layout": {"width": 128, "height": 128, "base_prompt": "x"}, "width": 256}, 422, "body"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_are_4xx_problems_naming_the_field(service, case: str) -> None:
    body, status, field = BAD_BODIES[case]
    response = submit(service, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status and problem["code"] == "validation_error" and problem["detail"]
    assert field in {e["field"] for e in problem["errors"]}, problem


def test_malformed_and_oversized_requests(service) -> None:
    with service.client() as client:
        malformed = client.post(
            "/v1/generations", content=b'{"prompt": "a cat",', headers={"Content-Type": "application/json"}
        )
        huge = client.post("/v1/generations", json={"prompt": "a cat " * 20000})
        streamed = client.post(
            "/v1/generations",
            content=iter([b'{"prompt": "', b"x" * 70000, b'"}']),
            headers={"Content-Type": "application/json"},
        )
        not_json = client.post(
            "/v1/generations", content=b"prompt=cat", headers={"Content-Type": "text/plain"}
        )
        missing = client.get("/v1/generations/gen_doesnotexist")
        bad_cursor = client.get("/v1/generations", params={"cursor": "!!!"})
        bad_status = client.get("/v1/generations", params={"status": "sleeping"})
        bad_image = client.get("/v1/generations/gen_doesnotexist/images/0")
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed_json"
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"
    assert streamed.status_code == 413
    for response in (malformed, huge, streamed, not_json, missing, bad_cursor, bad_status, bad_image):
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"] == PROBLEM
    assert missing.status_code == 404 and bad_cursor.json()["code"] == "invalid_cursor"
    assert bad_status.json()["errors"][0]["field"] == "query.status"


def test_auth_and_tenant_isolation(service, api_keys, make_layout_body) -> None:
    key_a, key_b = api_keys
    job = submit(service, make_layout_body(), key=key_a, Prefer="wait=60").json()
    assert job["status"] == "succeeded"
    path = f"/v1/generations/{job['id']}"
    with (
        service.client(None) as anonymous,
        service.client("wrong-key") as wrong,
        service.client(key_b) as other,
    ):
        assert anonymous.get(path).status_code == 401
        assert anonymous.get(path).headers["www-authenticate"] == "Bearer"
        assert anonymous.post("/v1/generations", json=make_layout_body()).status_code == 401
        assert wrong.get(path).json()["code"] == "unauthorized"
        for response in (other.get(path), other.post(f"{path}/cancel"), other.get(f"{path}/images/0"),
                         other.get(f"{path}/layout.png")):  # fmt: skip
            assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
        assert job["id"] not in {
            j["id"] for j in other.get("/v1/generations", params={"limit": 100}).json()["data"]
        }
        assert anonymous.get("/healthz").status_code == 200  # operations endpoints need no key


def test_idempotency_key(service, make_layout_body) -> None:
    body = make_layout_body(seed=5)
    first = submit(service, body, **{"Idempotency-Key": "order-42"})
    replay = submit(service, body, **{"Idempotency-Key": "order-42"})
    other_body = submit(service, make_layout_body(seed=6), **{"Idempotency-Key": "order-42"})
    assert first.status_code == replay.status_code == 202
    assert replay.json()["id"] == first.json()["id"] and replay.headers["Idempotent-Replayed"] == "true"
    assert other_body.status_code == 422 and other_body.json()["code"] == "idempotency_key_reused"
    service.wait_job(first.json()["id"], lambda j: j["status"] == "succeeded", 60, "the idempotent job")


def test_list_paginates_and_filters(service, api_keys, make_layout_body) -> None:
    _, key_b = api_keys  # a key with few jobs, so the pages are predictable
    ids = [submit(service, make_layout_body(), key=key_b, Prefer="wait=60").json()["id"] for _ in range(3)]
    with service.client(key_b) as client:
        seen, cursor = [], None
        for _ in range(10):
            page = client.get(
                "/v1/generations", params={"limit": 1, **({"cursor": cursor} if cursor else {})}
            ).json()
            seen += [j["id"] for j in page["data"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        succeeded = client.get("/v1/generations", params={"status": "succeeded", "limit": 100}).json()["data"]
        failed = client.get("/v1/generations", params={"status": "failed", "limit": 100}).json()["data"]
    assert seen[:3] == ids[::-1] or set(ids) <= set(seen)  # newest first
    assert len(seen) == len(set(seen))
    assert set(ids) <= {j["id"] for j in succeeded} and failed == []


def test_readyz_and_metrics(service) -> None:
    with service.client(None) as client:
        ready = client.get("/readyz")
        metrics = client.get("/metrics").text
        openapi = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "workers_ready": {"plan": 2, "generate": 2}}  # no names
    with service.client() as client:
        details = client.get("/readyz").json()
    assert {w["name"] for w in details["workers"]} == set(service.workers)
    assert 'regional_queue_depth{queue="generate"}' in metrics
    succeeded = [
        line for line in metrics.splitlines() if line.startswith('regional_generations{status="succeeded"}')
    ]
    assert succeeded and float(succeeded[0].split()[-1]) >= 1
    assert 'regional_stage_duration_seconds_count{stage="sampling"}' in metrics
    assert 'regional_workers_ready{queue="generate"} 2.0' in metrics
    plans = [
        line for line in metrics.splitlines() if line.startswith('regional_plans_total{backend="offline"')
    ]
    assert plans and float(plans[0].split()[-1]) >= 2  # the prompt job and /v1/plans
    assert {"/v1/generations", "/v1/generations/{generation_id}/cancel", "/v1/plans"} <= set(openapi["paths"])
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_worker_killed_mid_job_is_retried_on_another(service, make_layout_body) -> None:
    """SIGKILL the worker running a job: within lease (3 s) + reaper (1 s) it is requeued and finishes."""
    job = submit(service, make_layout_body(steps=40)).json()
    running = service.wait_job(
        job["id"],
        lambda j: j["status"] == "running" and (j["progress"] or {}).get("step"),
        90,
        "sampling to start",
    )
    assert running["attempts"] == 1
    from redis import Redis

    record_key = f"{service.env['REGIONAL_NAMESPACE']}:gen:{job['id']}"
    worker_name = Redis.from_url(service.env["REDIS_URL"]).hget(record_key, "worker").decode()
    victim = service.workers[worker_name]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    requeued = service.wait_job(
        job["id"], lambda j: j["attempts"] >= 2 or j["status"] != "running", 30, "requeue"
    )
    assert time.monotonic() - killed_at < 15  # found within lease + reaper interval (+ slack)
    final = service.wait_job(
        job["id"], lambda j: j["status"] in ("succeeded", "failed"), 120, "the retried job"
    )
    assert final["status"] == "succeeded", final
    assert final["attempts"] == 2 and len(final["outputs"]) == 1
    assert Redis.from_url(service.env["REDIS_URL"]).hget(record_key, "worker").decode() != worker_name
    assert requeued["status"] in ("queued", "running", "succeeded")
