"""docker-compose.yml and the Dockerfiles, checked as far as a machine without a Docker engine allows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from api.settings import ApiSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_dependencies(compose: dict) -> None:
    services = compose["services"]
    assert {"redis", "api", "planner-worker", "gpu-worker", "minio"} <= set(services)
    for name in ("redis", "api", "planner-worker", "gpu-worker", "minio"):
        assert "test" in services[name]["healthcheck"], name
    for name in ("api", "planner-worker", "gpu-worker"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["api"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert set(compose["volumes"]) >= {"redis-data", "minio-data", "hf-cache"}
    assert "redis-data:/data" in services["redis"]["volumes"]


def test_gpu_worker_reserves_a_gpu_and_serves_generation_only(compose: dict) -> None:
    worker = compose["services"]["gpu-worker"]
    [device] = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert worker["command"][-2:] == ["--queues", "generate"]
    assert compose["services"]["planner-worker"]["command"][-2:] == ["--queues", "plan"]
    assert "deploy" not in compose["services"]["planner-worker"]  # planning never holds a GPU


def test_environment_names_are_settings(compose: dict) -> None:
    fields = ApiSettings.model_fields
    known = {"REDIS_URL", "RESULTS_URL"} | {f"REGIONAL_{name.upper()}" for name in fields}
    for name in ("api", "planner-worker", "gpu-worker"):
        env = compose["services"][name]["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0" and env["RESULTS_URL"].startswith("s3://")
        assert env["FSSPEC_S3_ENDPOINT_URL"] == "http://minio:9000"
        for variable in env:
            if variable.startswith("REGIONAL_"):
                assert variable in known, variable
    # the API listens on all interfaces, so keys are required: compose refuses to start without them
    assert ":?" in compose["services"]["api"]["environment"]["REGIONAL_API_KEYS"]


@pytest.mark.parametrize("dockerfile", ["api.Dockerfile", "worker.Dockerfile"])
def test_dockerfiles_copy_what_exists_and_run_our_modules(compose: dict, dockerfile: str) -> None:
    text = (ROOT / "docker" / dockerfile).read_text()
    assert [s["build"]["dockerfile"] for s in compose["services"].values() if "build" in s].count(
        f"docker/{dockerfile}"
    ) == 1
    for source in re.findall(r"^COPY\s+(.+?)\s+\S+$", text, flags=re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), path
    assert "HEALTHCHECK" in text and "USER app" in text
    for module in re.findall(r'"-m", "(\w+)"', text):
        assert (ROOT / module / "__main__.py").exists()
    if dockerfile == "worker.Dockerfile":
        assert text.startswith("#") and "FROM nvidia/cuda:" in text
