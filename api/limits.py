"""This deployment's limits on regions and masks, checked on the raw JSON body before pydantic parses it.

Parsing a layout decodes every mask PNG (twice: validation and coverage). So the region count, the mask
size in bytes and the mask size in pixels are checked first, and a body over them is refused without decoding
any pixels. The pixel size comes from Pillow's lazy ``Image.open``, which reads the chunks before the image
data and no more: it finds ``IHDR`` wherever it is, and it is the very header the decoder will use (a chunk
walker of our own could disagree with Pillow on a PNG with, say, two ``IHDR`` chunks).

Sync: opening headers is work, so this runs in FastAPI's threadpool (``api.deps.GenerationBody``).
"""

from __future__ import annotations

from typing import Any

from api.exceptions import FieldError
from api.settings import ApiSettings
from regional.layout import open_mask_png

DATA_URL_PREFIX_CHARS = len("data:image/png;base64,")


def base64_chars(size: int) -> int:
    """Length of ``size`` bytes in padded base64: 4 characters per 3 bytes or part of them."""
    return 4 * ((size + 2) // 3)


def decoded_size(encoded: str) -> int:
    """Bytes that a padded base64 string decodes to (exact for valid base64; decoding checks the rest)."""
    return len(encoded) * 3 // 4 - encoded[-2:].count("=")


def max_mask_chars(max_bytes: int) -> int:
    """Longest mask string whose PNG is within ``max_bytes``, with an optional ``data:`` URL prefix."""
    return base64_chars(max_bytes) + DATA_URL_PREFIX_CHARS


def check_layout_payload(body: Any, settings: ApiSettings) -> None:
    """Regions and masks of ``body["layout"]`` within this deployment's limits; the rest is left to the model."""
    layout = body.get("layout") if isinstance(body, dict) else None
    regions = layout.get("regions") if isinstance(layout, dict) else None
    if not isinstance(regions, list):
        return
    if len(regions) > settings.max_regions:
        raise FieldError("layout.regions", f"{len(regions)} regions; the limit is {settings.max_regions}")
    max_pixels = settings.max_side * settings.max_side
    for index, region in enumerate(regions):
        mask = region.get("mask") if isinstance(region, dict) else None
        if not isinstance(mask, str):
            continue
        field = f"layout.regions[{index}].mask"
        encoded = mask.partition(",")[2] if mask.startswith("data:") else mask
        if decoded_size(encoded) > settings.max_mask_bytes:
            raise FieldError(field, f"mask is larger than {settings.max_mask_bytes} bytes")
        try:
            width, height = open_mask_png(mask).size
        except ValueError as exc:
            raise FieldError(field, str(exc)) from None
        if width * height > max_pixels:
            raise FieldError(field, f"mask is {width}x{height}; the limit is {max_pixels} pixels")
