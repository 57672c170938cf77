"""Write ``data/recorded_layouts.jsonl``: one correct layout per eval prompt, as a careful LLM would answer.

No LLM can be reached here, so the recordings are drawn, not asked for: for each case of the planner's eval
sets, boxes are sampled (seeded) until the layout passes every hand-written check of the case (counts,
relations, sides, phrases, the optional checks). Region phrases are written the way an LLM writes them,
from the case's expected names and attribute phrases ("a grey and white cat", "a stop sign"), never from the
offline parser's reading. Cases whose checks no sampled layout meets within the budget get no recording.

    python tests/planner/record_layouts.py    # rewrites the file; the replay tests read it
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from planner.eval import EVAL_SETS, Case, evaluate_layout, load_cases
from regional import Layout, Region

OUT = Path(__file__).with_name("data") / "recorded_layouts.jsonl"
TRIES = 4000


def region_phrases(case: Case) -> list[str]:
    """One phrase per object instance, as an LLM writes them: the case's exact phrases verbatim, its
    attribute phrases with an article, else the expected name with an article."""
    pool = list(case.extra.get("exact_phrases", [])) + [_article(p) for p in case.phrases]
    used: set[int] = set()
    out = []
    for name, count in case.expected.counts.items():
        for _ in range(count):
            match = next((i for i, p in enumerate(pool) if i not in used and _names(p, name)), None)
            if match is None:
                out.append(_article(name))
            else:
                used.add(match)
                out.append(pool[match])
    out += [
        p for i, p in enumerate(pool) if i not in used and not any(_names(p, n) for n in case.expected.counts)
    ]
    return out


def _names(phrase: str, name: str) -> bool:
    last, wanted = phrase.lower().split()[-1], name.split()[-1]
    return last in {wanted, wanted + "s", wanted + "es"} or phrase.lower().endswith(name)


def _article(words: str) -> str:
    if words.lower().startswith(("a ", "an ", "the ")):
        return words
    return ("an " if words[0] in "aeiou" else "a ") + words


def draw_layout(cases: list[Case], width: int, height: int, rng: random.Random) -> Layout | None:
    """A layout that passes the checks of every case (one prompt may be in several sets), or None within
    ``TRIES`` samples."""
    case = cases[0]
    phrases = region_phrases(case)
    for _ in range(TRIES):
        regions = []
        for phrase in phrases:
            w, h = rng.uniform(0.1, rng.choice((0.45, 0.95))), rng.uniform(0.1, 0.6)
            x, y = rng.uniform(0.0, 1.0 - w), rng.uniform(0.0, 1.0 - h)
            box = tuple(round(v, 3) for v in (x, y, x + w, y + h))
            regions.append(Region(phrase=phrase, prompt=f"{phrase}, {case.prompt}", box=box))
        try:
            layout = Layout(
                width=width,
                height=height,
                base_prompt=case.prompt,
                background_prompt=case.extra.get("background"),
                negative_prompt=", ".join(case.extra.get("negative", [])) or None,
                regions=regions,
                planner="openai",
            )
        except ValueError:  # a box smaller than a token on a small canvas
            continue
        if not any(evaluate_layout(layout, c) for c in cases):
            return layout
    return None


def main() -> int:
    rng = random.Random(0)
    by_prompt: dict[tuple[str, int, int], list[tuple[str, Case]]] = {}
    for path in EVAL_SETS.values():
        for case in load_cases(path):
            if region_phrases(case):  # a case that names no object to place has nothing to record
                key = (case.prompt, case.width or 1024, case.height or 1024)
                by_prompt.setdefault(key, []).append((path.name, case))
    written = missed = 0
    with OUT.open("w", encoding="utf-8") as out:
        for (prompt, width, height), found in by_prompt.items():
            layout = draw_layout([case for _, case in found], width, height, rng)
            if layout is None:
                missed += 1
                print(f"no layout found for {prompt!r}", file=sys.stderr)
                continue
            data = layout.model_dump(mode="json", exclude={"planner"})
            sets = sorted({name for name, _ in found})
            out.write(
                json.dumps({"sets": sets, "prompt": prompt, "width": width, "height": height, "layout": data})
            )
            out.write("\n")
            written += 1
    print(f"{written} layouts recorded, {missed} prompts without one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
