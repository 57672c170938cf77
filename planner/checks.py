"""Automatic checks of a layout against what a prompt asks for: counts, exclusions, relations, overlap.

Used twice: by the planner, to reject an LLM's layout and feed the problems back; and by ``planner.eval``,
with expectations written by hand. Regions are matched to objects by their phrase's singular head noun.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from planner.repair import head_of, iou
from planner.scene import Scene
from regional import Layout

HEAVY_OVERLAP_IOU = 0.3
"""Two boxes with at least this IoU overlap heavily."""

OVERLAP_ALLOWED = {"on", "front", "behind", "with", "in", "hold"}
"""Relations that imply overlapping boxes ("a cat on a sofa")."""

HALVES = {"left": (0.0, 0.0, 0.5, 1.0), "right": (0.5, 0.0, 1.0, 1.0), "top": (0.0, 0.0, 1.0, 0.5),
          "bottom": (0.0, 0.5, 1.0, 1.0)}  # fmt: skip
"""Absolute positions as normalised boxes: "left" is the canvas's left half."""


@dataclass
class Expectation:
    """What a layout must satisfy. Heads are singular nouns; relations are (subject, kind, target[, target2])."""

    counts: dict[str, int] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)
    relations: list[tuple[str, ...]] = field(default_factory=list)
    minimum: dict[str, int] = field(default_factory=dict)
    """Head -> fewest regions: a stated number may leave room for more mentions ("two zebras close to a
    little one")."""
    present: set[str] = field(default_factory=set)
    """Heads of objects surely named: a layout with no region at all for them is empty."""
    sides: dict[str, set[str]] = field(default_factory=dict)
    """Head -> the halves of the canvas its boxes' centres lie in ("top", "left": the top-left quadrant)."""

    @classmethod
    def from_dict(cls, data: dict) -> Expectation:
        return cls(
            counts={_head(k): int(v) for k, v in data.get("counts", {}).items()},
            absent={_head(a) for a in data.get("absent", [])},
            relations=[(_head(r[0]), r[1], *(_head(t) for t in r[2:])) for r in data.get("relations", [])],
            sides={_head(k): set(v.split()) for k, v in data.get("sides", {}).items()},
        )


@dataclass
class Problem:
    category: str
    message: str


def _head(noun: str) -> str:
    return head_of(noun) or noun


SURE_RELATIONS = {"left", "right", "above", "below", "between"}
"""Relations whose geometry is unambiguous on a flat canvas; "on", "in front of", "with" are drawn many ways."""


def expectations_from_scene(scene: Scene) -> tuple[Expectation, Expectation]:
    """What the offline parse says a layout must satisfy, split by confidence: ``(sure, likely)``.

    Sure: at least as many instances as a number word states, exclusions, relations stated by a spatial preposition between
    two objects the parse is sure of, and stated sides of such objects. An LLM's layout is rejected only for
    these. Likely: everything else the parse read (counts from an article, other relations); a layout that
    misses them gets them as advice, since the parse may have misread the prompt.
    """
    counts: Counter[str] = Counter()
    uncertain: set[str] = set()
    sure_heads: set[str] = set()
    numbered: set[str] = set()
    for obj in scene.objects:
        counts[obj.head] += obj.count
        if not obj.counted:
            uncertain.add(obj.head)
    for obj in scene.objects:  # "two elephants with a baby elephant": the number is not the total
        if all(o.numbered for o in scene.objects if o.head == obj.head):
            numbered.add(obj.head)
    for obj in scene.objects:
        if obj.sure and all(o.sure for o in scene.objects if o.head == obj.head):
            sure_heads.add(obj.head)
    loose = {obj.head for obj in scene.objects if obj.loose_positions}
    counted = {h: n for h, n in counts.items() if h not in uncertain}
    sure_relations, likely_relations = [], []
    for r in scene.relations:
        members = [r.subject, r.target, *([r.target2] if r.target2 is not None else [])]
        heads = [scene.objects[i].head for i in members]
        if len(set(heads)) != len(heads):
            continue  # "a cat left of a cat": heads cannot tell the boxes apart
        relation = (heads[0], r.kind, *heads[1:])
        sure = r.explicit and r.kind in SURE_RELATIONS and set(heads) <= sure_heads
        (sure_relations if sure else likely_relations).append(relation)
    sides = _stated_sides(scene)
    sure = Expectation(
        minimum={h: n for h, n in counted.items() if h in numbered and h in sure_heads},
        absent=set(scene.negative_heads) - set(counts),
        relations=sure_relations,
        sides={h: s for h, s in sides.items() if h in sure_heads and h not in loose},
        present={h for h in sure_heads if h in counted},
    )
    likely = Expectation(
        counts=counted,
        relations=likely_relations,
        sides={h: s for h, s in sides.items() if h not in sure.sides},
    )
    return sure, likely


def _stated_sides(scene: Scene) -> dict[str, set[str]]:
    """Head -> its stated sides, for heads whose every object states the same ones, without contradiction
    ("a cat on the left and a cat on the right" says nothing about "cat" as a whole)."""
    by_head: dict[str, list[set[str]]] = {}
    for obj in scene.objects:
        by_head.setdefault(obj.head, []).append(obj.positions & set(HALVES))
    return {
        head: sides[0]
        for head, sides in by_head.items()
        if sides[0] and all(s == sides[0] for s in sides) and not {"left", "right"} <= sides[0]
        and not {"top", "bottom"} <= sides[0]
    }  # fmt: skip


