"""Place boxes for a ``Scene``: sizes from object kinds, relations as columns and layers, no heavy overlap.

Model: objects linked by a vertical relation (on, above, below, in front of, behind) share a *column*; inside
a column they sit in *layers* from top to bottom, several objects of one layer side by side. Columns are
ordered left to right by the horizontal relations (left of, right of, between) and absolute positions, then
spread over the canvas. Sizes are worked out in units of the canvas's shorter side (so a person stays
tall and narrow on any aspect ratio) and converted to normalised coordinates at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from planner.lexicon import (
    DEFAULT_SHAPE,
    HELD_ALOFT,
    OBJECT_SHAPES,
    RIDDEN,
    SEATED,
    SPAN_WIDTH,
    SPANS,
    SUPPORTS,
    TABLETOP_LOAD,
    TABLETOPS,
    Shape,
)
from planner.repair import iou
from planner.scene import NounPhrase, Relation, Scene

GAP = 0.035
"""Gap between neighbouring boxes, in units of the shorter canvas side."""

MARGIN = 0.03
"""Distance kept from the canvas edges, normalised."""

GROUND = 0.94
"""Where grounded columns stand (bottom edge, normalised y)."""

RIDER_SINK = 0.7
"""At most this share of a rider's height sinks into its mount's box (a bird on a horse's back sits on top)."""

DEPTH_STEP = 0.6
"""Rows of a crowd standing on the ground: each row sits this share of a box height above the one in front."""

SKY_TOP = 0.06
"""Top edge of a sky object lifted into the sky band (normalised y)."""

SKY_SHARE = 0.6
"""Share of the sky row's height that the ground row must leave free above its tallest column."""

DEPTH_RAISE = 0.3
"""A crowded ground scene gets a back row of columns, raised by this share of their height."""

CLEAR_IOU = 0.25
"""A back-row box overlapping a front-row box this much (IoU) is raised further."""

CLEAR_STEP = 0.02
"""How far (normalised) a hidden back-row box is raised per step."""

HAND_HEIGHT = 0.45
"""Where a standing holder's hand is, as a share of its box height from the top."""

HAND_REACH = 0.2
"""How far a held object reaches into its holder's box, as a share of the holder's width."""

TOKEN = 16
"""Pixels per side of the sampler's latent token: every box must cover one whole token."""

MIN_BOX = 2 * TOKEN
"""Smallest box side in pixels: two tokens, so that some whole token lies inside wherever the box starts."""

VERTICAL = {"on", "above", "below", "front", "behind"}
HORIZONTAL = {"left", "right", "between", "next", "hold"}

Box = tuple[float, float, float, float]


@dataclass
class _Entity:
    """One noun phrase: ``count`` instances arranged in a small grid."""

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
        elif r.kind == "hold":  # the held object beside the holder's hand, on the right
            horizontal.add((r.target, r.subject))
    return vertical, horizontal


def _resolve_with(scene: Scene) -> list[Relation]:
    """ "a table with three cups": cups on the table; "a man with a dog", "a table with four chairs" (seats
    taller than the table): side by side. Drop duplicates: a pair already related, either target of a
    "between" included ("a sofa and an armchair with a lamp between them": the lamp is not on the armchair)."""
    out: list[Relation] = []
    seen: set[tuple[int, int]] = set()
    for r in sorted(scene.relations, key=lambda r: r.kind == "with"):
        pairs = _pairs(r)
        if pairs[0] in seen and r.kind != "between":
            continue
        seen |= set(pairs)
        if r.kind == "with":
            item, owner = scene.objects[r.subject], scene.objects[r.target]
            kind = "on" if owner.head in SUPPORTS and _fits_on(item, owner) else "next"
            out.append(Relation(r.subject, kind, r.target))
        else:
            out.append(r)
    return out


def _fits_on(item: NounPhrase, support: NounPhrase) -> bool:
    """Whether ``item`` may stand on ``support``: anything but another support that is usually taller (cups or a
    lamp on a table, a cushion on a sofa; not chairs at a table)."""
    taller = shape_of(item.head).height * item.size > shape_of(support.head).height * support.size
    return not (item.head in SUPPORTS and taller)


def _pairs(r: Relation) -> list[tuple[int, int]]:
    """The unordered object pairs ``r`` relates: subject and target, and subject and second target."""
    targets = [r.target, *([r.target2] if r.target2 is not None else [])]
    return [(min(r.subject, t), max(r.subject, t)) for t in targets]


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
    if not scene.objects:
        return []
    short = min(width, height)
    sx, sy = short / width, short / height  # shorter-side units -> normalised x and y
    # 1. Entities sized by kind and depth; relations as vertical and horizontal edges.
    entities = _entities(scene, sx, sy)
    relations = _resolve_with(scene)
    vertical, horizontal = _vertical_edges(relations)
    _shrink_behind(entities, vertical)
    # 2. Columns: objects joined by vertical relations, in layers from top to bottom.
    kinds = {(a, b): k for a, b, k in vertical}
    columns = _Columns(
        _column_layers(len(entities), vertical), entities, kinds, [o.head for o in scene.objects]
    )
    # 3. Sizes: what stands on a table no taller than the table; supports as wide as what they carry.
    _cap_tabletop_loads(entities, kinds, scene)
    _widen_supports(entities, kinds)
    _size_riders(entities, kinds, scene)
    columns.remeasure()
    # 4. Horizontal order of columns: relations first, then absolute sides; a sided column fits its half.
    column_edges = columns.edges(horizontal)
    order = _column_order(columns, column_edges)
    _fit_sides(columns, sx)
    # 5. Rows: anchored bands, or a ground row with a back row and a sky row.
    rows = _rows(columns, order, column_edges, relations, sx, sy)
    # 6. Fit: shrink everything to the canvas, or grow a sparse scene so its objects are not lost.
    _fit_canvas(columns, rows, sx, sy)
    # 7. Column positions, row by row.
    left_of = _column_lefts(columns, rows, sx)
    # 8. Vertical anchoring of each column, then boxes for every instance.
    grounded = any(e.shape.zone == "ground" for e in entities)
    for c in order:
        top = _column_top(columns, c, grounded, c in rows.back, sy)
        _box_column(columns, c, left_of[c], top, sx, sy)
    # 9. Adjustments of single objects: hidden back-row objects, spans, the sky, hands, whole tokens.
    _clear_back_row(
        [m for c in rows.back for m in columns.layers[c][0]],
        [m for c in rows.front for m in columns.layers[c][0]],
        entities,
    )
    _span(entities, scene, horizontal)
    _lift_to_sky(entities, relations)
    _into_hands(entities, relations, scene)
    return _fit_tokens([entity.boxes for entity in entities], width, height)


@dataclass
class _Columns:
    """The scene's columns: ``layers[c]`` lists column ``c``'s layers from top to bottom, each a list of
    entity indices; ``measures[c]`` is its (width, height, top of each layer) in shorter-side units."""

    layers: list[list[list[int]]]
    entities: list[_Entity]
    kinds: dict[tuple[int, int], str]
    """(upper, lower) -> the vertical relation between them ("on", "above", "front")."""
    heads: list[str]
    """Head noun of each entity's object."""
    measures: list[tuple[float, float, list[float]]] = field(default_factory=list)

    def members(self, c: int) -> list[int]:
        """The entities of column ``c``, top layer first."""
        return [m for layer in self.layers[c] for m in layer]

    def positions(self, c: int) -> set[str]:
        """The absolute positions stated for any object of column ``c``."""
        return set().union(*(self.entities[m].positions for m in self.members(c)))

    def side(self, c: int) -> float:
        """-1 for a column stated on the left, 1 on the right, else 0."""
        positions = self.positions(c)
        return -1.0 if "left" in positions else 1.0 if "right" in positions else 0.0

    def edges(self, horizontal: set[tuple[int, int]]) -> set[tuple[int, int]]:
        """(left, right) pairs of columns from the (left, right) pairs of entities in different columns."""
        column_of = {m: c for c in range(len(self.layers)) for m in self.members(c)}
        return {(column_of[a], column_of[b]) for a, b in horizontal if column_of[a] != column_of[b]}

    def measure(self, c: int) -> tuple[float, float, list[float]]:
        """(width, height, top of each layer) of column ``c``; each layer sinks into the one below it by
        ``_overlap``."""
        layers = self.layers[c]
        widths = [sum(self.entities[m].extent[0] for m in layer) + GAP * (len(layer) - 1) for layer in layers]
        tops, y = [], 0.0
        for d, layer in enumerate(layers):
            if d:
                y -= self._overlap(layers[d - 1], layer)
            tops.append(y)
            y += max(self.entities[m].extent[1] for m in layer)
        return max(widths), y, tops

    def remeasure(self) -> None:
        """Measure every column again (after the entities' scales changed)."""
        self.measures = [self.measure(c) for c in range(len(self.layers))]

    def row_width(self, row: list[int], sx: float) -> float:
        """Normalised width of the columns ``row`` side by side."""
        return (sum(self.measures[c][0] for c in row) + GAP * (len(row) - 1)) * sx

    def _overlap(self, upper: list[int], lower: list[int]) -> float:
        """How far the upper layer sinks into the lower one, in shorter-side units (negative: a gap): a rider
        into its mount, a sitter into a seat, a load a little into its support, a front object over the one
        behind."""
        entities = self.entities
        best = -GAP
        for a in upper:
            for b in lower:
                kind = self.kinds.get((a, b))
                low_h = entities[b].extent[1]
                if kind == "on" and self.heads[b] in RIDDEN:
                    sink = entities[b].cell[1] * RIDDEN[self.heads[b]][1]
                    best = max(best, min(sink, entities[a].extent[1] * RIDER_SINK))
                elif kind == "on":
                    best = max(best, low_h * (0.5 if self.heads[b] in SEATED else 0.1))
                elif kind == "front":
                    best = max(best, min(low_h, entities[a].extent[1]) * 0.45)
        return best


@dataclass
class _Rows:
    """How the columns stand on the canvas: in anchored ``bands`` (top, bottom, sides), or in a ``front`` row,
    with columns set ``back`` into its gaps (``back_row``, in order) and lone sky objects in a ``sky_row``."""

    order: list[int]
    """Every column, left to right."""
    bands: tuple[list[int], list[int], list[int]] | None
    back: set[int]
    """The columns set back (the members of ``back_row``)."""
    front: list[int]
    back_row: list[int]
    sky_row: list[int]
    grounded: list[int]
    """The columns not in the sky row, in order."""


def _entities(scene: Scene, sx: float, sy: float) -> list[_Entity]:
    """One entity per object; an object in the background smaller, one in the foreground larger."""
    room = ((1 - 2 * MARGIN) / sx, 0.9 / sy)
    entities = [_Entity(shape_of(o.head), o.count, o.size, set(o.positions), room) for o in scene.objects]
    for entity in entities:
        if "background" in entity.positions:
            entity.scale *= 0.6
        if "foreground" in entity.positions:
            entity.scale *= 1.15
    return entities


def _shrink_behind(entities: list[_Entity], vertical: list[tuple[int, int, str]]) -> None:
    """The one behind in a front/behind pair looks smaller."""
    for upper, _lower, kind in vertical:
        if kind == "front":
            entities[upper].scale *= 0.85


def _column_layers(count: int, vertical: list[tuple[int, int, str]]) -> list[list[list[int]]]:
    """The columns of ``count`` entities linked by ``vertical`` edges, ordered by their first entity; each a
    list of layers from top to bottom (an entity one layer below the lowest of those above it)."""
    roots = _components(count, [(a, b) for a, b, _ in vertical])
    columns: dict[int, list[int]] = {}
    for i, root in enumerate(roots):
        columns.setdefault(root, []).append(i)
    layer_of: dict[int, int] = {}
    for members in columns.values():
        edges = {(a, b) for a, b, _ in vertical if a in members}
        for m in _toposort(members, edges, {m: (m,) for m in members}):
            above = [layer_of[a] for a, b in edges if b == m and a in layer_of]
            layer_of[m] = max(above) + 1 if above else 0
    column_layers = []
    for members in sorted(columns.values(), key=lambda ms: min(ms)):
        depth = max(layer_of[m] for m in members) + 1
        layers = [[m for m in members if layer_of[m] == d] for d in range(depth)]
        column_layers.append([layer for layer in layers if layer])
    return column_layers


def _widen_supports(entities: list[_Entity], kinds: dict[tuple[int, int], str]) -> None:
    """A support grows (at most twice) to carry what stands on it side by side; what still does not fit
    shrinks to the support's width."""
    for b in sorted({b for (_, b), kind in kinds.items() if kind == "on"}):
        loads = [x for (x, y), kind in kinds.items() if y == b and kind == "on"]
        load = sum(entities[x].extent[0] + GAP for x in loads) - GAP
        if load > entities[b].extent[0] * 0.9:
            entities[b].scale *= min(2.0, load / (entities[b].extent[0] * 0.9))
            room = entities[b].extent[0] * 0.9
            if load > room:
                for x in loads:
                    entities[x].scale *= room / load


def _column_order(columns: _Columns, edges: set[tuple[int, int]]) -> list[int]:
    """Columns left to right: by left/right relations where there are any, else by stated sides, else in
    object order."""
    count = len(columns.layers)
    order = _toposort(list(range(count)), edges, {c: (c,) for c in range(count)})
    if not edges and any(columns.side(c) for c in order):
        rank = {c: i for i, c in enumerate(order)}
        order = sorted(order, key=lambda c: (columns.side(c), rank[c]))
    return order


def _fit_sides(columns: _Columns, sx: float) -> None:
    """A column stated at one side fits in that half ("clouds on the right": not a row across the whole
    sky)."""
    half = (0.5 - MARGIN) / sx - GAP / 2  # in shorter-side units, as measures are
    for c in range(len(columns.layers)):
        if columns.side(c) and columns.measures[c][0] > half:
            for m in columns.members(c):
                columns.entities[m].scale *= half / columns.measures[c][0]
            columns.measures[c] = columns.measure(c)


def _rows(
    columns: _Columns,
    order: list[int],
    edges: set[tuple[int, int]],
    relations: list[Relation],
    sx: float,
    sy: float,
) -> _Rows:
    """Where each column stands. Columns anchored at the top and at the bottom ("a cat at the top left, a dog
    at the bottom right"), and beside them at one side ("a fox on the left"), form bands, each spread across
    the width on its own, so that corner objects keep their corners. Otherwise lone sky objects (the sun,
    northern lights) get a row above the ground row, and grounded columns that would come out small side by
    side get two depth rows instead, as a person draws a street ("next to", "left of": one row)."""
    side_by_side = any(r.kind in HORIZONTAL for r in relations)
    linked = {c for edge in edges for c in edge}
    bands = _anchored_bands(order, columns.positions, edges)
    sky = set() if bands else _sky_columns(order, columns.layers, columns.entities, linked)
    grounded = [c for c in order if c not in sky]
    back = (
        set()
        if side_by_side or bands
        else _back_row(order, columns.layers, columns.entities, columns.measures, sx, sy)
    )
    return _Rows(
        order=order,
        bands=bands,
        back=back,
        front=[c for c in grounded if c not in back],
        back_row=[c for c in grounded if c in back],
        sky_row=[c for c in order if c in sky],
        grounded=grounded,
    )


def _scene_extent(columns: _Columns, rows: _Rows, sx: float, sy: float) -> tuple[float, float]:
    """Normalised (width, height) that the rows of columns need at their present scale."""
    measures, order = columns.measures, rows.order
    if rows.bands:  # every object keeps to its half of the canvas, or its quarter
        top, bottom, sides = rows.bands
        widest = (2 * max(measures[c][0] for c in order) + GAP) * sx
        width = max(columns.row_width(top, sx), columns.row_width(bottom, sx), widest)
        height = (2 * max(measures[c][1] for c in top + bottom) + GAP) * sy
        height = max([height] + [measures[c][1] * sy for c in sides])
    else:
        width = max(columns.row_width(row, sx) for row in [rows.front, rows.back_row, rows.sky_row] if row)
        height = max(measures[c][1] * (1 + DEPTH_RAISE * (c in rows.back)) for c in order) * sy
    if rows.sky_row:  # the ground row stands below the sky row, which may reach a little over its tops
        sky_h = max(measures[c][1] for c in rows.sky_row) * SKY_SHARE
        height = max(height, (max(measures[c][1] for c in rows.grounded) + sky_h) * sy)
    return width, height


def _fit_canvas(columns: _Columns, rows: _Rows, sx: float, sy: float) -> None:
    """Scale every entity so that the scene fits the canvas; a sparse scene grows until its longer extent
    spans 60% of the canvas (40% when an object is stated at a side, the top or the bottom)."""
    total_w, max_h = _scene_extent(columns, rows, sx, sy)
    fit = min((1 - 2 * MARGIN) / total_w, 0.9 / max_h)
    fill = max(total_w, max_h)
    anchored = any(e.positions & {"left", "right", "top", "bottom"} for e in columns.entities)
    factor = fit if fit < 1 else min(fit, max(1.0, (0.4 if anchored else 0.6) / fill))
    if factor != 1.0:
        for entity in columns.entities:
            entity.scale *= factor
        columns.remeasure()


SIDE_ANCHORS = {-1.0: 0.25, 1.0: 0.75}
"""Where the centre of a column stated on the left (-1) or right (1) is pulled to, normalised."""


def _column_target(columns: _Columns, c: int, alone: bool) -> float | None:
    """Where column ``c``'s centre is pulled to (normalised): its side's anchor, or the middle for a lone
    centred column; None when it is free."""
    if columns.side(c):
        return SIDE_ANCHORS[columns.side(c)]
    return 0.5 if "center" in columns.positions(c) and alone else None


def _column_lefts(columns: _Columns, rows: _Rows, sx: float) -> dict[int, float]:
    """Normalised left edge of every column: each row spread over the width, the back row in the gaps of the
    front row."""
    alone = len(rows.order) == 1

    def spread(row: list[int], targets: list[float | None]) -> dict[int, float]:
        lefts = _spread([columns.measures[c][0] * sx for c in row], targets)
        return dict(zip(row, lefts, strict=True))

    left_of: dict[int, float] = {}
    for row in rows.bands or [rows.front, rows.sky_row]:
        if row:
            left_of |= spread(row, [_column_target(columns, c, alone) for c in row])
    if rows.back_row:  # the back row stands in the gaps of the front row
        centres = [left_of[c] + columns.measures[c][0] * sx / 2 for c in rows.front]
        left_of |= spread(rows.back_row, _gap_slots(centres, len(rows.back_row)))
    return left_of


def _column_top(columns: _Columns, c: int, grounded: bool, set_back: bool, sy: float) -> float:
    """Normalised top edge of column ``c``: at a stated top or bottom or in the background, else where its
    lowest objects belong (the sky, the ground, the middle); a column set back stands higher."""
    layers = columns.layers[c]
    positions = columns.positions(c)
    zones = {columns.entities[m].shape.zone for m in layers[-1]}
    h_norm = columns.measures[c][1] * sy
    if "top" in positions:
        top = MARGIN + 0.02
    elif "bottom" in positions:
        top = 1 - MARGIN - h_norm
    elif "background" in positions and "foreground" not in positions:
        top = max(MARGIN, 0.55 - h_norm)
    elif zones == {"sky"}:
        top = 0.06 + 0.04 * (c % 2)
    elif "ground" in zones or "foreground" in positions or grounded and zones == {"any"} and len(layers) == 1:
        top = GROUND - h_norm
    else:
        top = 0.5 + 0.06 - h_norm / 2
    top -= DEPTH_RAISE * h_norm * set_back  # set back, behind the front row
    return min(max(MARGIN * 0.5, top), max(0.0, 1 - MARGIN * 0.5 - h_norm))


def _box_column(columns: _Columns, c: int, left: float, top: float, sx: float, sy: float) -> None:
    """Boxes for every instance in column ``c``: each layer centred in the column, its objects side by side
    on a shared baseline."""
    entities = columns.entities
    col_w, _, tops = columns.measures[c]
    for d, layer in enumerate(columns.layers[c]):
        row_w = sum(entities[m].extent[0] for m in layer) + GAP * (len(layer) - 1)
        x = left + (col_w - row_w) / 2 * sx
        layer_h = max(entities[m].extent[1] for m in layer)
        for m in layer:
            ew, eh = entities[m].extent
            y0 = top + (tops[d] + layer_h - eh) * sy  # objects of a layer share a baseline
            entities[m].boxes = _instances(entities[m], x, y0, sx, sy)
            x += (ew + GAP) * sx


def _clear_back_row(back: list[int], front: list[int], entities: list[_Entity]) -> None:
    """Raise each back-row object in small steps until no front-row box hides most of it."""
    front_boxes = [box for m in front for box in entities[m].boxes]
    for m in back:
        entity = entities[m]
        while any(iou(b, f) >= CLEAR_IOU for b in entity.boxes for f in front_boxes):
            rise = min(CLEAR_STEP, min(b[1] for b in entity.boxes) - MARGIN / 2)
            if rise <= 0:
                break
            entity.boxes = [
                (x0, round(y0 - rise, 4), x1, round(y1 - rise, 4)) for x0, y0, x1, y1 in entity.boxes
            ]


def _anchored_bands(
    order: list[int], positions_of: Callable[[int], set[str]], edges: set[tuple[int, int]]
) -> tuple[list[int], list[int], list[int]] | None:
    """(top band, bottom band, side columns), each in ``order``, when every column is anchored at the top or
    at the bottom (not both), both bands are used, and the other columns are anchored at one side only
    ("on the left") with every banded column on the opposite side; else None. None too when a left/right
    relation joins two of these groups."""
    vertical = {c: positions_of(c) & {"top", "bottom"} for c in order}
    horizontal = {c: positions_of(c) & {"left", "right"} for c in order}
    top = [c for c in order if vertical[c] == {"top"}]
    bottom = [c for c in order if vertical[c] == {"bottom"}]
    sides = [c for c in order if not vertical[c] and len(horizontal[c]) == 1]
    if not top or not bottom or len(top) + len(bottom) + len(sides) < len(order):
        return None
    side_words = set().union(*(horizontal[c] for c in sides))
    if sides and (
        len(side_words) > 1 or any(horizontal[c] & side_words or not horizontal[c] for c in top + bottom)
    ):
        return None
    group = {c: g for g, members in enumerate((top, bottom, sides)) for c in members}
    if any(group[a] != group[b] for a, b in edges):
        return None
    return top, bottom, sides


def _sky_columns(
    order: list[int], col_layers: list[list[list[int]]], entities: list[_Entity], linked: set[int]
) -> set[int]:
    """Columns of lone sky objects free of left/right relations, when the scene also has ground columns."""
    sky = {
        c
        for c in order
        if len(col_layers[c]) == 1
        and c not in linked
        and all(entities[m].shape.zone == "sky" for m in col_layers[c][0])
    }
    return sky if len(sky) < len(order) else set()


def _span(entities: list[_Entity], scene: Scene, horizontal: set[tuple[int, int]]) -> None:
    """Stretch a lone spanning object (northern lights, a skyline) across most of the canvas width."""
    sided = {i for edge in horizontal for i in edge}
    margin = (1 - SPAN_WIDTH) / 2
    for i, entity in enumerate(entities):
        free = not entity.positions & {"left", "right"} and i not in sided
        if scene.objects[i].head in SPANS and entity.count == 1 and free:
            _, y0, _, y1 = entity.boxes[0]
            entity.boxes = [(round(margin, 4), y0, round(1 - margin, 4), y1)]


def _lift_to_sky(entities: list[_Entity], relations: list[Relation]) -> None:
    """A sky object above something on the ground ("a full moon above the buildings") goes up into the sky
    band rather than hanging just over the thing's top; moving it up only widens the gap between them."""
    for r in relations:
        entity = entities[r.subject]
        if r.kind != "above" or entity.shape.zone != "sky" or entities[r.target].shape.zone == "sky":
            continue
        rise = min(box[1] for box in entity.boxes) - SKY_TOP
        if rise > 0:
            entity.boxes = [
                (x0, round(y0 - rise, 4), x1, round(y1 - rise, 4)) for x0, y0, x1, y1 in entity.boxes
            ]


def _into_hands(entities: list[_Entity], relations: list[Relation], scene: Scene) -> None:
    """Move each held object to its holder's hand: reaching into the holder's box at hand height, on the side
    where it stands, raised above the hand when it is carried aloft (an umbrella, a balloon)."""
    stacked = {i for r in relations if r.kind in VERTICAL for i in (r.subject, r.target)}
    for r in relations:
        held, holder = entities[r.subject], entities[r.target]
        if r.kind != "hold" or held.count != 1 or holder.count != 1 or r.subject in stacked:
            continue
        hx0, hy0, hx1, hy1 = holder.boxes[0]
        bx0, by0, bx1, by1 = held.boxes[0]
        w, h = bx1 - bx0, by1 - by0
        reach = HAND_REACH * (hx1 - hx0)
        x0 = hx1 - reach if bx0 + bx1 >= hx0 + hx1 else hx0 + reach - w
        hand = hy0 + HAND_HEIGHT * (hy1 - hy0)
        y0 = hand - h if scene.objects[r.subject].head in HELD_ALOFT else hand - h / 2
        x0, y0 = min(max(0.0, x0), 1.0 - w), min(max(0.0, y0), 1.0 - h)
        held.boxes = [tuple(round(v, 4) for v in (x0, y0, x0 + w, y0 + h))]


def _fit_tokens(boxes: list[list[Box]], width: int, height: int) -> list[list[Box]]:
    """Grow boxes smaller than ``MIN_BOX`` pixels so that each covers a whole token; boxes that were apart
    before growing and now overlap are split along the line between them (small canvases)."""
    grown = [[_grow(box, width, height) for box in boxes_of] for boxes_of in boxes]
    flat = [(i, j) for i, boxes_of in enumerate(boxes) for j in range(len(boxes_of))]
    for n, (i, j) in enumerate(flat):
        for k, m in flat[n + 1 :]:
            a, b = boxes[i][j], boxes[k][m]
            if _apart(a, b) and not _apart(grown[i][j], grown[k][m]):
                grown[i][j], grown[k][m] = _split(a, b, grown[i][j], grown[k][m], width, height)
    return grown


def _grow(box: Box, width: int, height: int) -> Box:
    x0, y0, x1, y1 = box
    w, h = max(x1 - x0, MIN_BOX / width), max(y1 - y0, MIN_BOX / height)
    x0, y0 = min(max(0.0, x0), 1.0 - w), min(max(0.0, y0), 1.0 - h)
    return tuple(round(v, 4) for v in (x0, y0, min(1.0, x0 + w), min(1.0, y0 + h)))


def _apart(a: Box, b: Box) -> bool:
    """Whether two boxes share no area."""
    return min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1])


