"""Builds ``dev.jsonl`` and ``test.jsonl``: planner evaluation cases from public prompt collections.

Run from the repository root: ``.venv/bin/python planner/eval_public/build.py``. Deterministic; see SOURCES.md.

* GenEval (``sources/geneval/evaluation_metadata.jsonl``) and T2I-CompBench's templated spatial prompts
  (``sources/t2i_compbench/spatial_val.txt``) are converted here from their own metadata / template.
* Visual Spatial Reasoning (VSR) captions ("The cat is beneath the bed.") are converted from their recorded
  relation, from the selection stored in ``sources/vsr/selected.jsonl``; ``--vsr <all_vsr_validated_data.jsonl>``
  makes that selection again from VSR's own file.
* T2I-CompBench numeracy and complex prompts and the caption-style prompts (COCO captions from TIFA v1.0 and
  from SugarCrepe, PartiPrompts) are annotated by hand in ``annotations/*.jsonl``; this script checks the
  CompBench ones against the stored source lines and passes them through.

Prompts already in the project's own evaluation files are left out. Within each category the cases are
ordered by the SHA-1 of their prompt and dealt alternately to dev and test, so each category splits evenly
(the split depends on the whole set: a later version with more cases is a new split, not an extension).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SOURCES = HERE / "sources"
ANNOTATIONS = HERE / "annotations"
PROJECT_SETS = [
    ROOT / "planner" / n for n in ("eval_prompts.jsonl", "eval_heldout.jsonl", "eval_fresh.jsonl")
]

PER_CATEGORY = 60
"""At most this many cases are sampled (every k-th, in file order) from each templated source category."""
COMPBENCH_SPATIAL_STEP = 7
"""Every 7th line of spatial_val.txt (43 prompts); the hand-annotated complex_val.txt picks join them."""

KINDS = {"left", "right", "above", "below", "on", "under", "front", "behind", "between", "next", "in", "hold"}

GENEVAL_CATEGORY = {
    "counting": "geneval_counting",
    "position": "geneval_position",
    "colors": "geneval_color",
    "color_attr": "geneval_color",
    "two_object": "geneval_two_object",
}  # single_object is left out: one object, nothing to check beyond it
GENEVAL_POSITION = {"left of": "left", "right of": "right", "above": "above", "below": "below"}

COMPBENCH_SPATIAL = re.compile(
    r"^an? (?P<subject>.+?) (?P<rel>on the left of|on the right of|on the top of|on the bottom of|"
    r"next to|near|on side of) an? (?P<target>.+)$"
)
COMPBENCH_KIND = {
    "on the left of": "left",
    "on the right of": "right",
    "on the top of": "on",
    "on the bottom of": "below",
    "next to": "next",
    "near": "next",
    "on side of": "next",
}


VSR_KIND = {
    "left of": "left",
    "at the left side of": "left",
    "right of": "right",
    "at the right side of": "right",
    "above": "above",
    "over": "above",
    "below": "below",
    "under": "under",
    "beneath": "under",
    "on": "on",
    "on top of": "on",
    "in front of": "front",
    "behind": "behind",
    "at the back of": "behind",
    "next to": "next",
    "beside": "next",
    "near": "next",
    "close to": "next",
    "adjacent to": "next",
    "by": "next",
    "at the side of": "next",
    "alongside": "next",
    "in": "in",
    "inside": "in",
    "within": "in",
    "into": "in",
    "contains": "in",  # "The X contains the Y": Y in X
}
"""VSR relations a layout can show, as the relation kinds of the checker."""
VSR_OTHER = (
    "touching", "facing", "far away from", "at the edge of", "facing away from", "away from", "far from",
    "across from", "in the middle of", "parallel to", "surrounding", "attached to", "against", "connected to",
    "toward", "ahead of", "opposite to", "outside", "beyond",
)  # fmt: skip
"""VSR relations the checker has no geometry for: cases that check that both objects are drawn, once each."""
VSR_PER_RELATION = {**dict.fromkeys(VSR_KIND, 6), **dict.fromkeys(VSR_OTHER, 3)}


def norm(prompt: str) -> str:
    return re.sub(r"\s+", " ", prompt.lower().strip().rstrip(".").strip())


def every_kth(rows: list, limit: int = PER_CATEGORY) -> list:
    return rows[:: max(1, math.ceil(len(rows) / limit))]


def geneval(seen: set[str]) -> list[dict]:
    path = SOURCES / "geneval" / "evaluation_metadata.jsonl"
    by_category: dict[str, list[tuple[int, dict]]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        category = GENEVAL_CATEGORY.get(row["tag"])
        if category and norm(row["prompt"]) not in seen:
            by_category.setdefault(category, []).append((number, row))
    cases = []
    for category, rows in by_category.items():
        for number, row in every_kth(rows):
            include = row["include"]
            case: dict = {"category": category, "prompt": row["prompt"]}
            case["counts"] = {item["class"]: item["count"] for item in include}
            relations = [
                [item["class"], GENEVAL_POSITION[item["position"][0]], include[item["position"][1]]["class"]]
                for item in include
                if "position" in item
            ]
            if relations:
                case["relations"] = relations
            phrases = [f"{item['color']} {item['class']}" for item in include if "color" in item]
            if phrases:
                assert all(p in row["prompt"] for p in phrases), row
                case["phrases"] = phrases
            case["source"] = f"GenEval prompts/evaluation_metadata.jsonl line {number} ({row['tag']})"
            cases.append(case)
    return cases


def compbench_spatial(seen: set[str]) -> list[dict]:
    lines = (SOURCES / "t2i_compbench" / "spatial_val.txt").read_text(encoding="utf-8").splitlines()
    rows = [(n, p.strip()) for n, p in enumerate(lines, start=1) if p.strip() and norm(p) not in seen]
    cases = []
    for number, prompt in rows[::COMPBENCH_SPATIAL_STEP]:
        match = COMPBENCH_SPATIAL.match(prompt)
        assert match, f"spatial_val.txt line {number} does not fit the template: {prompt!r}"
        subject, target = match["subject"], match["target"]
        counts = {subject: 1, target: 1} if subject != target else {subject: 2}
        case = {"category": "compbench_spatial", "prompt": prompt, "counts": counts}
        if subject != target:
            case["relations"] = [[subject, COMPBENCH_KIND[match["rel"]], target]]
        case["source"] = f"T2I-CompBench examples/dataset/spatial_val.txt line {number}"
        cases.append(case)
    return cases


def vsr_caption(row: dict) -> tuple[str, str] | None:
    """(subject, target) of a VSR caption, or None where it does not read "The X is <relation> the Y"."""
    relation = re.escape(row["relation"])
    match = re.match(rf"^The (.+?) (?:is |are )?{relation} the (.+?)\.?$", row["caption"].strip())
    return (match[1], match[2]) if match else None


def vsr_select(path: Path) -> list[dict]:
    """From VSR's ``all_vsr_validated_data.jsonl``: captions validated as true of their image (a scene someone
    photographed), of the relations above, read as "The X is <relation> the Y" with two objects the checker
    tells apart; per relation the first ``VSR_PER_RELATION`` distinct captions by SHA-1. Rows keep VSR's
    fields, plus their line in that file."""
    from planner.repair import head_of

    by_relation: dict[str, dict[str, dict]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        objects = vsr_caption(row) if row["label"] == 1 and row["relation"] in VSR_PER_RELATION else None
        if (
            objects is None
            or head_of(objects[0]) in (None, head_of(objects[1]))
            or head_of(objects[1]) is None
        ):
            continue
        by_relation.setdefault(row["relation"], {}).setdefault(norm(row["caption"]), {"line": number, **row})
    selected = []
    for relation, quota in VSR_PER_RELATION.items():
        rows = sorted(by_relation.get(relation, {}).values(), key=lambda r: _sha1(r["caption"]))
        selected += sorted(rows[:quota], key=lambda r: r["line"])
    return selected


def vsr(seen: set[str]) -> list[dict]:
    cases = []
    for line in (SOURCES / "vsr" / "selected.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        prompt = row["caption"].strip()
        if norm(prompt) in seen:
            continue
        subject, target = vsr_caption(row)
        case: dict = {"prompt": prompt, "counts": {subject: 1, target: 1}}
        kind = VSR_KIND.get(row["relation"])
        if kind is None:
            case = {"category": "vsr_other", **case}
        else:
            relation = [target, kind, subject] if row["relation"] == "contains" else [subject, kind, target]
            case = {"category": "vsr_spatial", **case, "relations": [relation]}
        case["source"] = (
            f"VSR data/data_files/all_vsr_validated_data.jsonl line {row['line']} ({row['relation']})"
        )
        cases.append(case)
    return cases


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def annotated(name: str, seen: set[str]) -> list[dict]:
    cases = []
    for line in (ANNOTATIONS / name).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        match = re.match(r"T2I-CompBench examples/dataset/(\w+\.txt) line (\d+)$", case["source"])
        if match:
            source = (SOURCES / "t2i_compbench" / match[1]).read_text(encoding="utf-8").splitlines()
            assert source[int(match[2]) - 1].strip() == case["prompt"], case
        if norm(case["prompt"]) not in seen:
            cases.append(case)
    return cases


def check_case(case: dict) -> list[str]:
    """Format problems, and objects the project's checker could not tell apart or could not match."""
    problems = []
    for relation in case.get("relations", []):
        if relation[1] not in KINDS or len(relation) != (4 if relation[1] == "between" else 3):
            problems.append(f"bad relation {relation}")
    if not all(isinstance(n, int) and n > 0 for n in case.get("counts", {}).values()):
        problems.append("counts must be positive integers")
    try:
        from planner.repair import head_of
    except ImportError:  # planner's dependencies missing: format checks only
        return problems
    heads = Counter(head_of(noun) for noun in case.get("counts", {}))
    problems += [f'two counted objects share the head "{h}"' for h, n in heads.items() if h and n > 1]
    problems += [f'"{noun}" has no head noun' for noun in case.get("counts", {}) if head_of(noun) is None]
    return problems


