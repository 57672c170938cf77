"""``api.images``: input images checked from their bytes (no server, no Redis)."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import warnings
import zlib

import pytest
from PIL import Image, ImageFile

from api.exceptions import FieldError
from api.images import MIN_SIDE, check_image, decode_base64_image, open_checked

LIMITS = {"max_pixels": 4096 * 4096, "max_side": 8192}


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose IHDR declares ``width`` x ``height`` 8-bit grey pixels."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    idat = _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + _chunk(b"IEND", b"")


def refused(data: bytes, field: str = "image", **limits) -> str:
    """The message of the FieldError ``check_image`` raises; it must name ``field``."""
    with pytest.raises(FieldError) as info:
        check_image(data, field, **{**LIMITS, **limits})
    error = info.value
    assert error.status == 422 and error.detail.startswith(f"{field}: ")
    assert error.extra["errors"][0]["field"] == field
    return error.extra["errors"][0]["message"]


@pytest.fixture
def loads(monkeypatch) -> list[tuple[int, int]]:
    """The size of every PNG or JPEG whose pixels are decoded (``ImageFile.load``), in order."""
    calls: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def load(self):
        calls.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return calls


@pytest.mark.parametrize(
    ("fmt", "content_type", "mode"),
    [("PNG", "image/png", "RGBA"), ("JPEG", "image/jpeg", "RGB"), ("WEBP", "image/webp", "RGB")],
)
def test_png_jpeg_and_webp_are_accepted_with_their_sizes(fmt, content_type, mode) -> None:
    data = encode(Image.new(mode, (40, 24), (200, 30, 30)), fmt)
    checked = check_image(data, "image", **LIMITS)
    assert (checked.content_type, checked.width, checked.height, checked.mode) == (content_type, 40, 24, mode)
    assert checked.data is data and checked.sha256 == hashlib.sha256(data).hexdigest()
    opened = open_checked(data)
    assert opened.mode == "RGB" and opened.size == (40, 24)
    assert opened.getpixel((5, 5))[0] > 150  # the red came through the decode


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P"])
def test_grey_bilevel_and_palette_modes_are_accepted_and_open_as_masks(mode) -> None:
    checked = check_image(encode(Image.new(mode, (32, 16)), "PNG"), "mask", **LIMITS)
    assert checked.mode == mode and (checked.width, checked.height) == (32, 16)
    assert open_checked(checked.data, mode="L").mode == "L"


def test_the_size_is_as_displayed_after_the_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated a quarter turn: stored 40x24, shown 24x40
    data = encode(Image.new("RGB", (40, 24)), "JPEG", exif=exif.tobytes())
    checked = check_image(data, "image", **LIMITS)
    assert (checked.width, checked.height) == (24, 40)
    assert open_checked(data).size == (24, 40)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (encode(Image.new("P", (32, 32)), "GIF"), "a GIF image"),
        (b"just some text, not an image\n", "text"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>', "SVG"),
        (encode(Image.new("RGB", (32, 32)), "BMP"), "a BMP image"),
        (b"", "empty"),
    ],
    ids=["gif", "text", "svg", "bmp", "empty"],
)
def test_other_types_are_refused_saying_what_is_accepted(data, what) -> None:
    message = refused(data, field="init_image")
    assert what in message and "not a PNG, JPEG or WebP" in message
    assert "image/png, image/jpeg, image/webp" in message


def test_a_truncated_png_is_refused_here_not_later() -> None:
    noise = Image.effect_noise((128, 128), 64).convert("RGB")
    data = encode(noise, "PNG")
    assert "truncated or corrupt" in refused(data[: len(data) // 2])


def test_a_png_with_a_corrupt_header_is_unreadable() -> None:
    data = bytearray(encode(Image.new("L", (32, 32)), "PNG"))
    data[16:24] = b"\xff" * 8  # IHDR's width and height garbled: its CRC no longer matches
    assert "PNG image" in refused(bytes(data))


@pytest.mark.parametrize(
    ("image", "mode"),
    [(Image.new("CMYK", (32, 32)), "CMYK"), (Image.new("I;16", (32, 32)), "I;16")],
    ids=["cmyk-jpeg", "16-bit-png"],
)
def test_cmyk_and_16_bit_images_are_refused_naming_the_mode(image, mode) -> None:
    data = encode(image, "JPEG" if mode == "CMYK" else "PNG")
    message = refused(data)
    assert f"pixel mode {mode}" in message and "RGB" in message


def test_an_animated_image_is_refused() -> None:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ("red", "blue")]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert "animated (2 frames)" in refused(data)


def test_sides_are_checked_against_both_limits() -> None:
    assert f"at least {MIN_SIDE} px" in refused(encode(Image.new("L", (MIN_SIDE - 1, 64)), "PNG"))
    assert "longest side allowed is 64 px" in refused(encode(Image.new("L", (65, 16)), "PNG"), max_side=64)
    assert "the limit is 1000 pixels" in refused(encode(Image.new("L", (40, 40)), "PNG"), max_pixels=1000)


def test_a_bomb_over_the_pixel_limit_is_refused_before_decoding(loads) -> None:
    bomb = png_declaring(5000, 5000)  # 25 M pixels in 70 bytes: over our 16 M, under Pillow's own limit
    assert len(bomb) < 100
    assert "5000x5000; the limit is 16777216 pixels" in refused(bomb)
    assert loads == []  # refused from the header: no pixel decoded


def test_a_bomb_over_pillows_limits_is_an_error_and_no_global_warning_filter_is_left(loads) -> None:
    filters = list(warnings.filters)
    for side in (10_000, 30_000):  # 100 M pixels: Pillow warns; 900 M: Pillow raises
        message = refused(png_declaring(side, side), max_pixels=10**12, max_side=10**6)
        assert "too large to decode safely" in message and f"{side * side} pixels" in message
    assert loads == [] and warnings.filters == filters


def test_the_same_checks_apply_to_a_well_formed_image_that_is_merely_big(loads) -> None:
    data = encode(Image.new("L", (300, 200)), "PNG")
    assert "300x200" in refused(data, max_pixels=300 * 200 - 1)
    assert loads == []
    assert check_image(data, "image", max_pixels=300 * 200, max_side=300).width == 300
    assert loads  # accepted images are decoded once, in the check


def test_base64_and_data_urls_decode_to_the_bytes() -> None:
    data = encode(Image.new("RGB", (20, 20)), "PNG")
    text = base64.b64encode(data).decode()
    assert decode_base64_image(text, "image") == data
    assert decode_base64_image(f"data:image/png;base64,{text}", "image") == data
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))  # MIME-style line breaks
    assert decode_base64_image(wrapped, "image") == data
    jpeg = encode(Image.new("RGB", (20, 20)), "JPEG")
    assert decode_base64_image("data:image/jpg;base64," + base64.b64encode(jpeg).decode(), "image") == jpeg


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not base64 at all!", "not valid base64"),
        ("QUJ", "not valid base64"),  # padding missing
        ("data:image/png,iVBORw0KGgo=", "data:<type>;base64"),  # not base64-encoded
        ("data:text/plain;base64,aGVsbG8=", "data:<type>;base64"),  # not an image type
        ("data:image/png;base64", "data:<type>;base64"),  # no comma, no data
    ],
)
def test_bad_base64_and_data_urls_are_field_errors(text, needle) -> None:
    with pytest.raises(FieldError) as info:
        decode_base64_image(text, "layout.image")
    assert info.value.extra["errors"][0]["field"] == "layout.image" and needle in info.value.detail


def test_a_data_url_whose_type_disagrees_with_the_bytes_is_refused() -> None:
    jpeg = base64.b64encode(encode(Image.new("RGB", (20, 20)), "JPEG")).decode()
    with pytest.raises(FieldError) as info:
        decode_base64_image(f"data:image/png;base64,{jpeg}", "image")
    assert "says image/png but the bytes are image/jpeg" in info.value.detail
