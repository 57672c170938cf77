"""A strong LLM's layouts pass through the product unchanged: every recorded layout of the eval prompts,
served by a real OpenAI-compatible HTTP server, comes back from ``plan_report(..., backend="openai")`` as
it was sent, without a retry and without falling back to the offline planner."""

from __future__ import annotations

import json

import pytest
from record_layouts import region_phrases
from replay_server import ReplayServer, load_recordings

from planner.eval import EVAL_SETS, evaluate_layout, load_cases
from planner.planning import plan_report
from planner.settings import PlannerSettings
from regional import Layout

RECORDINGS = load_recordings()
EVAL_SETS_BY_FILE = {path.name: path for path in EVAL_SETS.values()}


@pytest.fixture(scope="module")
def replay():
    with ReplayServer(RECORDINGS) as server:
        yield server


def settings_for(server: ReplayServer) -> PlannerSettings:
    return PlannerSettings(
        backend="openai", openai_base_url=server.base_url, openai_api_key="sk-test", timeout=30
    )


def test_every_eval_set_has_its_recordings() -> None:
    recorded = {(name, r["prompt"]) for r in RECORDINGS for name in r["sets"]}
    for path in EVAL_SETS.values():
        cases = [c for c in load_cases(path) if region_phrases(c)]
        missing = [c.prompt for c in cases if (path.name, c.prompt) not in recorded]
        assert len(missing) <= max(2, len(cases) // 50), missing  # the sampler may miss a very few


def test_recordings_are_correct_layouts_for_their_prompts() -> None:
    for record in RECORDINGS:
        layout = Layout.model_validate(record["layout"])
        for name in record["sets"]:
            for case in load_cases(EVAL_SETS_BY_FILE[name]):
                if (case.prompt, case.width or 1024, case.height or 1024) == (
                    record["prompt"],
                    record["width"],
                    record["height"],
                ):
                    assert not evaluate_layout(layout, case), record["prompt"]


def test_valid_llm_layouts_come_back_unchanged(replay: ReplayServer) -> None:
    settings = settings_for(replay)
    changed = {}
    for record in RECORDINGS:
        report = plan_report(record["prompt"], record["width"], record["height"], settings=settings)
        returned = report.layout.model_dump(mode="json", exclude={"planner"})
        if returned != record["layout"] or report.outcome != "accepted" or report.attempts != 1:
            changed[record["prompt"]] = report.errors or "layout changed"
    assert not changed, json.dumps(changed, indent=1)[:4000]
    assert len(replay.requests) >= len(RECORDINGS)
    assert all(body["model"] == "gpt-4o" for body in replay.requests)
