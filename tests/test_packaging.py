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


def test_the_library_names_no_other_package_of_the_product() -> None:
    """``regional`` is the sampler library: it imports nothing from the planner, the API, the worker, the drill
    or the client, not even by a dotted name in a string (commands and planners come from entry points)."""
    import ast
    import re

    others = re.compile(r"^(planner|api|worker|drill|client)(\.|$)")
    found = []
    for path in sorted((ROOT / "regional").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value]
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in names if others.match(name)
            ]
    assert found == []


def test_every_command_is_registered_by_its_package() -> None:
    from importlib.metadata import entry_points

    commands = {entry.name: entry.value for entry in entry_points(group="regional.commands")}
    assert commands == {
        "generate": "regional.generate_cli", "bench": "regional.bench.cli", "plan": "planner.cli",
        "serve": "api.cli", "worker": "worker.cli", "client": "client.cli", "drill": "drill.cli",
    }  # fmt: skip
    planners = {entry.name: entry.load() for entry in entry_points(group="regional.layout_planners")}
    layout = planners["offline"]("a red circle on the left and a blue square on the right", 128, 128)
    assert [region.phrase for region in layout.regions] == ["a red circle", "a blue square"]
