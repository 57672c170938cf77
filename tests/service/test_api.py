"""The API in process (TestClient) against the real Redis, with no workers: jobs stay queued."""

from __future__ import annotations

import base64
import io
import json
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr, ValidationError
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
    """Planning runs in the API process; with Redis down it still answers (only its metrics go uncounted and
    its rate limit unchecked). Owner ids need the server secret: configured here; without REGIONAL_OWNER_SECRET
    it is read from Redis at startup, or by the first request once Redis is back (503 until then)."""
    dead = settings_for("redis://127.0.0.1:1/0", "test-dead", str(tmp_path))
    dead = dead.model_copy(update={"owner_secret": SecretStr("an-owner-secret-of-32-characters")})
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


LONE_SURROGATE = "a cat \udfff"


def _layout_with(**changes) -> dict:
    region = {"phrase": "a cat", "prompt": "a cat", "box": [0.0, 0.0, 0.5, 1.0]}
    layout = {"width": 128, "height": 128, "base_prompt": "a cat", "regions": [region]}
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node: dict = layout
        for part in parents:
            node = node["regions"][0] if part == "region" else node[part]
        node[leaf] = value
    return {"layout": layout}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/generations", {"prompt": LONE_SURROGATE}, "prompt"),
        ("/v1/generations", _layout_with(base_prompt=LONE_SURROGATE), "layout.base_prompt"),
        ("/v1/generations", _layout_with(negative_prompt=LONE_SURROGATE), "layout.negative_prompt"),
        ("/v1/generations", _layout_with(background_prompt=LONE_SURROGATE), "layout.background_prompt"),
        ("/v1/generations", _layout_with(planner=LONE_SURROGATE), "layout.planner"),
        ("/v1/generations", _layout_with(region__prompt=LONE_SURROGATE), "layout.regions[0].prompt"),
        ("/v1/generations", _layout_with(region__phrase=LONE_SURROGATE), "layout.regions[0].phrase"),
        ("/v1/plans", {"prompt": LONE_SURROGATE}, "prompt"),
    ],
)
def test_unpaired_surrogates_are_field_errors_everywhere(client, path, body, field) -> None:
    """JSON can carry a lone UTF-16 surrogate ("\\udfff"); it is no text and UTF-8 cannot store it."""
    response = client.post(
        path, content=json.dumps(body), headers={**AUTH, "Content-Type": "application/json"}
    )
    field_error(response, field)
    [error] = [e for e in response.json()["errors"] if e["field"] == field]
    assert "unpaired surrogate" in error["message"] and error["type"] == "unpaired_surrogate", error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "a cat", "planner": LONE_SURROGATE}, "planner"),  # not one of the planner names
        (_layout_with(region__mask=LONE_SURROGATE, region__box=None), "layout.regions[0].mask"),  # not base64
    ],
)
def test_unpaired_surrogates_in_names_and_masks_are_field_errors(client, body, field) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    field_error(client.post("/v1/generations", content=json.dumps(body), headers=headers), field)


def test_surrogate_pairs_are_text(client) -> None:
    body = json.dumps(_layout_with(base_prompt="a cat \U0001f408", region__prompt="a cat \U0001f408"))
    assert "\\ud83d\\udc08" in body  # json.dumps writes the emoji as a surrogate pair
    response = client.post(
        "/v1/generations", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
    assert response.json()["layout"]["base_prompt"] == "a cat \U0001f408"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _ihdr(width: int, height: int) -> bytes:
    return _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))  # 8-bit grey


def _idat(width: int, height: int) -> bytes:
    return _png_chunk(b"IDAT", zlib.compress((b"\x00" + b"\xff" * width) * height, 9))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = _png_chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "png",
    [
        # a text chunk before IHDR: Pillow reads it, so IHDR is not at a fixed offset
        PNG_SIGNATURE
        + _png_chunk(b"tEXt", b"Comment\x00hi")
        + _ihdr(4096, 4096)
        + _idat(4096, 4096)
        + PNG_END,
        # two IHDR chunks: Pillow decodes with the last one
        PNG_SIGNATURE + _ihdr(8, 8) + _ihdr(4096, 4096) + _idat(4096, 4096) + PNG_END,
    ],
    ids=["text-before-ihdr", "second-ihdr"],
)
def test_mask_pixels_are_checked_whatever_the_chunk_order(client, monkeypatch, png) -> None:
    import regional.layout

    decoded = []
    real_decode = regional.layout.decode_mask_png
    monkeypatch.setattr(
        regional.layout, "decode_mask_png", lambda data: decoded.append(1) or real_decode(data)
    )
    assert Image.open(io.BytesIO(png)).size == (4096, 4096)  # what a decoder would allocate
    body = mask_body(base64.b64encode(png).decode(), regions=16)
    response = client.post("/v1/generations", json=body, headers=AUTH)
    field_error(response, "layout.regions[0].mask")
    assert "4096x4096" in response.json()["detail"] and decoded == []


