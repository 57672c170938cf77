"""The planner's own evaluation: ``python -m planner.eval`` (``make eval-planner``).

Plans every prompt of ``eval_prompts.jsonl`` (hand-written: counting, attributes, negation, spatial relations,
everyday scenes) with each available backend and checks the layouts: stated counts, excluded objects
absent, relations between box centres, attribute phrases kept, no heavy overlap unless implied. Prints the
share of prompts that pass every check, per category and backend. The offline backend always runs; ``local``
runs when ``REGIONAL_PLANNER_LOCAL_MODEL`` is set and ``openai`` when ``OPENAI_BASE_URL`` or
``OPENAI_API_KEY`` is (LLM backends on the first ``--llm-limit`` prompts of each category).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from planner.checks import Expectation, Problem, check
from planner.planning import plan_report
from planner.settings import PlannerSettings
from regional import Layout

PROMPTS_PATH = Path(__file__).with_name("eval_prompts.jsonl")


@dataclass
class Case:
    prompt: str
    category: str
    expected: Expectation
    phrases: list[str]


def load_cases(path: Path = PROMPTS_PATH) -> list[Case]:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            cases.append(
                Case(row["prompt"], row["category"], Expectation.from_dict(row), row.get("phrases", []))
            )
    return cases


def evaluate_layout(layout: Layout, case: Case) -> list[Problem]:
    """All problems of ``layout`` for ``case``, phrase checks included."""
    problems = check(layout, case.expected)
    labels = [region.label.lower() for region in layout.regions]
    for phrase in case.phrases:
        if not any(phrase.lower() in label for label in labels):
            problems.append(Problem("attribute", f'no region phrase contains "{phrase}"'))
    return problems


def available_backends() -> list[str]:
    backends = ["offline"]
    if os.environ.get("REGIONAL_PLANNER_LOCAL_MODEL"):
        backends.append("local")
    if os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"):
        backends.append("openai")
    return backends


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m planner.eval", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend",
        action="append",
        choices=("offline", "local", "openai"),
        help="backend to evaluate (repeatable; default: every available one)",
    )
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--llm-limit", type=int, default=5, help="prompts per category for LLM backends")
    parser.add_argument("--verbose", action="store_true", help="print every failing prompt and why")
    args = parser.parse_args(argv)
    cases = load_cases()
    settings = PlannerSettings(fallback=False)
    categories = sorted({c.category for c in cases})
    results: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    failures: dict[str, Counter[str]] = defaultdict(Counter)
    for backend in args.backend or available_backends():
        per_category: Counter[str] = Counter()
        started = time.monotonic()
        for case in cases:
            if backend != "offline":
                if per_category[case.category] >= args.llm_limit:
                    continue
                per_category[case.category] += 1
            try:
                layout = plan_report(case.prompt, args.width, args.height, backend, settings).layout
                problems = evaluate_layout(layout, case)
            except Exception as exc:  # an evaluation records every failure, whatever it is
                problems = [Problem("error", f"{type(exc).__name__}: {exc}")]
            results[backend][case.category].append(not problems)
            for problem in problems:
                failures[backend][problem.category] += 1
            if problems and args.verbose:
                print(
                    f"[{backend}] {case.prompt!r}: " + "; ".join(p.message for p in problems), file=sys.stderr
                )
        print(
            f"{backend}: {sum(map(len, results[backend].values()))} prompts in {time.monotonic() - started:.1f} s"
        )
    header = f"{'category':<12}" + "".join(f"{b:>18}" for b in results)
    print("\nshare of prompts passing every check\n" + header)
    for category in [*categories, "all"]:
        row = f"{category:<12}"
        for by_category in results.values():
            passed = [ok for cat, oks in by_category.items() if category in (cat, "all") for ok in oks]
            row += f"{sum(passed) / len(passed):>12.1%} ({len(passed):>3})" if passed else f"{'-':>18}"
        print(row)
    print("\nfailed checks by kind")
    for backend in results:
        counter = failures[backend]
        print(f"{backend:<12}" + (", ".join(f"{k}: {v}" for k, v in sorted(counter.items())) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
