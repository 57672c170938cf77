"""The client is light: no torch, no diffusers, no Redis; and it is the API's own models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_client_and_its_cli_loads_no_torch() -> None:
    code = (
        "import json, sys; import client, client.cli; from regional.cli import build_parser; "
        "build_parser().parse_args(['client', 'list']); "
        "print(json.dumps(sorted(m for m in ('torch', 'diffusers', 'transformers', 'redis', 'rq') if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_client_shares_the_apis_models() -> None:
    import api.schemas
    import client
    import regional.layout

    assert client.GenerationOut is api.schemas.GenerationOut
    assert client.GenerationCreate is api.schemas.GenerationCreate
    assert client.Layout is regional.layout.Layout
