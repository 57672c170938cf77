"""The wheel carries the files the code reads at run time (the Docker images install it with `pip install .`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_FILES = [
    "planner/lexicon.toml",
    "planner/prompt_template.md",
    "planner/eval_prompts.jsonl",
    "planner/eval_public/dev.jsonl",
    "planner/eval_public/test.jsonl",
    "regional/toy/example_layout.json",
    "regional/toy/model/model_index.json",
    "regional/toy/model/transformer/diffusion_pytorch_model.safetensors",
    "api/studio/index.html",
    "api/studio/studio.js",
    "api/studio/editor.js",
    "api/studio/api.js",
    "api/studio/studio.css",
]


@pytest.mark.slow
def test_the_wheel_ships_the_data_files(tmp_path: Path) -> None:
    source = tmp_path / "src"  # a copy without .git or an egg-info: what a Docker build context holds
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("regional", "planner", "api", "worker", "drill", "client"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist")],  # fmt: skip
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert [f for f in DATA_FILES if f not in names] == []
    assert {f"{p}/__init__.py" for p in ("regional", "planner", "api", "worker", "drill", "client")} <= names
    assert not any("__pycache__" in n for n in names)
