"""`regional serve`: refuses to expose an unauthenticated API; starts on embedded defaults; settings."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from api import cli
from api.auth import authenticate
from api.exceptions import ApiError
from api.settings import ApiSettings, hash_key
from regional.toy.world import SIZE


def test_refuses_non_loopback_without_keys(monkeypatch, capsys) -> None:
    monkeypatch.delenv("REGIONAL_API_KEYS", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # never reached: it refuses first
    from api.settings import get_settings

    get_settings.cache_clear()
    try:
        code = cli.run(argparse.Namespace(host="0.0.0.0", port=1, no_worker=True))
    finally:
        get_settings.cache_clear()
    assert code == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in capsys.readouterr().err
    assert cli.is_loopback("127.0.0.1") and cli.is_loopback("::1") and cli.is_loopback("localhost")
    assert not cli.is_loopback("0.0.0.0") and not cli.is_loopback("10.1.2.3")


def test_api_keys_are_kept_hashed(monkeypatch) -> None:
    monkeypatch.setenv("REGIONAL_API_KEYS", f" alpha , sha256:{hash_key('bravo').upper()} ,")
    settings = ApiSettings()
    assert settings.api_keys == [hash_key("alpha"), hash_key("bravo")]
    assert "alpha" not in settings.model_dump_json()
    alpha, bravo = authenticate("Bearer alpha", settings), authenticate("bearer bravo", settings)
    assert (alpha, bravo) == (hash_key("alpha"), hash_key("bravo"))  # owner ids: tests/service/test_quotas.py
    for header in (None, "Bearer", "Basic alpha", "Bearer charlie"):
        with pytest.raises(ApiError) as info:
            authenticate(header, settings)
        assert info.value.status == 401


def test_settings_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example:6379/2")
    monkeypatch.setenv("RESULTS_URL", "s3://bucket/prefix")
    monkeypatch.setenv("REGIONAL_MODEL", "schnell")
    monkeypatch.setenv("REGIONAL_MAX_STEPS", "12")
    settings = ApiSettings()
    assert (settings.redis_url, settings.results_url, settings.model, settings.max_steps) == (
        "redis://example:6379/2", "s3://bucket/prefix", "schnell", 12)  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_serve_on_embedded_defaults(tmp_path) -> None:
    """What `make run` does on a fresh machine: no REDIS_URL, so embedded Redis and a local worker."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REGIONAL_") and k not in ("REDIS_URL", "RESULTS_URL")
    }
    env.update(REGIONAL_MODEL="tiny", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "regional.cli", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the embedded service did not become ready"
            time.sleep(0.5)
        body = {"layout": {"width": 64, "height": 64, "base_prompt": "a red circle"}, "steps": 2}
        job = httpx.post(
            f"{base}/v1/generations", json=body, headers={"Prefer": "wait=60"}, timeout=90
        ).json()
        assert job["status"] == "succeeded", job
        assert httpx.get(job["outputs"][0]["url"]).content.startswith(b"\x89PNG")
        assert (tmp_path / ".cache" / "regional").is_dir() and (tmp_path / "results" / "images").is_dir()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert "embedded Redis" in output and "worker ready: model 'tiny' on cpu" in output
    assert "curl -s -X POST http://127.0.0.1:" in output
    printed = json.loads(output.split("-d '", 1)[1].split("'", 1)[0])
    assert printed["width"] == printed["height"] == SIZE and "red circle" in printed["prompt"]