@pytest.mark.parametrize(
    "mask",
    [
        base64.b64encode(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").decode(),  # not a PNG
        base64.b64encode(PNG_SIGNATURE + _ihdr(8, 8)[:10]).decode(),  # cut inside IHDR
        base64.b64encode(PNG_SIGNATURE + _idat(8, 8) + PNG_END).decode(),  # no IHDR
        "not base64 at all!",
    ],
    ids=["gif", "truncated", "no-ihdr", "not-base64"],
)
def test_unreadable_masks_are_field_errors_naming_the_region(client, mask) -> None:
    body = mask_body(png_b64(64, 64), regions=2)
    body["layout"]["regions"][1] = {"prompt": "a dog", "mask": mask}
    field_error(client.post("/v1/generations", json=body, headers=AUTH), "layout.regions[1].mask")


def test_masks_are_decoded_off_the_event_loop(client, monkeypatch) -> None:
    """Decoding masks takes seconds for big layouts: in the event loop it would stall every request."""
    import asyncio

    import regional.layout

    on_loop = []
    real_decode = regional.layout.decode_mask_png

    def decode(data: str):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:  # a worker thread has no running loop
            on_loop.append(False)
        return real_decode(data)

    monkeypatch.setattr(regional.layout, "decode_mask_png", decode)
    response = client.post("/v1/generations", json=mask_body(png_b64(64, 64), regions=2), headers=AUTH)
    assert response.status_code == 202, response.text
    assert on_loop and not any(on_loop)


def _nullable(schema: dict) -> dict:
    """The non-null branch of an ``X | None`` property."""
    return next((s for s in schema.get("anyOf", []) if s.get("type") != "null"), schema)


def test_openapi_states_what_validation_accepts(client) -> None:
    settings = client.app.state.settings
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    side = {"multipleOf": 16, "minimum": 32, "maximum": settings.max_side}
    create, plan, layout, region = (
        schemas[n] for n in ("GenerationCreate", "PlanCreate", "Layout", "Region")
    )
    for model in (create, plan):
        for name in ("width", "height"):
            assert side.items() <= _nullable(model["properties"][name]).items(), (model["title"], name)
        assert _nullable(model["properties"]["planner"])["enum"] == ["offline", "openai", "local"]
        prompt = _nullable(model["properties"]["prompt"])
        assert prompt["maxLength"] == 2000 and prompt["pattern"] == r"\S"
    for name in ("width", "height"):
        assert side.items() <= layout["properties"][name].items()
    assert layout["properties"]["regions"]["maxItems"] == settings.max_regions
    assert layout["properties"]["base_prompt"]["maxLength"] == 2000
    assert _nullable(create["properties"]["steps"])["maximum"] == settings.max_steps
    assert create["properties"]["num_images"]["maximum"] == settings.max_images
    assert _nullable(create["properties"]["inject_steps"])["maximum"] == settings.max_steps
    assert [set(b["required"]) for b in create["oneOf"]] == [{"prompt"}, {"layout"}]
    box = _nullable(region["properties"]["box"])
    assert all(item["minimum"] == 0 and item["maximum"] == 1 for item in box["prefixItems"])
    limit = settings.max_mask_bytes  # padded base64 of the limit, plus room for a data: URL prefix
    assert _nullable(region["properties"]["mask"])["maxLength"] == 4 * -(-limit // 3) + len("data:image/png;base64,")


@pytest.mark.parametrize("data_url", [False, True])
def test_a_mask_of_exactly_the_byte_limit_is_accepted_and_one_byte_more_is_not(data_url: bool) -> None:
    import base64
    import struct
    import zlib

    from api.exceptions import FieldError
    from api.limits import check_layout_payload
    from api.settings import ApiSettings

    settings = ApiSettings(max_mask_bytes=1024)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def mask_of(size: int) -> str:
        head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0))
        tail = chunk(b"IDAT", zlib.compress(b"\x00" + b"\xff" * 16) * 1) + chunk(b"IEND", b"")
        padding = size - len(head) - len(tail) - 12  # a private ancillary chunk makes up the size
        png = head + chunk(b"prVt", b"x" * padding) + tail
        assert len(png) == size
        encoded = base64.b64encode(png).decode()
        return "data:image/png;base64," + encoded if data_url else encoded

    def body(mask: str) -> dict:
        return {"layout": {"regions": [{"prompt": "a fox", "mask": mask}]}}

    check_layout_payload(body(mask_of(1024)), settings)
    with pytest.raises(FieldError, match="larger than 1024 bytes"):
        check_layout_payload(body(mask_of(1025)), settings)


class HangingLLM:
    """An OpenAI-compatible server that answers nothing until the test ends."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                server.calls += 1
                server.release.wait(60)
                self.send_response(500)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> HangingLLM:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.timeout(60)
def test_a_hanging_planner_falls_back_within_the_planning_budget(redis_url, tmp_path) -> None:
    """One budget: the LLM attempts share it and the offline fallback always runs, never a 504."""
    from planner.settings import PlannerSettings

    settings = settings_for(redis_url, f"test-{uuid.uuid4().hex[:12]}", str(tmp_path))
    with HangingLLM() as llm:
        planner_settings = PlannerSettings(
            backend="openai", openai_base_url=llm.base_url, openai_api_key="x", timeout=30, budget_s=4
        )
        with TestClient(create_app(settings, planner_settings)) as test_client:
            started = time.monotonic()
            response = test_client.post("/v1/plans", json={"prompt": "a cat left of a dog"}, headers=AUTH)
            elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["layout"]["planner"] == "offline" and llm.calls >= 1
    assert elapsed < planner_settings.budget_s, elapsed
