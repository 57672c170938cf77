"""Score generated shapes-world images against the scene's ground truth by plain image analysis.

Trustworthy on this world because objects are saturated and backgrounds neutral: a pixel is "coloured"
when max(RGB) - min(RGB) >= ``SATURATION``, and then belongs to the nearest palette colour. Inside each
object's slot box (pixel coordinates, top-left origin) the object is right when its colour dominates the
box's coloured pixels, its largest connected blob is big enough, and that blob's shape tests pass:

- triangle: the top half of the blob's bounding box holds under ``TRIANGLE_TOP_SHARE`` of its pixels;
- square: the blob fills at least ``SQUARE_FILL`` of its bounding box; circle otherwise (pi/4 = 0.785).

So of two objects of one colour (hard scenes), each is right only with its own shape in its own box. Where two
boxes overlap (hard scenes too), either object may draw in the overlap: there the other's colour does not
count against one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from regional.toy.world import COLOURS, SIZE, SIZES, Scene

SATURATION = 60
"""Minimum max-min RGB spread of an object pixel (0-255)."""

NEUTRAL = 30
"""Maximum spread of a background pixel used by the seam measure."""

MIN_BLOB = 0.4 * SIZES["small"] ** 2 / 2
"""Smallest blob accepted as an object: 40 % of a small triangle's area, in pixels."""

DOMINANCE = 0.5
"""The expected colour's share of the coloured pixels in its box."""

TRIANGLE_TOP_SHARE = 0.40
SQUARE_FILL = 0.86
"""Shape thresholds, between the toy VAE's reconstructions of 200 held-out 128 px renders (5th-95th
percentiles): top share triangle 0.26-0.31, circle and square 0.47-0.51; fill circle 0.76-0.81, square
0.91-1.00 (exact renders: circle 0.79, square 1.0, triangle 0.5)."""

COLOUR_NAMES = list(COLOURS)
_PALETTE = np.array([COLOURS[name] for name in COLOUR_NAMES], dtype=np.float32)


def colour_map(image: np.ndarray) -> np.ndarray:
    """Palette index of every pixel, -1 for unsaturated ones. image: (H, W, 3) uint8 -> (H, W) int."""
    pixels = image.astype(np.float32)
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    nearest = ((pixels[:, :, None, :] - _PALETTE) ** 2).sum(axis=3).argmin(axis=2)
    return np.where(spread >= SATURATION, nearest, -1)


