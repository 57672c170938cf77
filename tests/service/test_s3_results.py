"""The result store on a real S3-compatible server: moto in server mode on 127.0.0.1, reached through s3fs.

Configured the way a MinIO user configures it, with environment variables only: ``RESULTS_URL=s3://bucket/
prefix``, ``FSSPEC_S3_ENDPOINT_URL`` (read by fsspec when it is imported), ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY`` (read by botocore), as docker-compose.yml sets them. ``~/.aws`` and ``~/.config/fsspec`` are kept out of it.
Skipped when s3fs or moto's server extra (``pip install 'moto[server]'``) is not installed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from processes import stop_processes

pytest.importorskip("s3fs", reason="s3fs is not installed (the `s3` extra)")
pytest.importorskip("moto.server", reason="moto's S3 server is not installed (`pip install 'moto[server]'`)")

import fsspec.config  # noqa: E402
import s3fs  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from redis import Redis  # noqa: E402

from api.app import create_app  # noqa: E402
from api.auth import owner_id  # noqa: E402
from api.settings import ApiSettings, hash_key  # noqa: E402
from regional.layout import Layout  # noqa: E402
from worker.results import ResultStore  # noqa: E402
from worker.store import QUEUED, RUNNING, SUCCEEDED, JobStore  # noqa: E402

BUCKET = "regional-results"
ACCESS_KEY = "AKIAREGIONALTESTKEY1"
SECRET_KEY = "s3cr3t-must-never-be-stored-" + uuid.uuid4().hex
SERVER_STARTUP_S = 30
API_KEY = "s3-test-key"
LAYOUT = Layout(
    width=64, height=64, base_prompt="a red car", regions=[{"prompt": "a fox", "box": [0, 0, 0.5, 0.5]}]
)
AWS_OVERRIDES = (  # anything of the developer's own that would change where or as whom s3fs connects
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server process on a free loopback port, with the bucket created; stopped afterwards."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + SERVER_STARTUP_S
        while True:
            assert server.poll() is None, f"moto server exited: {log_path.read_text(errors='replace')}"
            try:
                if httpx.get(f"{endpoint}/", timeout=1, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"moto server did not answer within {SERVER_STARTUP_S} s on {endpoint}")
            time.sleep(0.1)
        admin = s3fs.S3FileSystem(
            endpoint_url=endpoint, key=ACCESS_KEY, secret=SECRET_KEY, skip_instance_cache=True
        )
        admin.mkdir(BUCKET)
        yield endpoint
    finally:
        stop_processes(server, timeout=10)


@pytest.fixture(scope="module")
def s3_env(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Exactly what a MinIO deployment sets (RESULTS_URL aside), plus isolation from the developer's config."""
    isolated = tmp_path_factory.mktemp("no-config")
    return {
        "FSSPEC_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",  # as docker-compose.yml sets it; optional
        "AWS_CONFIG_FILE": str(isolated / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(isolated / "aws-credentials"),
        "FSSPEC_CONFIG_DIR": str(isolated),
    }


@pytest.fixture
def configured(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process configured from ``s3_env``. fsspec reads ``FSSPEC_*`` variables once, at import, so they
    are parsed here by the same function into its config (a fresh process reads them by itself)."""
    for name in AWS_OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    parsed: dict[str, dict] = {}
    fsspec.config.set_conf_env(parsed, s3_env)
    monkeypatch.setitem(fsspec.config.conf, "s3", parsed["s3"])
    s3fs.S3FileSystem.clear_instance_cache()
    yield
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def admin(s3_endpoint: str) -> s3fs.S3FileSystem:
    """Direct access to the server, to see what is really in the bucket."""
    return s3fs.S3FileSystem(
        endpoint_url=s3_endpoint, key=ACCESS_KEY, secret=SECRET_KEY, skip_instance_cache=True
    )


@pytest.fixture
def results_url() -> str:
    return f"s3://{BUCKET}/prefix-{uuid.uuid4().hex[:8]}"


def generated_png(seed: int = 5) -> tuple[bytes, dict]:
    """A PNG and its metadata as the worker makes them (same functions, a stand-in sampler)."""
    from types import SimpleNamespace

    from worker.runtime import png_with_parameters
    from worker.tasks import _metadata

    params = {
        "seed": seed,
        "steps": 4,
        "guidance": 3.5,
        "base_ratio": 0.2,
        "inject_steps": 2,
        "model": "fake",
    }
    doc = _metadata(LAYOUT, params, SimpleNamespace(model_info={"id": "fake"}), 0)
    buffer = io.BytesIO()
    Image.new("RGB", (LAYOUT.width, LAYOUT.height), (seed, 90, 200)).save(buffer, format="PNG")
    return png_with_parameters(Image.open(buffer), LAYOUT, doc), doc


def assert_no_credentials(*texts: str | bytes) -> None:
    for text in texts:
        raw = text if isinstance(text, bytes) else text.encode()
        assert SECRET_KEY.encode() not in raw and ACCESS_KEY.encode() not in raw


def objects(admin: s3fs.S3FileSystem, url: str) -> list[str]:
    admin.invalidate_cache()
    return sorted(admin.find(url.removeprefix("s3://")))


def content_type(admin: s3fs.S3FileSystem, path: str) -> str:
    bucket, key = path.split("/", 1)
    return admin.call_s3("head_object", Bucket=bucket, Key=key)["ContentType"]


def test_put_stores_content_addressed_png_and_json(configured, admin, results_url) -> None:
    store = ResultStore(results_url)
    png, doc = generated_png()
    sha = store.put(png, doc)
    assert sha == hashlib.sha256(png).hexdigest()
    base = f"{results_url.removeprefix('s3://')}/images/{sha[:2]}/{sha}"
    assert objects(admin, results_url) == [f"{base}.json", f"{base}.png"]
    assert admin.cat_file(f"{base}.png") == png and json.loads(admin.cat_file(f"{base}.json")) == doc
    assert content_type(admin, f"{base}.png") == "image/png"
    assert content_type(admin, f"{base}.json") == "application/json"

    assert store.put(png, doc) == sha  # same bytes, same key, nothing new
    assert objects(admin, results_url) == [f"{base}.json", f"{base}.png"]
    other_png, other_doc = generated_png(seed=6)
    assert store.put(other_png, other_doc) != sha and len(objects(admin, results_url)) == 4

    fresh = ResultStore(results_url)  # another process's view: reads come from the server
    assert fresh.get_png(sha) == png and fresh.get_metadata(sha) == doc
    with pytest.raises(FileNotFoundError):
        fresh.get_png("0" * 64)
    with pytest.raises(ValueError):
        fresh.get_png("../../etc/passwd")


def test_no_credentials_in_stored_metadata_or_png_text(configured, admin, results_url) -> None:
    png, doc = generated_png()
    sha = ResultStore(results_url).put(png, doc)
    text = Image.open(io.BytesIO(admin.cat_file(f"{results_url[5:]}/images/{sha[:2]}/{sha}.png"))).text
    assert set(text) == {"parameters", "regional"} and json.loads(text["regional"]) == doc
    assert_no_credentials(png, admin.cat_file(f"{results_url[5:]}/images/{sha[:2]}/{sha}.json"))


def test_missing_bucket_fails_and_is_not_created(configured, admin) -> None:
    """A misspelt bucket must not be created behind the operator's back (s3fs's makedirs would)."""
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    with pytest.raises(FileNotFoundError):
        ResultStore(f"s3://{bucket}/prefix").put(b"\x89PNG not really", {})
    admin.invalidate_cache()
    assert not admin.exists(bucket)


def test_api_serves_an_image_from_s3(configured, redis_url, results_url) -> None:
    """The API's image and layout routes read the PNG back from the bucket."""
    namespace, owner_secret = f"test-{uuid.uuid4().hex[:12]}", "an-owner-secret-of-32-characters"
    settings = ApiSettings(
        redis_url=redis_url,
        namespace=namespace,
        results_url=results_url,
        api_keys=[API_KEY],
        owner_secret=owner_secret,
    )
    png, doc = generated_png()
    sha = ResultStore(results_url).put(png, doc)
    redis = Redis.from_url(redis_url)
    store, generation_id = JobStore(redis, namespace), "gen_" + uuid.uuid4().hex
    owner = owner_id(hash_key(API_KEY), owner_secret.encode())
    store.create(generation_id, owner, {"layout": LAYOUT.model_dump(mode="json")})
    assert store.transition(generation_id, [QUEUED], RUNNING)
    outputs = [{"index": 0, "sha256": sha, "width": 64, "height": 64}]
    assert store.transition(generation_id, [RUNNING], SUCCEEDED, outputs=outputs, t_finished=time.time())
    gone = "f" * 64
    try:
        with TestClient(create_app(settings), headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            image = client.get(f"/v1/generations/{generation_id}/images/0")
            assert image.status_code == 200 and image.headers["content-type"] == "image/png"
            assert image.content == png and image.headers["ETag"] == f'"{sha}"'
            overlay = client.get(f"/v1/generations/{generation_id}/layout.png")
            assert overlay.status_code == 200 and Image.open(io.BytesIO(overlay.content)).size == (64, 64)
            store.update(generation_id, outputs=[{**outputs[0], "sha256": gone}])
            missing = client.get(f"/v1/generations/{generation_id}/images/0")
            assert missing.status_code == 410 and missing.json()["code"] == "image_gone"
    finally:
        for pattern in (f"{namespace}:*", f"rq:*{namespace}*"):
            for key in redis.scan_iter(match=pattern, count=500):
                redis.delete(key)


def test_environment_alone_configures_a_fresh_process(s3_env, admin, results_url) -> None:
    """No code of ours reads the endpoint: fsspec and botocore pick it all up from the environment."""
    script = textwrap.dedent(
        f"""
        from worker.results import ResultStore
        store = ResultStore({results_url!r})
        sha = store.put(b"\\x89PNG from env", {{"seed": 1}})
        assert ResultStore({results_url!r}).get_png(sha) == b"\\x89PNG from env"
        print(sha)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSPEC_"))}
    env.update(s3_env, RESULTS_URL=results_url)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    sha = done.stdout.strip()
    assert f"{results_url[5:]}/images/{sha[:2]}/{sha}.png" in objects(admin, results_url)


# -- end to end: the real API server and workers (tiny model) with RESULTS_URL on the S3 server ----------


@pytest.fixture(scope="module")
def service_env(service_env: dict[str, str], s3_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in service_env.items() if not k.startswith(("AWS_", "FSSPEC_"))}
    return {**env, **s3_env, "RESULTS_URL": f"s3://{BUCKET}/e2e-{uuid.uuid4().hex[:8]}"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_e2e_job_stores_in_s3_and_is_served(service, admin, make_layout_body) -> None:
    results_url = service.env["RESULTS_URL"]
    with service.client() as client:
        first = client.post("/v1/generations", json=make_layout_body(seed=11), headers={"Prefer": "wait=60"})
        again = client.post("/v1/generations", json=make_layout_body(seed=11), headers={"Prefer": "wait=60"})
        job, job_again = first.json(), again.json()
        assert job["status"] == "succeeded" and job_again["status"] == "succeeded", (job, job_again)
        [output] = job["outputs"]
        image = client.get(output["url"])
    sha = output["sha256"]
    assert job_again["outputs"][0]["sha256"] == sha  # same request and seed: the same object
    base = f"{results_url[5:]}/images/{sha[:2]}/{sha}"
    assert objects(admin, results_url) == [f"{base}.json", f"{base}.png"]
    stored_png, stored_json = admin.cat_file(f"{base}.png"), admin.cat_file(f"{base}.json")
    assert image.status_code == 200 and image.content == stored_png
    assert hashlib.sha256(stored_png).hexdigest() == sha
    metadata = json.loads(stored_json)
    assert metadata["model"]["id"] == "tiny" and metadata["parameters"]["seed"] == 11
    assert json.loads(Image.open(io.BytesIO(stored_png)).text["regional"]) == metadata
    assert_no_credentials(stored_png, stored_json, first.text, again.text)
