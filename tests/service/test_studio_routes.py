"""The layout studio's routes in process: the page and its files, and `GET /v1/defaults` (no browser here;
tests/browser drives the page itself)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from api.app import create_app
from api.routers.studio import EXAMPLE_LAYOUT, STUDIO_DIR
from api.settings import ApiSettings
from regional.families.flux import DEV, SCHNELL
from regional.loading import sampling_defaults_of
from worker.keys import Keys

KEY = "studio-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def studio_namespace(redis_url: str) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    redis = Redis.from_url(redis_url)
    for key in redis.scan_iter(match=f"{name}:*", count=500):
        redis.delete(key)


@pytest.fixture
def client(redis_url: str, studio_namespace: str, tmp_path) -> Iterator[TestClient]:
    settings = ApiSettings(
        redis_url=redis_url, namespace=studio_namespace, results_url=str(tmp_path), api_keys=[KEY], model=None
    )
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        yield test_client


def test_the_page_and_its_modules_are_served(client) -> None:
    assert client.get("/").headers["location"] == "studio/"  # relative: right behind a path prefix too
    assert client.get("/studio").headers["location"] == "studio/"
    page = client.get("/studio/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    # every file the page names, and every module those import, is served with its type
    names = re.findall(r'(?:src|href)="([\w.-]+\.(?:js|css))"', page.text)
    for script in STUDIO_DIR.glob("*.js"):
        names += re.findall(r'from "\./([\w.-]+\.js)"', script.read_text())
    assert {"studio.js", "studio.css", "api.js", "editor.js"} <= set(names)
    for name in set(names):
        response = client.get(f"/studio/{name}")
        assert response.status_code == 200, name
        expected = "text/javascript" if name.endswith(".js") else "text/css"
        assert response.headers["content-type"].startswith(expected), name


def test_only_the_studio_files_are_served(client) -> None:
    for path in ("/studio/nope.js", "/studio/..%2Fapp.py", "/studio/__init__.py", "/studio/%2e%2e"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"


def test_defaults_name_the_live_workers_models(client, redis_url: str, studio_namespace: str) -> None:
    assert client.get("/v1/defaults").status_code == 401
    none_ready = client.get("/v1/defaults", headers=AUTH).json()
    assert none_ready["models"] == [] and none_ready["example"]["layout"] is None  # unset model: FLUX's
    assert none_ready["example"]["width"] == 1024
    settings = client.app.state.settings
    assert none_ready["limits"] == {"max_side": settings.max_side, "max_steps": settings.max_steps,
                                    "max_images": settings.max_images, "max_regions": settings.max_regions,
                                    "max_image_pixels": settings.max_image_pixels}  # fmt: skip
    assert none_ready["controlnets"] == sorted(settings.controlnets) and none_ready["loras"] == sorted(
        settings.loras
    )

    redis = Redis.from_url(redis_url)
    presence = {"queues": ["generate", "plan"], "model": "toy", "device": "cpu"}
    keys = Keys(studio_namespace)
    redis.set(keys.worker_ready("w1"), json.dumps(presence), ex=60)
    redis.set(keys.worker_ready("w2"), json.dumps({"queues": ["plan"]}), ex=60)  # plans only
    body = client.get("/v1/defaults", headers=AUTH).json()
    assert body["models"] == [
        {
            "model": "toy",
            "device": "cpu",
            "defaults": {
                "steps": 24,
                "guidance": 3.5,
                "base_ratio": 0.2,
                "inject_steps": 10,
                "double_inject_interval": 1,
                "single_inject_interval": 2,
            },  # fmt: skip
        }
    ]
    # the CPU models open on the layout the toy model draws right (tests/toy/test_model.py)
    assert body["example"]["layout"] == json.loads(EXAMPLE_LAYOUT.read_text())
    assert (body["example"]["width"], body["example"]["prompt"]) == (
        128,
        body["example"]["layout"]["base_prompt"],
    )


def test_sampling_defaults_are_read_from_the_config_without_loading(tmp_path, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert sampling_defaults_of("tiny") == DEV  # tiny_flux_pipeline has a guidance embedding
    assert sampling_defaults_of("toy") == DEV
    folder = tmp_path / "schnell-like"
    (folder / "transformer").mkdir(parents=True)
    (folder / "transformer" / "config.json").write_text(json.dumps({"guidance_embeds": False}))
    assert sampling_defaults_of(str(folder)) == SCHNELL
    assert sampling_defaults_of("schnell") is None  # not in the (empty) cache: unknown, not guessed
    assert sampling_defaults_of("auto") is None


def test_the_api_process_still_imports_no_torch() -> None:
    """`GET /v1/defaults` reads model configs through `regional.loading`, which imports torch only to load."""
    code = (
        "import sys, api.app, api.routers.studio; "
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"
