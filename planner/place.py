"""Place boxes for a ``Scene``: sizes from object kinds, relations as columns and layers, no heavy overlap.

Model: objects linked by a vertical relation (on, above, below, in front of, behind) share a *column*; inside
a column they sit in *layers* from top to bottom, several objects of one layer side by side. Columns are
ordered left to right by the horizontal relations (left of, right of, between) and absolute positions, then
spread over the canvas. Sizes are worked out in units of the canvas's shorter side (so a person stays
tall and narrow on any aspect ratio) and converted to normalised coordinates at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from planner.lexicon import DEFAULT_SHAPE, OBJECT_SHAPES, RIDDEN, SUPPORTS, Shape
from planner.parse import Relation, Scene

GAP = 0.035
"""Gap between neighbouring boxes, in units of the shorter canvas side."""

MARGIN = 0.03
"""Distance kept from the canvas edges, normalised."""

GROUND = 0.94
"""Where grounded columns stand (bottom edge, normalised y)."""

SEATED = {
    "sofa",
    "couch",
    "bench",
    "bed",
    "chair",
    "armchair",
    "stool",
    "throne",
    "horse",
    "cushion",
    "pillow",
}
"""Supports that objects sink into ("a cat on a sofa"): deeper overlap than a table top."""

DEPTH_STEP = 0.6
"""Rows of a crowd standing on the ground: each row sits this share of a box height above the one in front."""

DEPTH_RAISE = 0.3
"""A crowded ground scene gets a back row of columns, raised by this share of their height."""

VERTICAL = {"on", "above", "below", "front", "behind"}
HORIZONTAL = {"left", "right", "between", "next"}

Box = tuple[float, float, float, float]


@dataclass
class _Entity:
    """One noun phrase: ``count`` instances arranged in a small grid."""

    index: int
    shape: Shape
    count: int
    size: float
    positions: set[str]
    room: tuple[float, float] = (1.0, 1.0)
    """The canvas's usable width and height in shorter-side units (to choose a crowd's rows)."""
    scale: float = 1.0
    boxes: list[Box] = field(default_factory=list)

    @property
    def in_depth(self) -> bool:
        """Whether the instances stand on the ground in rows one behind the other (a herd, a crowd)."""
        return self.shape.zone == "ground" and self.count >= 3

    @property
    def cell(self) -> tuple[float, float]:
        height = self.shape.height * self.size * self.scale
        return self.shape.aspect * height, height

    @property
    def grid(self) -> tuple[int, int]:
        if self.in_depth:
            rows = _crowd_rows(self.count, self.shape.aspect, self.room)
        else:
            rows = 1 if self.count <= 4 else 2 if self.count <= 8 else 3
        cols = math.ceil(self.count / rows)
        return cols, math.ceil(self.count / cols)

    @property
    def row_step(self) -> float:
        """Vertical distance between the tops of neighbouring rows, in shorter-side units."""
        h = self.cell[1]
        return h * DEPTH_STEP if self.in_depth else h + GAP * min(1.0, h * 3) * 0.5

    @property
    def extent(self) -> tuple[float, float]:
        (w, h), (cols, rows) = self.cell, self.grid
        gap = GAP * min(1.0, h * 3)
        stagger = w / 2 if self.in_depth and rows > 1 else 0.0
        return cols * w + (cols - 1) * gap + stagger, h + (rows - 1) * self.row_step


def _crowd_rows(count: int, aspect: float, room: tuple[float, float]) -> int:
    """How many depth rows make the largest boxes for ``count`` objects of ``aspect`` in ``room``."""

    def height_for(rows: int) -> float:
        cols = math.ceil(count / rows)
        width_units = cols * aspect + (cols - 1) * GAP + (aspect / 2 if rows > 1 else 0.0)
        return min(room[0] / width_units, room[1] / (1 + (rows - 1) * DEPTH_STEP))

    best = 1
    for rows in range(2, min(3, count) + 1):
        if height_for(rows) > 1.1 * height_for(best):
            best = rows
    return best


def shape_of(head: str) -> Shape:
    return OBJECT_SHAPES.get(head, DEFAULT_SHAPE)


def _components(count: int, links: list[tuple[int, int]]) -> list[int]:
    parent = list(range(count))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in links:
        parent[find(a)] = find(b)
    return [find(i) for i in range(count)]


def _toposort(nodes: list[int], edges: set[tuple[int, int]], key: dict[int, tuple]) -> list[int]:
    """Order ``nodes`` so that every (a, b) edge puts a first where possible; ties and cycles by ``key``."""
    remaining = list(nodes)
    order: list[int] = []
    while remaining:
        free = [n for n in remaining if not any((m, n) in edges for m in remaining if m != n)]
        pick = min(free or remaining, key=lambda n: key[n])
        order.append(pick)
        remaining.remove(pick)
    return order


def _vertical_edges(relations: list[Relation]) -> tuple[list[tuple[int, int, str]], set[tuple[int, int]]]:
    """(upper, lower, kind) pairs for vertical relations, and (left, right) pairs for horizontal ones."""
    vertical: list[tuple[int, int, str]] = []
    horizontal: set[tuple[int, int]] = set()
    for r in relations:
        if r.kind in {"on", "above"}:
            vertical.append((r.subject, r.target, r.kind))
        elif r.kind == "below":
            vertical.append((r.target, r.subject, "above"))
        elif r.kind == "front":
            vertical.append((r.target, r.subject, "front"))
        elif r.kind == "behind":
            vertical.append((r.subject, r.target, "front"))
        elif r.kind == "left":
            horizontal.add((r.subject, r.target))
        elif r.kind == "right":
            horizontal.add((r.target, r.subject))
        elif r.kind == "between" and r.target2 is not None:
            horizontal |= {(r.target, r.subject), (r.subject, r.target2)}
    return vertical, horizontal


def _resolve_with(scene: Scene) -> list[Relation]:
    """ "a table with three cups": cups on the table; "a man with a dog": side by side. Drop duplicates."""
    out: list[Relation] = []
    seen: set[tuple[int, int]] = set()
    for r in sorted(scene.relations, key=lambda r: r.kind == "with"):
        pair = (min(r.subject, r.target), max(r.subject, r.target))
        if pair in seen and r.kind != "between":
            continue
        seen.add(pair)
        if r.kind == "with":
            kind = "on" if scene.objects[r.target].head in SUPPORTS else "next"
            out.append(Relation(r.subject, kind, r.target))
        else:
            out.append(r)
    return out


def _spread(widths: list[float], targets: list[float | None]) -> list[float]:
    """Left edges for columns in order: even spacing, pulled towards absolute targets, kept apart."""
    total = sum(widths)
    free = max(0.0, 1.0 - 2 * MARGIN - total)
    gap = free / (len(widths) + 1)
    lefts, x = [], MARGIN + gap
    for w in widths:
        lefts.append(x)
        x += w + gap
    min_gap = min(gap, 0.02)
    for i, target in enumerate(targets):
        if target is not None:
            lefts[i] = target - widths[i] / 2
    for i in range(len(lefts)):  # push right, then left, then clamp
        floor = MARGIN if i == 0 else lefts[i - 1] + widths[i - 1] + min_gap
        lefts[i] = max(lefts[i], floor)
    for i in reversed(range(len(lefts))):
        ceiling = 1.0 - MARGIN - widths[i] if i == len(lefts) - 1 else lefts[i + 1] - min_gap - widths[i]
        lefts[i] = min(lefts[i], ceiling)
    return [max(0.0, x) for x in lefts]


def place(scene: Scene, width: int, height: int) -> list[list[Box]]:
    """Boxes for every instance of every object of ``scene``, in object order (normalised [x0, y0, x1, y1])."""
    objects = scene.objects
    if not objects:
        return []
    short = min(width, height)
    sx, sy = short / width, short / height
    room = ((1 - 2 * MARGIN) / sx, 0.9 / sy)
    entities = [
        _Entity(i, shape_of(o.head), o.count, o.size, set(o.positions), room) for i, o in enumerate(objects)
    ]
    for entity in entities:
        if "background" in entity.positions:
            entity.scale *= 0.6
        if "foreground" in entity.positions:
            entity.scale *= 1.15
    relations = _resolve_with(scene)
    vertical, horizontal = _vertical_edges(relations)
    for upper, _lower, kind in vertical:
        if kind == "front":  # the one behind looks smaller
            entities[upper].scale *= 0.85
    # 1. Columns: objects joined by vertical relations.
    roots = _components(len(entities), [(a, b) for a, b, _ in vertical])
    columns: dict[int, list[int]] = {}
    for i, root in enumerate(roots):
        columns.setdefault(root, []).append(i)
    # 2. Layers inside each column, top to bottom.
    layer_of: dict[int, int] = {}
    for members in columns.values():
        edges = {(a, b) for a, b, _ in vertical if a in members}
        order = _toposort(members, edges, {m: (m,) for m in members})
        for m in order:
            above = [layer_of[a] for a, b in edges if b == m and a in layer_of]
            layer_of[m] = max(above) + 1 if above else 0
    kinds = {(a, b): k for a, b, k in vertical}
    # 3. Sizes: supports at least as wide as what they carry.
    for b in sorted({b for (_, b), kind in kinds.items() if kind == "on"}):
        loads = [x for (x, y), kind in kinds.items() if y == b and kind == "on"]
        load = sum(entities[x].extent[0] + GAP for x in loads) - GAP
        if load > entities[b].extent[0] * 0.9:
            entities[b].scale *= min(2.0, load / (entities[b].extent[0] * 0.9))
            room = entities[b].extent[0] * 0.9
            if load > room:
                for x in loads:
                    entities[x].scale *= room / load
    _size_riders(entities, kinds, scene)
    # 4. Column extents in shorter-side units.
    column_list = sorted(columns.values(), key=lambda ms: min(ms))
    col_layers: list[list[list[int]]] = []
    for members in column_list:
        depth = max(layer_of[m] for m in members) + 1
        layers = [[m for m in members if layer_of[m] == d] for d in range(depth)]
        col_layers.append([layer for layer in layers if layer])

    def overlap_between(upper: list[int], lower: list[int]) -> float:
        """How far the upper layer sinks into the lower one, in shorter-side units (negative: a gap)."""
        best = -GAP
        for a in upper:
            for b in lower:
                kind = kinds.get((a, b))
                low_h = entities[b].extent[1]
                if kind == "on" and objects[b].head in RIDDEN:
                    best = max(best, entities[b].cell[1] * RIDDEN[objects[b].head][1])
                elif kind == "on":
                    best = max(best, low_h * (0.5 if objects[b].head in SEATED else 0.1))
                elif kind == "front":
                    best = max(best, min(low_h, entities[a].extent[1]) * 0.45)
        return best

    def measure(layers: list[list[int]]) -> tuple[float, float, list[float]]:
        widths = [sum(entities[m].extent[0] for m in layer) + GAP * (len(layer) - 1) for layer in layers]
        tops, y = [], 0.0
        for d, layer in enumerate(layers):
            if d:
                y -= overlap_between(layers[d - 1], layer)
            tops.append(y)
            y += max(entities[m].extent[1] for m in layer)
        return max(widths), y, tops

    measures = [measure(layers) for layers in col_layers]
    # 5. Horizontal order of columns: relations first, then absolute sides.
    column_of = {m: c for c, layers in enumerate(col_layers) for layer in layers for m in layer}
    col_edges = {(column_of[a], column_of[b]) for a, b in horizontal if column_of[a] != column_of[b]}

    def positions_of(c: int) -> set[str]:
        return set().union(*(entities[m].positions for layer in col_layers[c] for m in layer))

    def side(c: int) -> float:
        pos = positions_of(c)
        return -1.0 if "left" in pos else 1.0 if "right" in pos else 0.0

    order = _toposort(list(range(len(col_layers))), col_edges, {c: (c,) for c in range(len(col_layers))})
    if not col_edges and any(side(c) for c in order):
        rank = {c: i for i, c in enumerate(order)}
        order = sorted(order, key=lambda c: (side(c), rank[c]))
    # 6. Fit: shrink everything to the canvas, or grow a sparse scene so its objects are not lost. Grounded
    # columns that would come out small side by side get two depth rows instead, as a person draws a street.
    side_by_side = any(r.kind in HORIZONTAL for r in relations)  # "next to", "left of": keep one row
    back = set() if side_by_side else _back_row(order, col_layers, entities, measures, sx, sy)
    rows = [[c for c in order if c not in back], [c for c in order if c in back]]

    def row_width(row: list[int]) -> float:
        return (sum(measures[c][0] for c in row) + GAP * (len(row) - 1)) * sx

    total_w = max(row_width(row) for row in rows if row)
    max_h = max(measures[c][1] * (1 + DEPTH_RAISE * (c in back)) for c in order) * sy
    fit = min((1 - 2 * MARGIN) / total_w, 0.9 / max_h)
    fill = max(total_w, max_h)
    anchored = any(e.positions & {"left", "right", "top", "bottom"} for e in entities)
    factor = fit if fit < 1 else min(fit, max(1.0, (0.4 if anchored else 0.6) / fill))
    if factor != 1.0:
        for entity in entities:
            entity.scale *= factor
        measures = [measure(layers) for layers in col_layers]
    # 7. Column positions, row by row.
    anchors = {-1.0: 0.25, 1.0: 0.75}

    def target(c: int) -> float | None:
        if side(c):
            return anchors[side(c)]
        return 0.5 if "center" in positions_of(c) and len(order) == 1 else None

    front, back_row = rows
    left_of = dict(
        zip(front, _spread([measures[c][0] * sx for c in front], [target(c) for c in front]), strict=True)
    )
    if back_row:  # the back row stands in the gaps of the front row
        centres = [left_of[c] + measures[c][0] * sx / 2 for c in front]
        slots = _gap_slots(centres, len(back_row))
        left_of |= dict(zip(back_row, _spread([measures[c][0] * sx for c in back_row], slots), strict=True))
    # 8. Vertical anchoring of each column, then boxes for every instance.
    grounded = any(e.shape.zone == "ground" for e in entities)
    for c in order:
        left = left_of[c]
        layers = col_layers[c]
        col_w, col_h, tops = measures[c]
        members = [m for layer in layers for m in layer]
        pos = set().union(*(entities[m].positions for m in members))
        zones = {entities[m].shape.zone for m in layers[-1]}
        h_norm = col_h * sy
        if "top" in pos:
            top = MARGIN + 0.02
        elif "bottom" in pos:
            top = 1 - MARGIN - h_norm
        elif "background" in pos and "foreground" not in pos:
            top = max(MARGIN, 0.55 - h_norm)
        elif zones == {"sky"}:
            top = 0.06 + 0.04 * (c % 2)
        elif "ground" in zones or "foreground" in pos or grounded and zones == {"any"} and len(layers) == 1:
            top = GROUND - h_norm
        else:
            top = 0.5 + 0.06 - h_norm / 2
        top -= DEPTH_RAISE * h_norm * (c in back)  # set back, behind the front row
        top = min(max(MARGIN * 0.5, top), max(0.0, 1 - MARGIN * 0.5 - h_norm))
        for d, layer in enumerate(layers):
            row_w = sum(entities[m].extent[0] for m in layer) + GAP * (len(layer) - 1)
            x = left + (col_w - row_w) / 2 * sx
            layer_h = max(entities[m].extent[1] for m in layer)
            for m in layer:
                ew, eh = entities[m].extent
                y0 = top + (tops[d] + layer_h - eh) * sy  # objects of a layer share a baseline
                entities[m].boxes = _instances(entities[m], x, y0, sx, sy, width, height)
                x += (ew + GAP) * sx
    return [entity.boxes for entity in entities]


def _row_sizes(entity: _Entity) -> list[int]:
    """Instances per row, top row first: full rows then a short one; a crowd keeps its front row full."""
    cols, rows = entity.grid
    sizes = [cols] * rows
    excess = cols * rows - entity.count
    at = 0 if entity.in_depth else rows - 1
    sizes[at] -= excess
    return sizes


def _instances(
    entity: _Entity, x0: float, y0: float, sx: float, sy: float, width: int, height: int
) -> list[Box]:
    (w, h), (cols, rows) = entity.cell, entity.grid
    gap = GAP * min(1.0, h * 3)
    min_w, min_h = 32 / width, 32 / height
    boxes: list[Box] = []
    for row, in_row in enumerate(_row_sizes(entity)):
        shift = (cols - in_row) * (w + gap) / 2  # centre a short row
        if entity.in_depth and (rows - 1 - row) % 2:
            shift += w / 2  # rows behind sit in the gaps of the row in front
        for col in range(in_row):
            bx0 = x0 + (shift + col * (w + gap)) * sx
            by0 = y0 + row * entity.row_step * sy
            bw, bh = max(w * sx, min_w), max(h * sy, min_h)
            bx0 = min(max(0.0, bx0), 1.0 - bw)
            by0 = min(max(0.0, by0), 1.0 - bh)
            boxes.append(tuple(round(v, 4) for v in (bx0, by0, min(1.0, bx0 + bw), min(1.0, by0 + bh))))
    return boxes


def _size_riders(entities: list[_Entity], kinds: dict[tuple[int, int], str], scene: Scene) -> None:
    """A rider is sized against its mount ("an astronaut riding a horse": the horse is the larger box)."""
    for (rider, mount), kind in kinds.items():
        head = scene.objects[mount].head
        if kind == "on" and head in RIDDEN and entities[rider].count == 1:
            ratio = RIDDEN[head][0] * entities[mount].cell[1] / entities[rider].cell[1]
            entities[rider].scale *= ratio


def _gap_slots(centres: list[float], count: int) -> list[float | None]:
    """Centres for ``count`` back-row columns: the gaps between front ``centres``, or behind a lone one."""
    slots = [(a + b) / 2 for a, b in zip(centres, centres[1:], strict=False)] or centres
    step = len(slots) / count
    return [slots[int(i * step)] for i in range(count)]


def _back_row(
    order: list[int],
    col_layers: list[list[list[int]]],
    entities: list[_Entity],
    measures: list[tuple[float, float, list[float]]],
    sx: float,
    sy: float,
) -> set[int]:
    """Columns to set back when three or more grounded objects in a row would fill the width but leave the
    height empty; the widest go back until the two rows are about equally wide. Empty when not crowded."""
    members = [m for c in order for layer in col_layers[c] for m in layer]
    if len(order) < 2 or sum(entities[m].count for m in members) < 3:
        return set()
    if any(len(col_layers[c]) > 1 for c in order) or any(
        entities[m].shape.zone != "ground"
        or entities[m].in_depth
        or entities[m].positions & {"top", "bottom", "left", "right"}
        for m in members
    ):
        return set()
    total_w = (sum(w for w, _, _ in measures) + GAP * (len(measures) - 1)) * sx
    max_h = max(h for _, h, _ in measures) * sy
    if (1 - 2 * MARGIN) / total_w >= 0.6 * 0.9 / max_h:
        return set()
    back: set[int] = set()
    widths = {c: measures[c][0] for c in order}
    most = max(1, (len(order) - 1) // 2)  # fewer than the front row, so each stands in a gap
    for c in sorted(order, key=lambda c: -widths[c]):
        fits = sum(widths[b] for b in back) + widths[c] <= sum(widths.values()) / 2 + 1e-9
        if len(back) < most and (fits or not back):
            back.add(c)
    return back
