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
from dataclasses import dataclass, field
from pathlib import Path

from planner.checks import Expectation, Problem, check, part_of_canvas
from planner.planning import plan_report
from planner.repair import head_of
from planner.settings import PlannerSettings
from regional import Layout
from regional.raster import region_coverage

PROMPTS_PATH = Path(__file__).with_name("eval_prompts.jsonl")
HELDOUT_PATH = Path(__file__).with_name("eval_heldout.jsonl")
"""Prompts in the style of public benchmarks, written apart from the parser to measure it without bias."""
FRESH_PATH = Path(__file__).with_name("eval_fresh.jsonl")
"""Further unseen styles (spatial pairs, held objects, interiors, odd canvases, terse prompts)."""

PUBLIC_DEV_PATH = Path(__file__).with_name("eval_public") / "dev.jsonl"
PUBLIC_TEST_PATH = Path(__file__).with_name("eval_public") / "test.jsonl"
"""Prompts from public benchmarks and caption collections (``eval_public/SOURCES.md``): the planner is
improved against the development split only; the test split is reported, never tuned on."""

EVAL_SETS = {
    "hand-written": PROMPTS_PATH,
    "heldout": HELDOUT_PATH,
    "fresh": FRESH_PATH,
    "public-dev": PUBLIC_DEV_PATH,
    "public-test": PUBLIC_TEST_PATH,
}

TOP_BAND = 0.4
"""A box whose centre lies above this (normalised y) counts as "in the upper part" of the image."""


@dataclass
class Case:
    prompt: str
    category: str
    expected: Expectation
    phrases: list[str]
    extra: dict = field(default_factory=dict)
    """Optional layout checks: negative, background, exact_phrases, tall, wide, top, min_height, min_width,
    larger, touch, apart, within."""
    width: int | None = None
    height: int | None = None


def load_cases(path: Path = PROMPTS_PATH) -> list[Case]:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            cases.append(
                Case(
                    row["prompt"],
                    row["category"],
                    Expectation.from_dict(row),
                    row.get("phrases", []),
                    {k: v for k, v in row.items() if k in EXTRA_CHECKS},
                    row.get("width"),
                    row.get("height"),
                )
            )
    return cases


EXTRA_CHECKS = {
    "negative", "background", "exact_phrases", "tall", "wide", "top", "min_height", "min_width", "larger",
    "touch", "apart", "within",
}  # fmt: skip

TOUCH_GAP = 0.02
"""Boxes closer than this (share of the canvas's shorter side) count as touching (a held object and its holder)."""

APART_SHARE = 0.25
"""Boxes that must stay apart may share at most this much of the smaller box's area."""

WITHIN_SHARE = 0.8
"""A box "within" a stated part of the canvas ("top right": that quadrant) has at least this share of its
area there."""


def _gap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Distance between two boxes (0 when they touch or overlap)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return max(dx, dy)


