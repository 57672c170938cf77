"""`regional plan`: one prompt, --jsonl in order with one line per input, exit codes."""

import io
import json
import subprocess
import sys

import pytest

from regional import Layout
from regional.cli import main


def test_single_prompt_prints_the_layout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "three cups on a table", "--width", "768", "--height", "512"]) == 0
    layout = Layout.model_validate_json(capsys.readouterr().out)
    assert (layout.width, layout.height, layout.planner) == (768, 512, "offline")
    assert [r.phrase for r in layout.regions].count("a cup") == 3


def test_jsonl_gives_one_line_per_prompt_in_order(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = ["a cat", "", "two dogs to the left of a tree", "   "]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(prompts) + "\n"))
    assert main(["plan", "--jsonl", "--planner", "offline"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == len(prompts)
    layouts = [Layout.model_validate_json(line) for line in lines]
    assert layouts[0].base_prompt == "a cat" and len(layouts[2].regions) == 3
    assert layouts[1].regions == [] and captured.err.count("the prompt is empty") == 2


def test_bad_canvas_exits_with_2_and_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "a cat", "--width", "1000"]) == 2
    assert "multiple of 16" in capsys.readouterr().err


def test_prompt_and_jsonl_together_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "a cat", "--jsonl"]) == 2


def test_llm_failure_still_yields_a_line_and_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("a cat\n"))
    from planner.settings import get_settings

    get_settings.cache_clear()
    assert main(["plan", "--jsonl", "--planner", "openai"]) == 0
    captured = capsys.readouterr()
    assert Layout.model_validate_json(captured.out).planner == "offline"
    assert "OPENAI_API_KEY" in captured.err and "fell back" in captured.err


def test_console_entry_point_streams_jsonl() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "regional.cli", "plan", "--jsonl"],
        input="a red car\nfive apples\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [len(r["regions"]) for r in rows] == [1, 5] and rows[0]["regions"][0]["phrase"] == "a red car"
