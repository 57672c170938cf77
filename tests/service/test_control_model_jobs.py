"""A worker serving a FLUX.1 Control model (the tiny one): a job's control image without a ControlNet is the
model's own input, through a real server, real Redis and a real worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PIL import Image
from service.conftest import Service, layout_body
from service.test_image_jobs import inline

TERMINAL = {"succeeded", "failed", "canceled"}


@pytest.fixture(scope="module")
def service(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = {**service_env, "REGIONAL_MODEL": "tiny-control"}
    running = Service(env, tmp_path_factory.mktemp("logs"))
    try:
        name = f"{env['REGIONAL_NAMESPACE']}-control"
        running.start_worker(name)
        running.start_api()
        running.wait_workers_ready([name])
        yield running
    finally:
        running.stop()


def run(service: Service, body: dict) -> dict:
    with service.client() as client:
        response = client.post("/v1/generations", json={"seed": 5, **body})
    assert response.status_code == 202, response.text
    return service.wait_job(
        response.json()["id"], lambda j: j["status"] in TERMINAL, 120, "the job to finish"
    )


def test_the_control_image_steers_a_control_model(service):
    edges = Image.linear_gradient("L").resize((128, 128)).convert("RGB")
    a = run(service, layout_body(controls=[{"image": inline(edges)}]))
    b = run(service, layout_body(controls=[{"image": inline(edges.rotate(90))}]))
    assert a["status"] == b["status"] == "succeeded", (a["error"], b["error"])
    assert a["outputs"][0]["sha256"] != b["outputs"][0]["sha256"]
    assert (a["parameters"]["model"], a["parameters"]["family"]) == ("tiny-control", "flux")
    img2img = run(
        service, layout_body(controls=[{"image": inline(edges)}], init_image=inline(edges), strength=0.5)
    )
    assert img2img["status"] == "succeeded", img2img["error"]
    missing = run(service, layout_body())
    assert missing["status"] == "failed" and missing["error"]["code"] == "bad_input"