def _split(a: Box, b: Box, grown_a: Box, grown_b: Box, width: int, height: int) -> tuple[Box, Box]:
    """Part two grown boxes at a token line between their original boxes ``a`` and ``b``, each keeping at
    least ``MIN_BOX`` pixels on its side (half the side, in whole tokens, on a side under two ``MIN_BOX``)."""
    axis = 1 if min(a[3], b[3]) <= max(a[1], b[1]) else 0  # 1: one above the other
    size = height if axis else width
    keep = min(MIN_BOX, size // 2 // TOKEN * TOKEN)
    first, second = (grown_a, grown_b) if a[axis] <= b[axis] else (grown_b, grown_a)
    low, high = (a, b) if a[axis] <= b[axis] else (b, a)
    line = (low[axis + 2] + high[axis]) / 2 * size
    line = min(max(round(line / TOKEN) * TOKEN, keep), size - keep) / size
    first, second = list(first), list(second)
    first[axis + 2], first[axis] = line, min(first[axis], line - keep / size)
    second[axis], second[axis + 2] = line, max(second[axis + 2], line + keep / size)
    first_box = tuple(round(v, 4) for v in first)
    second_box = tuple(round(v, 4) for v in second)
    return (first_box, second_box) if a[axis] <= b[axis] else (second_box, first_box)


def _row_sizes(entity: _Entity) -> list[int]:
    """Instances per row, top row first: full rows then a short one; a crowd keeps its front row full."""
    cols, rows = entity.grid
    sizes = [cols] * rows
    excess = cols * rows - entity.count
    at = 0 if entity.in_depth else rows - 1
    sizes[at] -= excess
    return sizes


def _instances(entity: _Entity, x0: float, y0: float, sx: float, sy: float) -> list[Box]:
    (w, h), (cols, rows) = entity.cell, entity.grid
    gap = GAP * min(1.0, h * 3)
    boxes: list[Box] = []
    for row, in_row in enumerate(_row_sizes(entity)):
        shift = (cols - in_row) * (w + gap) / 2  # centre a short row
        if entity.in_depth and (rows - 1 - row) % 2:
            shift += w / 2  # rows behind sit in the gaps of the row in front
        for col in range(in_row):
            bx0 = x0 + (shift + col * (w + gap)) * sx
            by0 = y0 + row * entity.row_step * sy
            bw, bh = w * sx, h * sy
            bx0 = min(max(0.0, bx0), 1.0 - bw)
            by0 = min(max(0.0, by0), 1.0 - bh)
            boxes.append(tuple(round(v, 4) for v in (bx0, by0, min(1.0, bx0 + bw), min(1.0, by0 + bh))))
    return boxes


def _cap_tabletop_loads(entities: list[_Entity], kinds: dict[tuple[int, int], str], scene: Scene) -> None:
    """A lamp on a nightstand is a table lamp: no taller than ``TABLETOP_LOAD`` times its support."""
    for (load, support), kind in kinds.items():
        if kind == "on" and scene.objects[support].head in TABLETOPS:
            most = TABLETOP_LOAD * entities[support].cell[1]
            if entities[load].cell[1] > most:
                entities[load].scale *= most / entities[load].cell[1]


def _size_riders(entities: list[_Entity], kinds: dict[tuple[int, int], str], scene: Scene) -> None:
    """A rider is sized against its mount ("an astronaut riding a horse": the horse is the larger box);
    small riders keep their own size."""
    for (rider, mount), kind in kinds.items():
        head = scene.objects[mount].head
        if kind == "on" and head in RIDDEN and entities[rider].count == 1:
            ratio = RIDDEN[head][0] * entities[mount].cell[1] / entities[rider].cell[1]
            entities[rider].scale *= min(1.0, ratio)  # a bird on a horse's back stays a bird's size


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
    single = [c for c in order if all(entities[m].count == 1 for layer in col_layers[c] for m in layer)]
    for c in sorted(single, key=lambda c: -widths[c]):  # a row of several would not fit in one gap
        fits = sum(widths[b] for b in back) + widths[c] <= sum(widths.values()) / 2 + 1e-9
        if len(back) < most and (fits or not back):
            back.add(c)
    return back
