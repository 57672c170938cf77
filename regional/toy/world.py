"""The shapes world: deterministic scenes of coloured shapes with captions and ground-truth boxes.

Conventions: images are ``SIZE`` x ``SIZE`` RGB, uint8. Boxes are normalised ``[x0, y0, x1, y1]`` with the
origin at the top-left corner (as in ``regional.layout``). A scene object has two boxes: ``slot`` (the
layout region it was placed in, aligned to the 16-px token grid) and ``bbox`` (the drawn shape itself).
Sizes are absolute in pixels, so "a large red circle" means the same shape alone or in a crowded scene.
Colours are saturated and backgrounds neutral, which keeps scoring by colour unambiguous.

``make_scene`` draws the world of training and of the main benchmark: 1-4 objects of distinct colours in
halves and quadrants. ``make_hard_scene`` draws harder ones for the benchmark only: 3-6 objects in boxes at
arbitrary positions and sizes, touching and overlapping, sharing colours and shapes.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from regional.layout import Layout, Region
from regional.raster import TOKEN_PX

SIZE = 128
"""Canvas side in pixels: 8 x 8 FLUX tokens of 16 px, so a quadrant region holds 16 tokens (at 64 px it held
4, too few for the regional path to draw a shape in)."""

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 230),
    "yellow": (240, 215, 20),
    "purple": (150, 40, 190),
}
"""Object colours: saturated, pairwise far apart in RGB."""

BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "gray": (128, 128, 128),
    "black": (15, 15, 15),
}
"""Background colours: neutral (no saturation), so no background pixel is mistaken for an object."""

SHAPES = ("circle", "square", "triangle")

SIZES: dict[str, int] = {"small": 32, "large": 52}
"""Shape side (diameter) in pixels."""

SLOTS: dict[str, tuple[float, float, float, float]] = {
    "left": (0.0, 0.0, 0.5, 1.0),
    "right": (0.5, 0.0, 1.0, 1.0),
    "top": (0.0, 0.0, 1.0, 0.5),
    "bottom": (0.0, 0.5, 1.0, 1.0),
    "top left": (0.0, 0.0, 0.5, 0.5),
    "top right": (0.5, 0.0, 1.0, 0.5),
    "bottom left": (0.0, 0.5, 0.5, 1.0),
    "bottom right": (0.5, 0.5, 1.0, 1.0),
    "centre": (0.25, 0.25, 0.75, 0.75),
}
"""Named positions as normalised boxes on the token grid."""

ARRANGEMENTS: dict[int, list[tuple[str, ...]]] = {
    2: [("left", "right"), ("top", "bottom"), ("top left", "bottom right"), ("top right", "bottom left")],
    3: [("left", "top right", "bottom right"), ("right", "top left", "bottom left"),
        ("top", "bottom left", "bottom right"), ("bottom", "top left", "top right")],
    4: [("top left", "top right", "bottom left", "bottom right")],
}  # fmt: skip
"""Slot combinations for multi-object scenes; the slots of one arrangement do not overlap."""

PHRASES = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom",
           "centre": "in the centre"}  # fmt: skip


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    size: str
    slot: str
    """Name of the slot (a key of ``SLOTS``), "anywhere" for free single objects, or "box" for a hard scene's
    arbitrary box (``make_hard_scene``)."""
    slot_box: tuple[float, float, float, float]
    bbox: tuple[float, float, float, float]
    """Normalised box of the drawn shape."""

    @property
    def phrase(self) -> str:
        """Noun phrase, e.g. "a large red circle"."""
        return f"a {self.size} {self.colour} {self.shape}"


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    background: str
    caption: str

    @property
    def background_phrase(self) -> str:
        return f"on a {self.background} background"

    def render(self) -> np.ndarray:
        """The image, shape (SIZE, SIZE, 3), uint8."""
        return render(self)

    def layout(self) -> Layout:
        """Ground-truth layout: one region per object (its slot box) with its phrase as regional prompt."""
        regions = [
            Region(phrase=obj.phrase, prompt=f"{obj.phrase} {self.background_phrase}", box=obj.slot_box)
            for obj in self.objects
        ]
        return Layout(width=SIZE, height=SIZE, base_prompt=self.caption, regions=regions,
                      background_prompt=f"a {self.background} background")  # fmt: skip


def _position_phrase(slot: str) -> str:
    return PHRASES.get(slot, f"at the {slot}")


def _caption(
    objects: list[SceneObject], background: str, relation: str | None, positions: bool = True
) -> str:
    phrases = [obj.phrase for obj in objects]
    if relation is not None:
        body = f"{phrases[0]} {relation} {phrases[1]}"
    elif len(objects) == 1 and objects[0].slot == "anywhere":
        body = phrases[0]
    elif not positions:
        body = ", ".join(phrases[:-1]) + " and " + phrases[-1]
    else:
        parts = [f"{p} {_position_phrase(o.slot)}" for p, o in zip(phrases, objects, strict=True)]
        body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{body} on a {background} background"


def _place(rng: random.Random, colour: str, shape: str, size: str, slot: str) -> SceneObject:
    side = SIZES[size] / SIZE
    box = (0.0, 0.0, 1.0, 1.0) if slot == "anywhere" else SLOTS[slot]
    x0, y0, x1, y1 = box
    jitter = 6 / SIZE  # a few pixels around the slot centre
    cx = min(max((x0 + x1) / 2 + rng.uniform(-jitter, jitter), x0 + side / 2), x1 - side / 2)
    cy = min(max((y0 + y1) / 2 + rng.uniform(-jitter, jitter), y0 + side / 2), y1 - side / 2)
    if slot == "anywhere":
        cx, cy = rng.uniform(side / 2, 1 - side / 2), rng.uniform(side / 2, 1 - side / 2)
    bbox = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    return SceneObject(colour, shape, size, slot, box, bbox)


def make_scene(seed: int, num_objects: int | None = None) -> Scene:
    """The scene for ``seed``: same seed and count, same scene. ``num_objects`` in 1..4, random when None.

    One-object scenes put the object at a named slot half the time and anywhere (caption without a
    position) otherwise. Two-object scenes use "above" / "next to" relations a third of the time.
    """
    rng = random.Random(seed)
    count = num_objects if num_objects is not None else rng.choice([1, 1, 2, 2, 3, 4])
    if count not in (1, 2, 3, 4):
        raise ValueError(f"num_objects must be in 1..4, got {count}")
    background = rng.choice(list(BACKGROUNDS))
    colours = rng.sample(list(COLOURS), count)
    if count == 1:
        slots: tuple[str, ...] = (rng.choice(["anywhere", rng.choice(list(SLOTS))]),)
    else:
        slots = rng.choice(ARRANGEMENTS[count])
    objects = [
        _place(rng, colour, rng.choice(SHAPES), rng.choice(list(SIZES)), slot)
        for colour, slot in zip(colours, slots, strict=True)
    ]
    relation = None
    if count == 2 and slots in (("left", "right"), ("top", "bottom")) and rng.random() < 1 / 3:
        relation = "next to" if slots == ("left", "right") else "above"
    return Scene(tuple(objects), background, _caption(objects, background, relation))


def reorder_caption(scene: Scene, seed: int) -> Scene:
    """The same scene, its objects named in another order than the world's fixed one (and without "above" /
    "next to"): training captions always name slots in one order per arrangement, so a model can bind by
    order instead of by position words; a reordered caption tells which one it learned."""
    objects = list(scene.objects)
    if len(objects) < 2:
        raise ValueError("a caption with one object has no other order")
    order, rng = objects[:], random.Random(seed)
    while order == objects:
        rng.shuffle(order)
    return Scene(scene.objects, scene.background, _caption(order, scene.background, None))


def unplace_caption(scene: Scene, seed: int) -> Scene:
    """The same scene, its caption naming the objects without positions and in an order drawn from ``seed``
    ("a blue square, a red circle and ..."): only a layout can say where they go, as when a client sends
    explicit boxes with a caption whose order has nothing to do with them."""
    if len(scene.objects) < 2:
        raise ValueError("a caption with one object has nothing to unplace")
    order = list(scene.objects)
    random.Random(seed).shuffle(order)
    return Scene(scene.objects, scene.background, _caption(order, scene.background, None, False))


def draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, colour: str, box: tuple[float, float, float, float]
) -> None:
    """Draw one filled shape into the pixel box ``(x0, y0, x1, y1)``, end-exclusive."""
    x0, y0, x1, y1 = box
    fill = COLOURS[colour]
    if shape == "circle":
        draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=fill)
    elif shape == "square":
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x1 - 1, y1 - 1), (x0, y1 - 1)], fill=fill)


def render(scene: Scene) -> np.ndarray:
    """Draw ``scene``. Shape: (SIZE, SIZE, 3), uint8."""
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        draw_shape(draw, obj.shape, obj.colour, tuple(v * SIZE for v in obj.bbox))
    return np.array(image, dtype=np.uint8)


GRID = SIZE // TOKEN_PX
"""Tokens per canvas side (8): hard scenes' boxes are whole tokens, as a client's boxes on FLUX would be."""

HARD_SIDES = (2, 3, 4)
"""Side choices of a hard scene's box, in tokens: 2 is the least that holds a small (32 px) shape."""

