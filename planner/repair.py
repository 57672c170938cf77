"""Turn a model's JSON (any reasonable shape) into a valid ``Layout``, or say precisely why it cannot.

Repairs: key aliases, boxes as lists, strings or dicts, xywh and 0-1000 and pixel coordinates, inverted
corners, clamping to the canvas, boxes below one token grown to one token, empty and duplicate regions
dropped, counted phrases ("two chairs") split into one region per instance, excluded objects removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from planner.exceptions import LayoutRepairError
from planner.noun_phrase import read_noun_phrase, singular
from regional import Layout, Region
from regional.layout import MAX_REGIONS
from regional.raster import TOKEN_PX, box_coverage

Box = tuple[float, float, float, float]

REGION_KEYS = ("regions", "objects", "boxes", "layout", "items", "elements", "bboxes", "entities")
BASE_KEYS = ("base_prompt", "prompt", "caption", "description", "base", "global_prompt", "scene")
BACKGROUND_KEYS = ("background_prompt", "background", "bg_prompt", "bg")
NEGATIVE_KEYS = ("negative_prompt", "negative", "negatives", "exclude", "excluded")
PHRASE_KEYS = ("phrase", "label", "name", "object", "class", "category", "caption", "entity", "noun")
PROMPT_KEYS = ("prompt", "description", "desc", "region_prompt", "text", "detail")
BOX_KEYS = ("box", "bbox", "bounding_box", "boundingbox", "rect", "coordinates", "coords", "position", "xyxy")
NORMALISED_LIMIT = 1.5
"""A box whose numbers all stay below this is normalised (a bit over 1 is overflow to clamp, not pixels)."""
DUPLICATE_IOU = 0.9
"""Two regions with the same phrase and at least this IoU are one region given twice."""
WHOLE_TOKEN = 0.99
"""A box that covers this much of some latent token steers it; smaller boxes are grown to 1.5 tokens."""


def _first(data: dict[str, Any], keys: Iterable[str]) -> Any:
    lowered = {str(k).lower().replace(" ", "_"): v for k, v in data.items()}
    for key in keys:
        if lowered.get(key) not in (None, "", []):
            return lowered[key]
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value if v)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _raw_box(region: dict[str, Any]) -> tuple[list[float], bool] | None:
    """The four numbers of a region's box and whether they are x, y, width, height."""
    value = _first(region, BOX_KEYS)
    if value is None and all(k in region for k in ("x", "y", "width", "height")):
        value = region
    if isinstance(value, str):
        value = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", value)]
    if isinstance(value, dict):
        keys = {str(k).lower(): v for k, v in value.items()}
        for names, xywh in (
            (("x0", "y0", "x1", "y1"), False),
            (("xmin", "ymin", "xmax", "ymax"), False),
            (("left", "top", "right", "bottom"), False),
            (("x1", "y1", "x2", "y2"), False),
            (("x", "y", "w", "h"), True),
            (("x", "y", "width", "height"), True),
        ):
            if all(n in keys for n in names):
                value, is_xywh = [keys[n] for n in names], xywh
                break
        else:
            return None
    else:
        is_xywh = False
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    try:
        return [float(v) for v in value], is_xywh
    except (TypeError, ValueError):
        return None


def _scale_for(numbers: list[float], width: int, height: int) -> tuple[float, float]:
    """Divisors that bring the layout's coordinates to [0, 1]: 1, 1000, or the canvas size in pixels."""
    top = max(numbers, default=0.0)
    if top <= NORMALISED_LIMIT:
        return 1.0, 1.0
    xs, ys = numbers[0::2], numbers[1::2]
    fits_pixels = max(xs) <= width + 1 and max(ys) <= height + 1
    if top <= 1000 and (not fits_pixels or {width, height} == {1000}):
        return 1000.0, 1000.0
    if fits_pixels:
        return float(width), float(height)
    if top <= 1000:
        return 1000.0, 1000.0
    raise LayoutRepairError(
        f"box coordinates up to {top:g} fit neither [0, 1], 0-1000 nor {width}x{height} pixels"
    )


