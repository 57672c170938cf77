"""Jobs with images, ControlNets and LoRAs through a real uvicorn server, real Redis and a real worker (tiny
model, a tiny union ControlNet and LoRA from the operator's catalogue): each input kind round-trips, the
worker's LoRA state never leaks into the next job, and bad input is a 422 naming the field, never a job."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import pytest
from PIL import Image
from service.conftest import Service, layout_body
from servicekit import KEY_A, KEY_B

from regional.testing import save_tiny_flux_lora, tiny_flux_controlnet

PROBLEM = "application/problem+json"
TERMINAL = {"succeeded", "failed", "canceled"}


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def inline(image: Image.Image) -> dict:
    return {"data": base64.b64encode(png(image)).decode()}


PICTURE = Image.radial_gradient("L").resize((128, 128)).convert("RGB")
POSE = Image.linear_gradient("L").resize((128, 128)).convert("RGB")
RIGHT_HALF = Image.new("L", (128, 128))
RIGHT_HALF.paste(255, (64, 0, 128, 128))


@pytest.fixture(scope="module")
def service(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    models = tmp_path_factory.mktemp("catalogue")
    tiny_flux_controlnet(seed=1, num_mode=3).save_pretrained(models / "union")
    save_tiny_flux_lora(models / "style", seed=1)
    env = {
        **service_env,
        "REGIONAL_CONTROLNETS": json.dumps({"union": str(models / "union")}),
        "REGIONAL_LORAS": json.dumps({"style": str(models / "style")}),
        "REGIONAL_MAX_LOADED_LORAS": "1",
    }
    running = Service(env, tmp_path_factory.mktemp("logs"))
    try:
        name = f"{env['REGIONAL_NAMESPACE']}-images"
        running.start_worker(name)
        running.start_api()
        running.wait_workers_ready([name])
        yield running
    finally:
        running.stop()


def submit(service: Service, body: dict, key: str = KEY_A) -> dict:
    with service.client(key) as client:
        response = client.post("/v1/generations", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def finished(service: Service, body: dict) -> dict:
    job = submit(service, {"seed": 3, **body})
    job = service.wait_job(job["id"], lambda j: j["status"] in TERMINAL, 120, "the job to finish")
    assert job["status"] == "succeeded", (
        job["error"],
        service.log(f"{service.env['REGIONAL_NAMESPACE']}-images"),
    )
    return job


def output_sha(job: dict) -> str:
    return job["outputs"][0]["sha256"]


def upload(service: Service, image: Image.Image, key: str = KEY_A) -> str:
    with service.client(key) as client:
        response = client.post("/v1/uploads", content=png(image), headers={"Content-Type": "image/png"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_each_input_kind_round_trips_and_changes_the_image(service):
    plain = finished(service, layout_body())
    assert (plain["parameters"]["model"], plain["parameters"]["family"]) == ("tiny", "flux")
    img2img = finished(service, layout_body(init_image=inline(PICTURE), strength=0.5))
    assert img2img["parameters"]["strength"] == 0.5
    assert (
        len(img2img["parameters"]["init_image"]["sha256"]) == 64
        and "data" not in img2img["parameters"]["init_image"]
    )
    inpaint = finished(
        service,
        layout_body(
            init_image={"upload": upload(service, PICTURE)},
            mask_image={"upload": upload(service, RIGHT_HALF)},
        ),
    )
    assert inpaint["parameters"]["strength"] == 0.6  # the default, recorded
    controlled = finished(
        service,
        layout_body(
            controls=[{"controlnet": "union", "image": inline(POSE), "mode": 1, "scale": 0.8, "end": 0.5}]
        ),
    )
    control = controlled["parameters"]["controls"][0]
    assert (control["controlnet"], control["mode"], control["scale"], control["end"]) == (
        "union",
        1,
        0.8,
        0.5,
    )
    shas = [output_sha(job) for job in (plain, img2img, inpaint, controlled)]
    assert len(set(shas)) == 4, shas  # every input acted
    with service.client() as client:
        image = client.get(controlled["outputs"][0]["url"])
    assert Image.open(io.BytesIO(image.content)).size == (128, 128)


def test_a_job_after_one_with_a_lora_equals_one_before_it(service):
    """One worker, one pipeline: the LoRA is active for its job only."""
    before = output_sha(finished(service, layout_body()))
    with_lora = finished(service, layout_body(loras=[{"name": "style", "weight": 0.9}]))
    assert with_lora["parameters"]["loras"] == [{"name": "style", "weight": 0.9}]
    assert output_sha(with_lora) != before
    assert output_sha(finished(service, layout_body())) == before


def test_a_prompt_job_with_an_init_image_takes_its_shape(service):
    """Scaled to the default canvas's longer side (1024), small images too; every other image is checked
    against that shape."""
    wide = Image.new("RGB", (64, 32), "orange")
    job = finished(service, {"prompt": "a red fox on the left", "init_image": inline(wide), "steps": 1})
    assert (job["layout"]["width"], job["layout"]["height"]) == (1024, 512)
    with service.client() as client:
        response = client.post("/v1/generations", json={
            "prompt": "a red fox on the left", "init_image": inline(wide),
            "controls": [{"controlnet": "union", "image": inline(POSE), "mode": 1}],
        })  # fmt: skip
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "controls[0].image"


def test_a_control_image_without_a_controlnet_fails_the_job_on_a_plain_model(service):
    job = submit(service, layout_body(controls=[{"image": inline(POSE)}]))
    job = service.wait_job(job["id"], lambda j: j["status"] in TERMINAL, 120, "the job to finish")
    assert job["status"] == "failed" and job["error"]["code"] == "bad_input"
    assert "needs a ControlNet" in job["error"]["message"]


def bomb() -> dict:
    """A PNG header declaring 30000 x 30000 pixels over a few bytes of data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
    data = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    return {"data": base64.b64encode(data).decode()}


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"controls": [{"controlnet": "depth", "image": inline(POSE)}]}, "controls[0].controlnet"),
        ({"loras": [{"name": "anime"}]}, "loras[0].name"),
        ({"init_image": inline(PICTURE), "mask_image": inline(RIGHT_HALF.resize((64, 64)))}, "mask_image"),
        ({"init_image": {"data": base64.b64encode(b"GIF89a not really").decode()}}, "init_image"),
        ({"init_image": {"data": "%%% not base64"}}, "init_image"),
        ({"init_image": bomb()}, "init_image"),
        ({"init_image": inline(Image.new("RGB", (256, 128)))}, "init_image"),  # not the canvas's shape
        ({"init_image": {"upload": "upl_doesnotexist"}}, "init_image"),
        ({"controls": [{"controlnet": "union", "image": inline(Image.new("RGB", (128, 64)))}]}, "controls[0].image"),
        ({"mask_image": inline(RIGHT_HALF)}, "body"),  # a mask needs an init image
        ({"init_image": inline(PICTURE), "strength": 1.5}, "strength"),
    ],
)  # fmt: skip
def test_bad_input_is_a_422_naming_the_field_and_queues_nothing(service, extra, field):
    with service.client() as client:
        before = client.get("/v1/generations", params={"limit": 100}).json()["data"]
        response = client.post("/v1/generations", json=layout_body(**extra))
        after = client.get("/v1/generations", params={"limit": 100}).json()["data"]
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert any(error["field"].startswith(field) for error in problem["errors"]), problem
    assert len(after) == len(before)


def test_another_tenants_upload_cannot_be_named(service):
    upload_id = upload(service, PICTURE, key=KEY_A)
    with service.client(KEY_B) as client:
        response = client.post("/v1/generations", json=layout_body(init_image={"upload": upload_id}))
    assert response.status_code == 422
    assert "not yours" in response.text


def test_defaults_list_the_catalogues(service):
    with service.client() as client:
        defaults = client.get("/v1/defaults").json()
    assert defaults["controlnets"] == ["union"] and defaults["loras"] == ["style"]