def part_of_canvas(where: str) -> tuple[float, float, float, float]:
    """The normalised box of a position such as "top right" (that quadrant) or "left" (that half)."""
    x0, y0, x1, y1 = 0.0, 0.0, 1.0, 1.0
    for word in where.split():
        a = HALVES[word]
        x0, y0, x1, y1 = max(x0, a[0]), max(y0, a[1]), min(x1, a[2]), min(y1, a[3])
    return x0, y0, x1, y1


def side_holds(side: str, box: tuple[float, float, float, float]) -> bool:
    """Whether ``box``'s centre lies inside the ``side`` half of the canvas (not on the middle line)."""
    (x, y), (x0, y0, x1, y1) = _centre(box), HALVES[side]
    return x0 < x < x1 and y0 < y < y1


def _centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def relation_holds(
    kind: str, s: tuple[float, ...], t: tuple[float, ...], t2: tuple[float, ...] | None = None
) -> bool:
    """Whether box ``s`` stands in relation ``kind`` to box ``t`` (centres; "front" by bottom edges)."""
    (sx, sy), (tx, ty) = _centre(s), _centre(t)
    if kind == "left":
        return sx < tx
    if kind == "right":
        return sx > tx
    if kind in {"above", "on"}:
        return sy < ty
    if kind in {"below", "under"}:
        return sy > ty
    if kind == "front":
        return s[3] > t[3] or sy > ty
    if kind == "behind":
        return s[3] < t[3] or sy < ty
    if kind == "between" and t2 is not None:
        ux, _ = _centre(t2)
        return min(tx, ux) < sx < max(tx, ux)
    return True


def _names(expected: Expectation) -> set[str]:
    names = set(expected.counts) | set(expected.minimum) | set(expected.sides)
    for relation in expected.relations:
        names |= {relation[0], *relation[2:]}
    return names


def _boxes_named(name: str, boxes: dict[str, list[tuple[float, ...]]]) -> list[tuple[float, ...]]:
    """Boxes of regions whose head is ``name`` or ends the same way in one word ("stop sign" and "sign":
    a parse that missed a compound, or a model that shortened it, still names the same object)."""
    if name in boxes:
        return boxes[name]
    words = name.split()
    return [
        box
        for head, found in boxes.items()
        for box in found
        if len(head.split()) != len(words) and head.split()[-1] == words[-1]
    ]


def check(layout: Layout, expected: Expectation) -> list[Problem]:
    """Every way ``layout`` falls short of ``expected``; empty when it satisfies all of it."""
    problems: list[Problem] = []
    boxes: dict[str, list[tuple[float, ...]]] = {}
    for region in layout.regions:
        head = head_of(region.label)
        if head and region.box is not None:
            boxes.setdefault(head, []).append(region.box)
    if not layout.regions and expected.present:
        problems.append(
            Problem(
                "empty", f"the layout has no regions; the prompt names {', '.join(sorted(expected.present))}"
            )
        )
    boxes = {name: _boxes_named(name, boxes) for name in _names(expected)} | boxes
    for head, n in expected.counts.items():
        got = len(boxes.get(head, []))
        if got != n:
            problems.append(
                Problem("count", f"the prompt asks for {n} {head} region(s), the layout has {got}")
            )
    for head, n in expected.minimum.items():
        got = len(boxes.get(head, []))
        if got < n:
            problems.append(
                Problem("count", f"the prompt asks for {n} {head} region(s), the layout has {got}")
            )
    for head in expected.absent:
        if head in boxes:
            problems.append(Problem("negation", f'the prompt excludes "{head}" but a region shows it'))
    allowed: set[frozenset[str]] = set()
    for subject, kind, *targets in expected.relations:
        if kind in OVERLAP_ALLOWED:
            allowed |= {frozenset((subject, t)) for t in targets}
        if subject not in boxes or any(t not in boxes for t in targets):
            continue  # the count check reports missing objects
        t2 = boxes[targets[1]] if len(targets) > 1 else [None]
        ok = all(relation_holds(kind, s, t, u) for s in boxes[subject] for t in boxes[targets[0]] for u in t2)
        if not ok:
            problems.append(Problem("relation", f'"{subject}" must be {kind} "{targets[0]}" (box centres)'))
    for head, sides in expected.sides.items():
        wrong = sorted(
            side for side in sides if not all(side_holds(side, box) for box in boxes.get(head, []))
        )
        if wrong:
            problems.append(Problem("position", f'"{head}" must be at the {" ".join(wrong)} (box centres)'))
    regions = [(head_of(r.label), r.box) for r in layout.regions if r.box is not None]
    for i, (a, box_a) in enumerate(regions):
        for b, box_b in regions[i + 1 :]:
            if frozenset((a, b)) not in allowed and iou(box_a, box_b) >= HEAVY_OVERLAP_IOU:
                problems.append(Problem("overlap", f'"{a}" and "{b}" overlap heavily'))
    return problems
