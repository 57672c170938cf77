"""A worker serving each other family's tiny model (Chroma, SD3.5, FLUX.2 [klein], Qwen-Image, a FLUX.1 Control
model) through a real server, real Redis and a real worker: jobs run, record the model and its family; a Control
model takes a job's control image without a ControlNet, SD3.5 a catalogue SD3 ControlNet."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from familykit import family_param
from PIL import Image
from service.conftest import Service, layout_body
from service.test_image_jobs import inline

TERMINAL = {"succeeded", "failed", "canceled"}
FAMILIES = {
    "tiny-chroma": "chroma",
    "tiny-sd3": "sd3",
    "tiny-control": "flux",
    "tiny-klein": "flux2",
    "tiny-qwen-image": "qwenimage",
}


@pytest.fixture(scope="module", params=[family_param(model, family) for model, family in FAMILIES.items()])
def service(
    request, service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    from regional.testing import tiny_sd3_controlnet

    models = tmp_path_factory.mktemp("catalogue")
    tiny_sd3_controlnet(seed=1).save_pretrained(models / "sd3-canny")
    env = {
        **service_env,
        "REGIONAL_MODEL": request.param,
        "REGIONAL_CONTROLNETS": json.dumps({"sd3-canny": str(models / "sd3-canny")}),
    }
    running = Service(env, tmp_path_factory.mktemp("logs"))
    try:
        name = f"{env['REGIONAL_NAMESPACE']}-{request.param}"
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


EDGES = Image.linear_gradient("L").resize((128, 128)).convert("RGB")


def test_a_layout_job_runs_and_records_its_family(service):
    model = service.env["REGIONAL_MODEL"]
    controls = {  # what each worker takes beside a layout: a Control model's image, an SD3 ControlNet
        "tiny-control": {"controls": [{"image": inline(EDGES)}]},
        "tiny-sd3": {"controls": [{"controlnet": "sd3-canny", "image": inline(EDGES), "scale": 0.7}]},
    }.get(model, {})
    job = run(service, layout_body(**controls))
    assert job["status"] == "succeeded", job["error"]
    assert (job["parameters"]["model"], job["parameters"]["family"]) == (model, FAMILIES[model])
    with service.client() as client:
        assert client.get(job["outputs"][0]["url"]).status_code == 200


def test_a_control_model_takes_a_control_image_without_a_controlnet(service):
    """Only the Control model's worker is asked; the other families' workers refuse such a job (bad_input)."""
    a = run(service, layout_body(controls=[{"image": inline(EDGES)}]))
    if service.env["REGIONAL_MODEL"] != "tiny-control":
        assert a["status"] == "failed" and a["error"]["code"] == "bad_input", a["error"]
        return
    b = run(service, layout_body(controls=[{"image": inline(EDGES.rotate(90))}]))
    assert a["outputs"][0]["sha256"] != b["outputs"][0]["sha256"]
    img2img = run(
        service, layout_body(controls=[{"image": inline(EDGES)}], init_image=inline(EDGES), strength=0.5)
    )
    assert img2img["status"] == "succeeded", img2img["error"]
    missing = run(service, layout_body())
    assert missing["status"] == "failed" and missing["error"]["code"] == "bad_input"