def main() -> int:
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:2] == ["--vsr"]:
        rows = vsr_select(Path(sys.argv[2]))
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (SOURCES / "vsr" / "selected.jsonl").write_text(text, encoding="utf-8")
        print(f"{len(rows)} VSR captions selected")
    seen = {
        norm(json.loads(line)["prompt"])
        for path in PROJECT_SETS
        if path.exists()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    cases = geneval(seen) + compbench_spatial(seen) + vsr(seen)
    annotation_files = ("compbench_complex", "compbench_numeracy", "captions", "sugarcrepe", "sugarcrepe_obj")
    for name in (f"{stem}.jsonl" for stem in annotation_files):
        cases += annotated(name, seen)
    prompts = Counter(norm(c["prompt"]) for c in cases)
    assert all(n == 1 for n in prompts.values()), [p for p, n in prompts.items() if n > 1]
    failed = False
    for case in cases:
        for problem in check_case(case):
            print(f"{case['prompt']!r}: {problem}", file=sys.stderr)
            failed = True
    splits: dict[str, list[dict]] = {"dev": [], "test": []}
    order = {id(c): i for i, c in enumerate(cases)}
    for category in sorted({c["category"] for c in cases}):
        members = [c for c in cases if c["category"] == category]
        members.sort(key=lambda c: _sha1(c["prompt"]))
        splits["dev"] += members[0::2]
        splits["test"] += members[1::2]
    for split, rows in splits.items():
        rows.sort(key=lambda c: (c["category"], order[id(c)]))  # source order within a category
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (HERE / f"{split}.jsonl").write_text(text, encoding="utf-8")
    counts = {split: Counter(c["category"] for c in rows) for split, rows in splits.items()}
    print(f"{'category':<20}{'dev':>6}{'test':>6}")
    for category in sorted(counts["dev"] | counts["test"]):
        print(f"{category:<20}{counts['dev'][category]:>6}{counts['test'][category]:>6}")
    print(f"{'all':<20}{len(splits['dev']):>6}{len(splits['test']):>6}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