def _clean_box(box: list[float], xywh: bool, width: int, height: int) -> Box | None:
    x0, y0, a, b = box
    x1, y1 = (x0 + a, y0 + b) if xywh else (a, b)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    x0, y0, x1, y1 = (min(1.0, max(0.0, v)) for v in (x0, y0, x1, y1))
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        return None
    grid = (height // TOKEN_PX, width // TOKEN_PX)
    if box_coverage((x0, y0, x1, y1), *grid).max() >= WHOLE_TOKEN:
        return tuple(round(v, 4) for v in (x0, y0, x1, y1))  # valid as given: leave the model's box alone
    min_w, min_h = 1.5 * TOKEN_PX / width, 1.5 * TOKEN_PX / height
    if x1 - x0 < min_w:
        cx = min(max((x0 + x1) / 2, min_w / 2), 1 - min_w / 2)
        x0, x1 = cx - min_w / 2, cx + min_w / 2
    if y1 - y0 < min_h:
        cy = min(max((y0 + y1) / 2, min_h / 2), 1 - min_h / 2)
        y0, y1 = cy - min_h / 2, cy + min_h / 2
    return tuple(round(min(1.0, max(0.0, v)), 4) for v in (x0, y0, x1, y1))


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def head_of(phrase: str) -> str | None:
    """The object's head noun, singular ("three red cups" -> "cup")."""
    parsed = read_noun_phrase(phrase.lower())
    return parsed.head if parsed else None


def _split_counted(phrase: str, prompt: str, box: Box) -> list[tuple[str, str, Box]]:
    """ "two chairs" in one box becomes two one-chair regions side by side in that box."""
    parsed = read_noun_phrase(phrase.lower())
    if parsed is None or parsed.count <= 1 or not parsed.counted:
        return [(phrase, prompt, box)]
    n = parsed.count
    x0, y0, x1, y1 = box
    step = (x1 - x0) / n
    prompt = parsed.prompt if prompt.lower() == phrase.lower() else prompt
    return [
        (parsed.phrase, prompt, (round(x0 + i * step, 4), y0, round(x0 + (i + 1) * step, 4), y1))
        for i in range(n)
    ]


def _as_dict(region: Any) -> dict[str, Any] | None:
    if isinstance(region, dict):
        return region
    if isinstance(region, list | tuple) and len(region) == 2 and isinstance(region[0], str):
        return {"phrase": region[0], "box": region[1]}
    return None


def repair(
    data: dict[str, Any], prompt: str, width: int, height: int, planner: str, excluded: set[str] | None = None
) -> Layout:
    """A valid ``Layout`` from ``data``; raises ``LayoutRepairError`` naming what is wrong."""
    if len(data) == 1 and isinstance(next(iter(data.values())), dict):
        data = next(iter(data.values()))  # {"layout": {...}}
    raw_regions = _first(data, REGION_KEYS)
    if raw_regions is None:
        raw_regions = []
    if not isinstance(raw_regions, list):
        raise LayoutRepairError("`regions` must be a list of {phrase, prompt, box} objects")
    parsed: list[tuple[str, str, list[float], bool]] = []
    for item in raw_regions:
        region = _as_dict(item)
        if region is None:
            continue
        phrase, text = _text(_first(region, PHRASE_KEYS)), _text(_first(region, PROMPT_KEYS))
        box = _raw_box(region)
        if box is None or not (phrase or text):
            continue  # an empty region: nothing to place or nothing to say
        parsed.append((phrase or text, text or phrase, *box))
    if raw_regions and not parsed:
        raise LayoutRepairError("no region has both a phrase and a box of four numbers [x0, y0, x1, y1]")
    numbers = [v for _, _, box, _ in parsed if max(box) > NORMALISED_LIMIT for v in box]
    scale = _scale_for(numbers, width, height)
    all_xyxy_broken = parsed and all(b[2] <= b[0] or b[3] <= b[1] for _, _, b, _ in parsed)
    regions: list[tuple[str, str, Box]] = []
    for phrase, text, box, xywh in parsed:
        sx, sy = scale if max(box) > NORMALISED_LIMIT else (1.0, 1.0)
        scaled = [box[0] / sx, box[1] / sy, box[2] / sx, box[3] / sy]
        looks_xywh = xywh or (
            all_xyxy_broken and scaled[0] + scaled[2] <= 1.02 and scaled[1] + scaled[3] <= 1.02
        )
        clean = _clean_box(scaled, looks_xywh, width, height)
        if clean is not None:
            regions.extend(_split_counted(phrase, text, clean))
    excluded = {singular(e) for e in excluded or set()}
    negatives = [_text(_first(data, NEGATIVE_KEYS))]
    kept: list[tuple[str, str, Box]] = []
    for phrase, text, box in regions:
        if head_of(phrase) in excluded:
            negatives.append(phrase)
            continue
        if any(p.lower() == phrase.lower() and iou(b, box) >= DUPLICATE_IOU for p, _, b in kept):
            continue
        kept.append((phrase, text, box))
    negative = ", ".join(dict.fromkeys(n for n in negatives if n)) or None
    try:
        return Layout(
            width=width,
            height=height,
            base_prompt=_text(_first(data, BASE_KEYS)) or prompt,
            background_prompt=_text(_first(data, BACKGROUND_KEYS)),
            negative_prompt=negative,
            regions=[Region(phrase=p, prompt=t, box=b) for p, t, b in kept[:MAX_REGIONS]],
            planner=planner,
        )
    except ValidationError as exc:
        raise LayoutRepairError(f"the layout is invalid: {exc.errors()[0]['msg']}") from exc
