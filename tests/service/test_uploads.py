"""/v1/uploads on a real uvicorn server and a real Redis (no workers needed), and the upload store itself."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zlib
from collections.abc import Iterator

import pytest
from PIL import Image
from redis import Redis
from service.conftest import Service
from servicekit import KEY_A, KEY_B, wait_until

from api.exceptions import FieldError
from api.images import check_image
from api.uploads import InputImage, UploadStore, resolve_image
from worker.keys import Keys
from worker.results import ResultStore

PROBLEM = "application/problem+json"
LIMITS = {"max_pixels": 4096 * 4096, "max_side": 8192}


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def api(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The API alone (uvicorn, `regional serve`): uploads need no worker. Bodies are limited to 64 KiB."""
    running = Service(service_env, tmp_path_factory.mktemp("logs"))
    try:
        running.start_api()
        yield running
    finally:
        running.stop()


@pytest.fixture
def store(redis_url: str, namespace: str, tmp_path) -> UploadStore:
    return UploadStore(Redis.from_url(redis_url), Keys(namespace), ResultStore(str(tmp_path)), ttl_s=3600)


def upload(api, data: bytes, content_type: str, key: str = KEY_A):
    with api.client(key) as client:
        return client.post("/v1/uploads", content=data, headers={"Content-Type": content_type})


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code, body
    return body


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_upload_round_trip(api, service_env, fmt, content_type) -> None:
    data = encode(Image.new("RGB", (48, 32), "green"), fmt)
    created = upload(api, data, content_type)
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["id"].startswith("upl_") and len(record["id"]) == 4 + 24
    assert record["object"] == "upload" and record["content_type"] == content_type
    assert (record["width"], record["height"], record["bytes"]) == (48, 32, len(data))
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert created.headers["Location"] == f"{api.base_url}/v1/uploads/{record['id']}"
    assert "RateLimit" in created.headers  # rate-limited like every /v1 route
    with api.client() as client:
        read = client.get(f"/v1/uploads/{record['id']}")
    assert read.status_code == 200 and read.json() == record
    stored = ResultStore(service_env["RESULTS_URL"]).get_input(record["sha256"])
    assert stored == data  # the bytes as sent, content-addressed


def test_another_tenants_upload_is_a_404_like_a_missing_one(api) -> None:
    record = upload(api, encode(Image.new("L", (32, 32)), "PNG"), "image/png", key=KEY_A).json()
    with api.client(KEY_B) as client:
        theirs = problem(client.get(f"/v1/uploads/{record['id']}"), 404, "not_found")
        missing = problem(client.get("/v1/uploads/upl_doesnotexistdoesnotexist"), 404, "not_found")
    assert theirs == missing
    with api.client(None) as anonymous:
        problem(anonymous.get(f"/v1/uploads/{record['id']}"), 401, "unauthorized")
        problem(
            anonymous.post("/v1/uploads", content=b"x", headers={"Content-Type": "image/png"}),
            401,
            "unauthorized",
        )


def test_the_declared_type_must_be_an_image_type_and_agree_with_the_bytes(api) -> None:
    jpeg = encode(Image.new("RGB", (32, 32)), "JPEG")
    mismatch = problem(upload(api, jpeg, "image/png"), 422, "validation_error")
    assert mismatch["errors"] == [
        {"field": "body", "message": "Content-Type says image/png but the bytes are image/jpeg"}
    ]
    for declared in ("application/octet-stream", "image/gif", "multipart/form-data; boundary=x"):
        unsupported = problem(upload(api, jpeg, declared), 415, "unsupported_media_type")
        assert declared.split(";")[0] in unsupported["detail"] and "image/webp" in unsupported["detail"]
    assert upload(api, jpeg, "IMAGE/JPEG; charset=binary").status_code == 201  # parameters and case ignored


def test_bad_images_are_problems_naming_the_body(api) -> None:
    gif = encode(Image.new("P", (32, 32)), "GIF")
    for data, needle in (
        (gif, "a GIF image, not a PNG, JPEG or WebP image"),
        (encode(Image.new("CMYK", (32, 32)), "JPEG"), "pixel mode CMYK"),
        (png_declaring(5000, 5000), "5000x5000; the limit is 16777216 pixels"),
        (encode(Image.effect_noise((64, 64), 60).convert("RGB"), "PNG")[:2000], "truncated or corrupt"),
    ):
        content_type = "image/jpeg" if data.startswith(b"\xff\xd8") else "image/png"
        body = problem(upload(api, data, content_type), 422, "validation_error")
        assert body["errors"][0]["field"] == "body" and needle in body["errors"][0]["message"], body


def test_a_body_over_the_limit_is_413(api, service_env) -> None:
    limit = int(service_env["REGIONAL_MAX_BODY_BYTES"])
    noise = encode(Image.effect_noise((256, 256), 80).convert("RGB"), "PNG")  # incompressible: ~190 KB
    assert len(noise) > limit
    problem(upload(api, noise, "image/png"), 413, "body_too_large")


