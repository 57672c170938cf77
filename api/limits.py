"""Limits checked on the raw JSON of a request, before pydantic parses it.

Parsing a layout decodes every mask PNG (twice: validation and coverage), in the event loop. So the
deployment's region count, mask size and mask pixel limits are checked here first, on the JSON that FastAPI
has already read, and a body over them is refused without decoding anything.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

from fastapi import Request

from api.deps import SettingsDep
from api.exceptions import FieldError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(mask: str) -> tuple[int, int] | None:
    """(width, height) from a base64 PNG's IHDR chunk (its first 24 bytes), None when it is not a PNG."""
    data = mask.partition(",")[2] if mask.startswith("data:") else mask
    try:
        head = base64.b64decode(data[:32], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


async def check_layout_payload(request: Request, settings: SettingsDep) -> None:
    """Regions and masks of ``layout`` within this deployment's limits; the rest is left to the model."""
    try:
        body: Any = await request.json()  # cached: FastAPI has read it already
    except Exception:
        return  # not JSON: the body's own validation reports it
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
        if len(mask) * 3 // 4 > settings.max_mask_bytes:
            raise FieldError(field, f"mask is larger than {settings.max_mask_bytes} bytes")
        size = png_size(mask)
        if size is not None and size[0] * size[1] > max_pixels:
            raise FieldError(field, f"mask is {size[0]}x{size[1]}; the limit is {max_pixels} pixels")
