"""Images sent by clients, checked before anything keeps or decodes them for use.

Pure functions on bytes. The type is sniffed from the magic bytes (PNG, JPEG, WebP), never taken from a name
or a header. The size comes from Pillow's lazy ``Image.open``, which reads the headers the decoder will use
and no pixels, so an image over the limits (a small file declaring a huge canvas: a decompression bomb) is
refused before a pixel is allocated. Then the pixels are decoded once, so a truncated or corrupt file is a
``FieldError`` here, not a failure in a worker later.

Sync and CPU-bound: callers on the event loop run ``check_image`` in the threadpool.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Literal

from PIL import ExifTags, Image, ImageOps

from api.exceptions import FieldError

FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
"""Accepted content types, and Pillow's format name for each."""
ACCEPTED = ", ".join(FORMATS)
MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA"})
"""Pixel modes accepted: bilevel, grey, palette and 8-bit colour, with or without alpha."""
MIN_SIDE = 16
"""Shortest side accepted, in pixels: smaller is no picture to start from (one latent patch is 16 px)."""
MAX_SIDE = 8192
"""Longest side accepted, in pixels, whatever the pixel limit allows: twice the largest canvas."""
UNREADABLE = (OSError, SyntaxError, ValueError, EOFError)
"""What Pillow raises for data it cannot read (``UnidentifiedImageError`` is an ``OSError``)."""
DATA_URL_ALIASES = {"image/jpg": "image/jpeg"}
"""Content types of ``data:`` URLs seen in the wild, as their registered names."""
SIGNATURES = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"\x00\x00\x01\x00", "an ICO image"),
)
"""What a few common refused files are, to say so in the error."""
ROTATED = frozenset({5, 6, 7, 8})
"""EXIF orientations that turn the stored image a quarter turn (width and height swap when displayed)."""


@dataclass(frozen=True)
class CheckedImage:
    """Image bytes that passed ``check_image``: as sent, with what was read from them.
    ``width`` x ``height`` is the size as displayed (after the EXIF orientation)."""

    data: bytes
    sha256: str
    content_type: str
    width: int
    height: int
    mode: str


def sniff_type(data: bytes) -> str | None:
    """The content type the magic bytes say (one of ``FORMATS``), or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def describe(data: bytes) -> str:
    """What refused bytes look like, for an error message: 'a GIF image', 'text', 'empty'."""
    if not data:
        return "empty"
    for signature, what in SIGNATURES:
        if data.startswith(signature):
            return what
    head = data[:512].lstrip()
    if head.startswith(b"<") and b"<svg" in head.lower():
        return "an SVG image"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "unrecognised binary data"
    return "text"


def check_image(data: bytes, field: str, max_pixels: int, max_side: int) -> CheckedImage:
    """Check image bytes a client sent; a ``FieldError`` naming ``field`` says what is wrong with them.

    PNG, JPEG or WebP (by magic bytes), one frame, a pixel mode of ``MODES``, each side at least ``MIN_SIDE``
    and at most ``max_side``, at most ``max_pixels`` pixels (all read before decoding), and fully decodable.
    """
    # 1. Type, from the bytes
    content_type = sniff_type(data)
    if content_type is None:
        raise FieldError(field, f"{describe(data)}, not a PNG, JPEG or WebP image; accepted: {ACCEPTED}")
    what = f"{FORMATS[content_type]} image"
    # 2. Headers only. Pillow's bomb check (an error, or a warning made one inside this block only)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[FORMATS[content_type]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FieldError(field, f"{what} is too large to decode safely ({exc})") from None
    except UNREADABLE:
        raise FieldError(field, f"not a readable {what}") from None
    # 3. Limits, on the declared size: no pixel decoded yet
    width, height = image.size
    if width * height > max_pixels:
        raise FieldError(field, f"{what} is {width}x{height}; the limit is {max_pixels} pixels")
    if max(width, height) > max_side:
        raise FieldError(field, f"{what} is {width}x{height}; the longest side allowed is {max_side} px")
    if min(width, height) < MIN_SIDE:
        raise FieldError(field, f"{what} is {width}x{height}; each side must be at least {MIN_SIDE} px")
    if image.mode not in MODES:
        raise FieldError(
            field,
            f"{what} has pixel mode {image.mode}; send 8-bit grey, palette, RGB or RGBA (no CMYK, "
            "16-bit or float images)",
        )
    if getattr(image, "n_frames", 1) > 1:
        raise FieldError(field, f"{what} is animated ({image.n_frames} frames); send a single frame")
    # 4. Decode once, so a truncated or corrupt file fails here
    try:
        image.load()
        orientation = image.getexif().get(ExifTags.Base.Orientation)
    except UNREADABLE:
        raise FieldError(field, f"{what} is truncated or corrupt") from None
    if orientation in ROTATED:
        width, height = height, width
    return CheckedImage(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=content_type,
        width=width,
        height=height,
        mode=image.mode,
    )


def decode_base64_image(text: str, field: str) -> bytes:
    """The bytes of a base64 image: plain base64 or a ``data:image/<type>;base64,`` URL. Line breaks and
    spaces are ignored; a URL whose type disagrees with the bytes is refused. The bytes are not checked as
    an image here (``check_image`` does that)."""
    declared = None
    if text.startswith("data:"):
        header, comma, text = text.partition(",")
        media_type, _, encoding = header.removeprefix("data:").partition(";")
        media_type = DATA_URL_ALIASES.get(media_type.lower(), media_type.lower())
        if not comma or encoding.lower() != "base64" or media_type not in FORMATS:
            raise FieldError(field, f"a data URL must be data:<type>;base64,<data> with a type of {ACCEPTED}")
        declared = media_type
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise FieldError(field, "not valid base64 (nor a data:image/...;base64, URL)") from None
    sniffed = sniff_type(data)
    if declared is not None and sniffed is not None and sniffed != declared:
        raise FieldError(field, f"the data URL says {declared} but the bytes are {sniffed}")
    return data


def open_checked(data: bytes, mode: Literal["RGB", "L"] = "RGB") -> Image.Image:
    """The decoded image of bytes that passed ``check_image``, turned upright (EXIF orientation) and
    converted to ``mode``: RGB for a picture, L for a mask. Alpha is dropped (a mask's luminance is kept, as
    ``regional.layout.decode_mask_png`` does)."""
    image = Image.open(io.BytesIO(data), formats=list(FORMATS.values()))
    return ImageOps.exif_transpose(image).convert(mode)