def largest_blob(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of a boolean mask, as a boolean mask of the same shape."""
    seen = np.zeros_like(mask, dtype=bool)
    best: list[tuple[int, int]] = []
    height, width = mask.shape
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        blob, queue = [], deque([start])
        while queue:
            y, x = queue.popleft()
            blob.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        if len(blob) > len(best):
            best = blob
    out = np.zeros_like(mask, dtype=bool)
    if best:
        ys, xs = zip(*best, strict=True)
        out[list(ys), list(xs)] = True
    return out


def classify_shape(blob: np.ndarray) -> str:
    """'circle', 'square' or 'triangle' for a non-empty boolean blob mask."""
    ys, xs = np.nonzero(blob)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = blob[y0:y1, x0:x1]
    top = crop[: (y1 - y0) // 2].sum() / max(1, crop.sum())
    if top < TRIANGLE_TOP_SHARE:
        return "triangle"
    return "square" if crop.mean() >= SQUARE_FILL else "circle"


def pixel_box(box: tuple[float, float, float, float], size: int = SIZE) -> tuple[int, int, int, int]:
    """Normalised [x0, y0, x1, y1] -> integer pixel bounds (x0, y0, x1, y1), end-exclusive."""
    x0, y0, x1, y1 = (round(v * size) for v in box)
    return x0, y0, x1, y1


@dataclass(frozen=True)
class ObjectScore:
    colour_ok: bool
    shape_ok: bool
    shape_seen: str | None

    @property
    def correct(self) -> bool:
        return self.colour_ok and self.shape_ok


@dataclass(frozen=True)
class SceneScore:
    objects: tuple[ObjectScore, ...]
    leakage: float
    """Mean over regions of the fraction of a region's own pixels showing another region's colour (not its
    own)."""
    seam: float | None
    """Mean absolute RGB step (0-255) across region borders between background pixels; None if no border."""

    @property
    def correct(self) -> bool:
        return all(obj.correct for obj in self.objects)


def score_object(
    colours: np.ndarray,
    colour: str,
    shape: str,
    box: tuple[float, float, float, float],
    excused: np.ndarray | None = None,
) -> ObjectScore:
    """Score one expected object inside ``box`` of a colour map (from ``colour_map``). ``excused``: (H, W)
    bool, pixels left out of the colour count (see ``excused_pixels``)."""
    x0, y0, x1, y1 = pixel_box(box, colours.shape[0])
    crop = colours[y0:y1, x0:x1]
    expected = COLOUR_NAMES.index(colour)
    counted = np.ones_like(crop, dtype=bool) if excused is None else ~excused[y0:y1, x0:x1]
    coloured = int(((crop >= 0) & counted).sum())
    mask = crop == expected
    blob = largest_blob(mask)
    colour_ok = coloured > 0 and mask.sum() >= DOMINANCE * coloured and blob.sum() >= MIN_BLOB
    seen = classify_shape(blob) if blob.sum() >= MIN_BLOB else None
    return ObjectScore(bool(colour_ok), seen == shape, seen)


def excused_pixels(colours: np.ndarray, scene: Scene, index: int) -> np.ndarray:
    """Pixels of object ``index``'s box that do not count against it: where its box overlaps another object's
    box, that object may legitimately draw there, so its colour (when not this object's own) is no miss.
    All False when no box overlaps, as in ``make_scene``'s scenes. Shape: (H, W) bool."""
    size = colours.shape[0]
    own = scene.objects[index]
    x0, y0, x1, y1 = pixel_box(own.slot_box, size)
    excused = np.zeros((size, size), dtype=bool)
    for other, obj in enumerate(scene.objects):
        if other == index or obj.colour == own.colour:
            continue
        ox0, oy0, ox1, oy1 = pixel_box(obj.slot_box, size)
        ix0, iy0, ix1, iy1 = max(x0, ox0), max(y0, oy0), min(x1, ox1), min(y1, oy1)
        if ix0 < ix1 and iy0 < iy1:
            excused[iy0:iy1, ix0:ix1] |= colours[iy0:iy1, ix0:ix1] == COLOUR_NAMES.index(obj.colour)
    return excused


def _own_pixels(scene: Scene, index: int, size: int) -> np.ndarray:
    """Pixels of object ``index``'s box that lie in no other object's box (overlaps are shared ground)."""
    own = np.zeros((size, size), dtype=bool)
    x0, y0, x1, y1 = pixel_box(scene.objects[index].slot_box, size)
    own[y0:y1, x0:x1] = True
    for other, obj in enumerate(scene.objects):
        if other != index:
            ox0, oy0, ox1, oy1 = pixel_box(obj.slot_box, size)
            own[oy0:oy1, ox0:ox1] = False
    return own


def leakage(colours: np.ndarray, scene: Scene) -> float:
    """Mean over objects of the share of their own box pixels that show another object's colour (one that is
    not their own too: where two objects share a colour, an object's own pixels are no leak)."""
    size = colours.shape[0]
    shares = []
    for index, obj in enumerate(scene.objects):
        own = _own_pixels(scene, index, size)
        others = [COLOUR_NAMES.index(o.colour) for o in scene.objects if o.colour != obj.colour]
        if own.any() and others:
            shares.append(float(np.isin(colours[own], others).mean()))
    return float(np.mean(shares)) if shares else 0.0


def seam(image: np.ndarray, scene: Scene) -> float | None:
    """Mean |RGB step| across the inner edges of the slot boxes, over pairs of neutral (background) pixels."""
    pixels = image.astype(np.float32)
    neutral = (pixels.max(axis=2) - pixels.min(axis=2)) < NEUTRAL
    size = image.shape[0]
    steps = []
    for obj in scene.objects:
        x0, y0, x1, y1 = pixel_box(obj.slot_box, size)
        for x in {x0, x1} - {0, size}:
            ok = neutral[y0:y1, x - 1] & neutral[y0:y1, x]
            steps.extend(np.abs(pixels[y0:y1, x] - pixels[y0:y1, x - 1]).mean(axis=1)[ok])
        for y in {y0, y1} - {0, size}:
            ok = neutral[y - 1, x0:x1] & neutral[y, x0:x1]
            steps.extend(np.abs(pixels[y, x0:x1] - pixels[y - 1, x0:x1]).mean(axis=1)[ok])
    return float(np.mean(steps)) if steps else None


def score_scene(image: np.ndarray, scene: Scene) -> SceneScore:
    """Score ``image`` ((SIZE, SIZE, 3) uint8) against ``scene``'s objects in their slot boxes."""
    colours = colour_map(image)
    objects = tuple(
        score_object(colours, obj.colour, obj.shape, obj.slot_box, excused_pixels(colours, scene, index))
        for index, obj in enumerate(scene.objects)
    )
    return SceneScore(objects, leakage(colours, scene), seam(image, scene))
