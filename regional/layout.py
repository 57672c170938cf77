"""The layout: a base prompt plus regions, each a box or a mask with its own prompt.

This is the one object that the planner produces, the API accepts and the sampler consumes. It imports
neither torch nor diffusers, so the API process can validate layouts without them.

Coordinates: boxes are normalised ``[x0, y0, x1, y1]`` in [0, 1] with the origin at the top-left corner
(the GLIGEN convention in diffusers). Masks are PNG images of any size, stretched to the canvas.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Annotated

import numpy as np
from PIL import Image
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from regional.raster import TOKEN_PX, region_coverage

MAX_REGIONS = 32
"""Hard upper bound on regions per layout; services may set a lower limit of their own."""

MAX_PROMPT_CHARS = 2000
"""Longest prompt accepted, in characters (T5 truncates at 512 tokens anyway)."""

MAX_MASK_BYTES = 4 * 1024 * 1024
"""Largest encoded mask PNG accepted, in bytes."""

MAX_MASK_PIXELS = 4096 * 4096
"""Largest mask accepted, in pixels (guards against decompression bombs)."""

MIN_SIDE, MAX_SIDE = 32, 4096
"""Canvas side limits in pixels; both sides must also be multiples of ``TOKEN_PX``."""


MASK_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
"""What Pillow raises for data it cannot read (``UnidentifiedImageError`` is an ``OSError``)."""


def open_mask_png(data: str) -> Image.Image:
    """Open a base64 PNG (optionally a ``data:image/png;base64,`` URL) without decoding its pixels.

    Pillow reads the chunks before the image data in whatever order they come, as its decoder will, so the
    size it reports is the size that decoding allocates. Raises ``ValueError`` naming the problem.
    """
    if data.startswith("data:"):
        _, _, data = data.partition(",")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("mask is not valid base64") from exc
    if len(raw) > MAX_MASK_BYTES:
        raise ValueError(f"mask PNG is {len(raw)} bytes; the limit is {MAX_MASK_BYTES}")
    try:
        return Image.open(io.BytesIO(raw), formats=["PNG"])
    except MASK_ERRORS as exc:
        raise ValueError("mask is not a readable PNG image") from exc


def decode_mask_png(data: str) -> np.ndarray:
    """Decode a base64 PNG (optionally a ``data:image/png;base64,`` URL) to a float array in [0, 1].

    Any mode is accepted; colour images are converted to luminance and alpha is ignored.
    Shape: (mask_height, mask_width).
    """
    image = open_mask_png(data)
    if image.width * image.height > MAX_MASK_PIXELS:
        raise ValueError(f"mask is {image.width}x{image.height}; the limit is {MAX_MASK_PIXELS} pixels")
    try:
        gray = image.convert("L")
    except MASK_ERRORS as exc:
        raise ValueError(f"mask is not a readable PNG image: {exc}") from exc
    return np.asarray(gray, dtype=np.float32) / 255.0


def encode_mask_png(mask: np.ndarray) -> str:
    """Encode a 2-D array (bool or float in [0, 1]) as base64 PNG, the inverse of ``decode_mask_png``."""
    array = (np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0) * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array, mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _valid_unicode(value: object) -> object:
    """Refuse a string holding an unpaired UTF-16 surrogate, which JSON can carry (``"\\udfff"``): it is no
    text, and UTF-8 (Redis, logs, tokenizers) cannot encode it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PydanticCustomError(
                "unpaired_surrogate",
                "has an unpaired surrogate {char} at index {index}; send valid Unicode text "
                "(a surrogate pair such as \\ud83d\\ude00 is fine)",
                {"char": f"U+{ord(value[exc.start]):04X}", "index": exc.start},
            ) from None
    return value