MAX_OVERLAP = 1
"""Two boxes of a hard scene may overlap in a strip at most this many tokens wide, so both shapes still fit
outside the other box."""

HARD_COUNTS = (3, 4, 5, 6)
"""Object counts of hard scenes."""


def _token_overlap(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, int]:
    """Width and height in tokens of the intersection of two token boxes (x0, y0, x1, y1); <= 0 when apart."""
    return min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])


def _apart(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Two end-exclusive boxes (x0, y0, x1, y1) in the same unit share no area."""
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def _overlapping(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    width, height = _token_overlap(a, b)
    return width > 0 and height > 0


def _touching(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """The boxes share a stretch of border without overlapping."""
    width, height = _token_overlap(a, b)
    return (width == 0 and height > 0) or (height == 0 and width > 0)


def _hard_identities(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """``count`` (colour, shape) pairs, each at most once, with some colour and some shape used twice: only
    colour and shape together tell the objects apart."""
    pairs = [(colour, shape) for colour in COLOURS for shape in SHAPES]
    while True:
        chosen = rng.sample(pairs, count)
        if len({c for c, _ in chosen}) < count and len({s for _, s in chosen}) < count:
            return chosen


def _shape_spot(
    rng: random.Random, box: tuple[int, ...], side: int, others: list[tuple[int, ...]]
) -> tuple[int, int] | None:
    """Top-left pixel of a ``side``-px shape inside the token box ``box`` and outside every box of ``others``
    (so each box holds only its own shape), nearest a point jittered around the box centre; None if none fits."""
    x0, y0, x1, y1 = (v * TOKEN_PX for v in box)
    blocked = [tuple(v * TOKEN_PX for v in other) for other in others]
    spots = [
        (x, y)
        for x in range(x0, x1 - side + 1, 2)
        for y in range(y0, y1 - side + 1, 2)
        if all(_apart((x, y, x + side, y + side), other) for other in blocked)
    ]
    if not spots:
        return None
    jitter = 6  # pixels, as in ``_place``
    tx = (x0 + x1 - side) / 2 + rng.uniform(-jitter, jitter)
    ty = (y0 + y1 - side) / 2 + rng.uniform(-jitter, jitter)
    return min(spots, key=lambda spot: (spot[0] - tx) ** 2 + (spot[1] - ty) ** 2)


def _place_hard(rng: random.Random, identities: list[tuple[str, str]]) -> list[SceneObject] | None:
    """One attempt at boxes and shapes for ``identities``, in order; None when a box finds no room.

    A new box may overlap earlier boxes by at most ``MAX_OVERLAP`` tokens but never an earlier shape, and its
    shape goes where no earlier box is: so every shape lies in its own box and in no other."""
    boxes: list[tuple[int, ...]] = []
    shapes: list[tuple[int, ...]] = []
    objects = []
    for colour, shape in identities:
        for _ in range(100):
            width, height = rng.choice(HARD_SIDES), rng.choice(HARD_SIDES)
            x, y = rng.randrange(GRID - width + 1), rng.randrange(GRID - height + 1)
            box = (x, y, x + width, y + height)
            if any(min(_token_overlap(box, other)) > MAX_OVERLAP for other in boxes):
                continue
            if not all(_apart(tuple(v * TOKEN_PX for v in box), drawn) for drawn in shapes):
                continue
            size = rng.choice(list(SIZES))
            spot = _shape_spot(rng, box, SIZES[size], boxes)
            if spot is None and size == "large":
                size, spot = "small", _shape_spot(rng, box, SIZES["small"], boxes)
            if spot is not None:
                break
        else:
            return None
        side = SIZES[size]
        drawn = (spot[0], spot[1], spot[0] + side, spot[1] + side)
        boxes.append(box)
        shapes.append(drawn)
        objects.append(SceneObject(colour, shape, size, "box", tuple(v / GRID for v in box),
                                   tuple(v / SIZE for v in drawn)))  # fmt: skip
    return objects


def make_hard_scene(seed: int, num_objects: int) -> Scene:
    """A hard scene for ``seed`` (deterministic): ``num_objects`` in ``HARD_COUNTS`` shapes in boxes at
    arbitrary token-aligned positions and sizes (2-4 tokens a side), at least two boxes touching and two
    overlapping, some colour and some shape shared by two objects (each pair at most once). The caption names
    the objects without positions in a shuffled order: only the layout can say where they go.

    Each shape lies in its own box and outside every other box, so a box of the ground truth holds its own
    object's pixels only and scoring stays well-defined where boxes overlap.
    """
    if num_objects not in HARD_COUNTS:
        raise ValueError(f"num_objects of a hard scene must be in {HARD_COUNTS}, got {num_objects}")
    rng = random.Random(seed)
    background = rng.choice(list(BACKGROUNDS))
    identities = _hard_identities(rng, num_objects)
    while True:
        objects = _place_hard(rng, identities)
        if objects is None:
            continue
        boxes = [tuple(round(v * GRID) for v in obj.slot_box) for obj in objects]
        pairs = list(itertools.combinations(boxes, 2))
        if any(_overlapping(a, b) for a, b in pairs) and any(_touching(a, b) for a, b in pairs):
            break
    order = objects[:]
    rng.shuffle(order)
    return Scene(tuple(objects), background, _caption(order, background, None, False))
