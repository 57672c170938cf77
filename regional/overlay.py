"""Draw a layout over an image (or a blank canvas): region outlines, tinted fills and phrases. PIL only."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from regional.layout import Layout

PALETTE = [
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
    (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255), (170, 110, 40),
]  # fmt: skip


def draw_layout(layout: Layout, image: Image.Image | None = None) -> Image.Image:
    """The layout drawn over ``image`` (resized to the canvas) or over a white canvas. Returns a new RGB image."""
    size = (layout.width, layout.height)
    base = Image.new("RGB", size, "white") if image is None else image.convert("RGB").resize(size)
    tint = Image.new("RGBA", size, (0, 0, 0, 0))
    tint_draw = ImageDraw.Draw(tint)
    font = ImageFont.load_default(size=max(10, min(layout.width, layout.height) // 40))
    line = max(2, min(layout.width, layout.height) // 200)
    outlines, labels = [], []  # drawn after the tint is composited, so they stay crisp
    for index, region in enumerate(layout.regions):
        color = PALETTE[index % len(PALETTE)]
        if region.box is not None:
            x0, y0, x1, y1 = region.box
            rect = (x0 * layout.width, y0 * layout.height, x1 * layout.width - 1, y1 * layout.height - 1)
            tint_draw.rectangle(rect, fill=(*color, 50))
            outlines.append((rect, color))
            anchor = (rect[0] + line + 2, rect[1] + line + 1)
        else:
            mask = Image.fromarray((region.mask_array() >= 0.5).astype(np.uint8) * 255).resize(size)
            tint.paste(Image.new("RGBA", size, (*color, 90)), mask=mask)
            ys, xs = np.nonzero(np.asarray(mask))
            anchor = (int(xs.min()) + 2, int(ys.min()) + 1) if len(xs) else (2, 2)
        labels.append((anchor, color, f"{index}: {region.label}"))
    result = Image.alpha_composite(base.convert("RGBA"), tint).convert("RGB")
    draw = ImageDraw.Draw(result)
    for rect, color in outlines:
        draw.rectangle(rect, outline=color, width=line)
    for anchor, color, text in labels:
        draw.rectangle(draw.textbbox(anchor, text, font=font), fill=color)
        draw.text(anchor, text, fill="white", font=font)
    return result