def test_uploads_are_in_the_openapi_document_with_typed_answers(api) -> None:
    with api.client() as client:
        document = client.get("/openapi.json").json()
    post, get = document["paths"]["/v1/uploads"]["post"], document["paths"]["/v1/uploads/{upload_id}"]["get"]
    assert set(post["requestBody"]["content"]) == {"image/png", "image/jpeg", "image/webp"}
    for operation, status in ((post, "201"), (get, "200")):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/UploadOut"}
    assert {"id", "sha256", "width", "height", "expires_at"} <= set(
        document["components"]["schemas"]["UploadOut"]["properties"]
    )


def test_an_upload_record_expires_after_the_ttl(store, redis_url) -> None:
    image = check_image(encode(Image.new("L", (16, 16)), "PNG"), "image", **LIMITS)
    record = store.put("owner-a", image)
    ttl = Redis.from_url(redis_url).ttl(store.keys.upload(record.id))
    assert 3590 <= ttl <= 3600
    assert (record.expires_at - record.created_at).total_seconds() == pytest.approx(3600)
    short = UploadStore(store.redis, store.keys, store.results, ttl_s=1)
    brief = short.put("owner-a", image)
    assert short.get("owner-a", brief.id) == brief
    wait_until(lambda: short.get("owner-a", brief.id) is None, 5, 0.1, "the upload to expire")
    assert store.results.get_input(image.sha256) == image.data  # bytes are kept like results
    assert store.get("owner-b", record.id) is None and store.get("owner-a", record.id) == record


def test_resolve_image_reads_an_upload_of_the_owner(store) -> None:
    image = check_image(encode(Image.new("RGB", (64, 40)), "WEBP"), "image", **LIMITS)
    record = store.put("owner-a", image)
    resolved = resolve_image(store, "owner-a", {"upload": record.id}, "image", **LIMITS)
    assert resolved == InputImage(image.sha256, "image/webp", 64, 40)
    assert resolved.to_json() == {
        "sha256": image.sha256,
        "content_type": "image/webp",
        "width": 64,
        "height": 40,
    }
    assert InputImage.from_json(resolved.to_json()) == resolved
    with pytest.raises(FieldError) as small:
        resolve_image(store, "owner-a", {"upload": record.id}, "image", max_pixels=1000, max_side=8192)
    assert "64x40" in small.value.detail  # this request's limits apply to an earlier upload too


@pytest.mark.parametrize("upload_id", ["upl_unknownunknownunknown00", "not-an-upload-id", "theirs"])
def test_resolve_image_refuses_unknown_expired_and_other_owners_uploads(store, upload_id) -> None:
    if upload_id == "theirs":
        image = check_image(encode(Image.new("L", (16, 16)), "PNG"), "image", **LIMITS)
        upload_id = store.put("owner-b", image).id
    with pytest.raises(FieldError) as info:
        resolve_image(store, "owner-a", {"upload": upload_id}, "init_image", **LIMITS)
    assert info.value.extra["errors"] == [
        {"field": "init_image", "message": f"no upload {upload_id} (unknown, expired, or not yours)"}
    ]


def test_resolve_image_checks_and_stores_inline_data_without_an_upload(store, redis_url, namespace) -> None:
    data = encode(Image.new("RGB", (20, 30), "blue"), "JPEG")
    uploads_before = list(Redis.from_url(redis_url).scan_iter(match=f"{namespace}:upload:*"))
    for text in (
        base64.b64encode(data).decode(),
        "data:image/jpeg;base64," + base64.b64encode(data).decode(),
    ):
        resolved = resolve_image(store, "owner-a", {"data": text}, "image", **LIMITS)
        assert resolved == InputImage(hashlib.sha256(data).hexdigest(), "image/jpeg", 20, 30)
        assert store.results.get_input(resolved.sha256) == data
    assert list(Redis.from_url(redis_url).scan_iter(match=f"{namespace}:upload:*")) == uploads_before
    gif = base64.b64encode(encode(Image.new("P", (32, 32)), "GIF")).decode()
    for ref, needle in (
        ({"data": gif}, "a GIF image"),
        ({"data": "%%%"}, "not valid base64"),
        ({"url": "https://example.com/a.png"}, 'unknown key "url"'),
        ({"upload": "upl_x", "data": gif}, "give one of"),
        ({"data": 42}, "give one of"),
    ):
        with pytest.raises(FieldError) as info:
            resolve_image(store, "owner-a", ref, "image", **LIMITS)
        assert info.value.extra["errors"][0]["field"] == "image" and needle in info.value.detail, ref


def test_get_input_of_bytes_never_stored_is_file_not_found(store) -> None:
    with pytest.raises(FileNotFoundError):
        store.results.get_input("0" * 64)
    with pytest.raises(ValueError, match="not a sha256"):
        store.results.get_input("../../etc/passwd")