def _clean_prompt(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _check_side(value: int) -> int:
    if value % TOKEN_PX:
        raise ValueError(f"{value} px is not a multiple of {TOKEN_PX} (FLUX's pixels per token)")
    if not MIN_SIDE <= value <= MAX_SIDE:
        raise ValueError(f"{value} px is outside [{MIN_SIDE}, {MAX_SIDE}]")
    return value


def _check_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    if not all(0.0 <= v <= 1.0 for v in box):
        raise ValueError(f"box {list(box)} must lie inside the canvas: every coordinate in [0, 1]")
    if x0 >= x1 or y0 >= y1:
        raise ValueError(f"box {list(box)} must have x0 < x1 and y0 < y1 ([x0, y0, x1, y1] order)")
    return box


# The types below enforce their rule in a validator whose message teaches the fix; where JSON schema can say
# the rule, they also state it there (for OpenAPI, read by clients and fuzzers), from the same constants.

Text = Annotated[str, BeforeValidator(_valid_unicode)]
"""Any text: a string of valid Unicode (no unpaired surrogate)."""

PromptText = Annotated[str, Field(max_length=MAX_PROMPT_CHARS), BeforeValidator(_valid_unicode)]
"""Text of at most ``MAX_PROMPT_CHARS`` characters; may be blank (an optional prompt left empty)."""

Prompt = Annotated[PromptText, AfterValidator(_clean_prompt), Field(json_schema_extra={"pattern": r"\S"})]
"""A prompt: ``PromptText`` that is not blank, stripped of surrounding whitespace."""

CanvasSide = Annotated[
    int,
    AfterValidator(_check_side),
    Field(json_schema_extra={"multipleOf": TOKEN_PX, "minimum": MIN_SIDE, "maximum": MAX_SIDE}),
]
"""A canvas side in pixels: a multiple of ``TOKEN_PX`` in [``MIN_SIDE``, ``MAX_SIDE``]."""

MaskText = Annotated[
    str,
    BeforeValidator(_valid_unicode),
    Field(
        json_schema_extra={
            "pattern": r"^(?:data:[^,]*,)?(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
        }
    ),
]
"""Base64 (padded, no whitespace) of a PNG, optionally as a data URL; ``open_mask_png`` reads it."""

_Unit = Annotated[float, Field(json_schema_extra={"minimum": 0, "maximum": 1})]
Box = Annotated[tuple[_Unit, _Unit, _Unit, _Unit], AfterValidator(_check_box)]
"""Normalised ``[x0, y0, x1, y1]``, top-left origin, ``0 <= x0 < x1 <= 1`` and ``0 <= y0 < y1 <= 1``."""


BOX_OR_MASK = {
    "oneOf": [
        {"required": ["box"], "properties": {"box": {"type": "array"}}},
        {"required": ["mask"], "properties": {"mask": {"type": "string"}}},
    ]
}
"""``Region._exactly_one_shape`` in JSON schema: exactly one of ``box`` and ``mask`` is given (not null)."""


class Region(BaseModel):
    """One object instance: where it goes (``box`` or ``mask``) and what it is (``prompt``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=BOX_OR_MASK)

    phrase: Text | None = Field(
        default=None,
        description='Short noun phrase naming the object as the prompt words it, e.g. "a red car".',
    )
    prompt: Prompt = Field(description="Full description used to generate this region.")
    box: Box | None = Field(
        default=None, description="Normalised [x0, y0, x1, y1], top-left origin, 0 <= x0 < x1 <= 1."
    )
    mask: MaskText | None = Field(
        default=None,
        description="Base64 PNG of any size, stretched to the canvas; white marks the region, grey counts partly.",
    )

    @field_validator("mask")
    @classmethod
    def _mask_is_png(cls, mask: str | None) -> str | None:
        if mask is not None:
            decode_mask_png(mask)
        return mask

    @model_validator(mode="after")
    def _exactly_one_shape(self) -> Region:
        if (self.box is None) == (self.mask is None):
            raise ValueError("a region needs exactly one of `box` or `mask`")
        return self

    @property
    def label(self) -> str:
        """What to print on overlays: the phrase, else the prompt."""
        return self.phrase or self.prompt

    def mask_array(self) -> np.ndarray | None:
        """The decoded mask, shape (mask_height, mask_width), or None for a box region."""
        return None if self.mask is None else decode_mask_png(self.mask)


class Layout(BaseModel):
    """A whole-image prompt plus regions. Pixels covered by no region form the background region."""

    model_config = ConfigDict(extra="forbid")

    width: CanvasSide = Field(description=f"Canvas width in pixels, a multiple of {TOKEN_PX}.")
    height: CanvasSide = Field(description=f"Canvas height in pixels, a multiple of {TOKEN_PX}.")
    base_prompt: Prompt = Field(description="Describes the whole image (the base path of the method).")
    background_prompt: PromptText | None = Field(
        default=None, description="Prompt for pixels no region covers; the base prompt when omitted or blank."
    )
    negative_prompt: PromptText | None = Field(
        default=None, description="What the image should not show; none when blank."
    )
    regions: list[Region] = Field(default_factory=list, max_length=MAX_REGIONS)
    planner: Text | None = Field(default=None, description="Which planner backend produced this layout.")

    @field_validator("background_prompt", "negative_prompt")
    @classmethod
    def _optional_prompt(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _clean_prompt(value)

    @model_validator(mode="after")
    def _regions_cover_a_token(self) -> Layout:
        for index, region in enumerate(self.regions):
            covered = float(region_coverage(region, self.width, self.height).sum())
            # boxes are fractions: a third of a 48 px side written with 4 decimals covers 0.9998 of a token
            if covered < 1.0 - 1e-3:
                raise ValueError(
                    f"regions[{index}] ({region.label!r}) covers {covered:.2f} of one {TOKEN_PX}x{TOKEN_PX} "
                    "latent token; make it larger"
                )
        return self

    @property
    def effective_background_prompt(self) -> str:
        return self.background_prompt or self.base_prompt