def _overlap_area(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _shared(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """The intersection of two boxes as a share of the smaller one's area."""
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return _overlap_area(a, b) / smaller if smaller > 0 else 0.0


def _pixel_boxes(layout: Layout) -> dict[str, list[tuple[float, float, float, float]]]:
    """Boxes in pixels by the singular head noun of their phrase."""
    out: dict[str, list[tuple[float, float, float, float]]] = {}
    for region in layout.regions:
        head = head_of(region.label)
        if head and region.box is not None:
            x0, y0, x1, y1 = region.box
            out.setdefault(head, []).append(
                (x0 * layout.width, y0 * layout.height, x1 * layout.width, y1 * layout.height)
            )
    return out


def _token_problems(layout: Layout) -> list[Problem]:
    """Every region must cover at least one whole 16 x 16 token, or the sampler cannot steer it."""
    return [
        Problem("tokens", f'"{region.label}" covers no whole token')
        for region in layout.regions
        if region_coverage(region, layout.width, layout.height).max() < 0.99
    ]


def extra_problems(layout: Layout, extra: dict) -> list[Problem]:
    """Problems for the optional checks of a held-out case (see ``Case.extra``)."""
    problems: list[Problem] = []
    boxes = _pixel_boxes(layout)

    def each(heads: list[str]):
        for name in heads:
            for box in boxes.get(head_of(name) or name, []):
                yield name, box

    negative = (layout.negative_prompt or "").lower()
    problems += [Problem("negative", f'"{w}" missing from the negative prompt') for w in extra.get("negative", [])
                 if w.lower() not in negative]  # fmt: skip
    background = extra.get("background")
    if background and background.lower() not in (layout.background_prompt or "").lower():
        problems.append(
            Problem("background", f'background prompt {layout.background_prompt!r} lacks "{background}"')
        )
    phrases = {r.phrase for r in layout.regions}
    problems += [Problem("phrase", f'no region phrase is exactly "{p}"') for p in extra.get("exact_phrases", [])
                 if p not in phrases]  # fmt: skip
    for name, (x0, y0, x1, y1) in each(extra.get("tall", [])):
        if y1 - y0 <= x1 - x0:
            problems.append(Problem("shape", f'"{name}" should be taller than wide'))
    for name, (x0, y0, x1, y1) in each(extra.get("wide", [])):
        if x1 - x0 <= y1 - y0:
            problems.append(Problem("shape", f'"{name}" should be wider than tall'))
    for name, (_, y0, _, y1) in each(extra.get("top", [])):
        if (y0 + y1) / 2 > TOP_BAND * layout.height:
            problems.append(Problem("position", f'"{name}" should be in the upper part of the image'))
    for name, share in extra.get("min_height", {}).items():
        for _, (_, y0, _, y1) in each([name]):
            if y1 - y0 < share * layout.height:
                problems.append(Problem("size", f'"{name}" is shorter than {share:.0%} of the canvas'))
    for name, share in extra.get("min_width", {}).items():
        for _, (x0, _, x1, _) in each([name]):
            if x1 - x0 < share * layout.width:
                problems.append(Problem("size", f'"{name}" is narrower than {share:.0%} of the canvas'))
    short = min(layout.width, layout.height)
    for a, b in extra.get("touch", []):
        for _, box_a in each([a]):
            if all(_gap(box_a, box_b) > TOUCH_GAP * short for _, box_b in each([b])):
                problems.append(Problem("position", f'"{a}" should touch "{b}"'))
    for a, b in extra.get("apart", []):
        for _, box_a in each([a]):
            if any(_shared(box_a, box_b) > APART_SHARE for _, box_b in each([b])):
                problems.append(Problem("overlap", f'"{a}" and "{b}" should stay apart'))
    for name, where in extra.get("within", {}).items():
        for _, (x0, y0, x1, y1) in each([name]):
            box = (x0 / layout.width, y0 / layout.height, x1 / layout.width, y1 / layout.height)
            inside = _overlap_area(box, part_of_canvas(where)) / ((box[2] - box[0]) * (box[3] - box[1]))
            if inside < WITHIN_SHARE:
                problems.append(
                    Problem("position", f'"{name}" should lie in the {where} ({inside:.0%} does)')
                )
    for big, small in extra.get("larger", []):
        area = {
            n: max(((b[2] - b[0]) * (b[3] - b[1]) for _, b in each([n])), default=0.0) for n in (big, small)
        }
        if area[big] <= area[small]:
            problems.append(Problem("size", f'"{big}" should be larger than "{small}"'))
    return problems


def evaluate_layout(layout: Layout, case: Case) -> list[Problem]:
    """All problems of ``layout`` for ``case``: expectations, phrases, whole tokens and the optional checks."""
    problems = check(layout, case.expected)
    labels = [region.label.lower() for region in layout.regions]
    for phrase in case.phrases:
        if not any(phrase.lower() in label for label in labels):
            problems.append(Problem("attribute", f'no region phrase contains "{phrase}"'))
    return problems + _token_problems(layout) + extra_problems(layout, case.extra)


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
    parser.add_argument(
        "--prompts",
        type=Path,
        default=PROMPTS_PATH,
        help=f"JSONL of cases (held-out sets: {HELDOUT_PATH.name}, {FRESH_PATH.name})",
    )
    parser.add_argument("--verbose", action="store_true", help="print every failing prompt and why")
    args = parser.parse_args(argv)
    cases = load_cases(args.prompts)
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
                layout = plan_report(
                    case.prompt, case.width or args.width, case.height or args.height, backend, settings
                ).layout
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
    header = f"{'category':<14}" + "".join(f"{b:>18}" for b in results)
    print("\nshare of prompts passing every check\n" + header)
    for category in [*categories, "all"]:
        row = f"{category:<14}"
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
