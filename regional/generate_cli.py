"""``regional generate``: one layout JSON in, one PNG (plus a layout overlay PNG) out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from regional.layout import Layout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layout", required=True, type=Path, help="layout JSON file (see README)")
    parser.add_argument(
        "--model",
        default="auto",
        help="auto (dev on a GPU, else the toy model), tiny, tiny-chroma, toy, dev, schnell, chroma, a Hub id or "
        "a local folder (FLUX.1 or Chroma)",
    )
    parser.add_argument("--steps", type=int, help="denoising steps (default: per model)")
    parser.add_argument(
        "--guidance", type=float, help="FLUX.1: distilled guidance; Chroma: CFG scale (default: per model)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-ratio", type=float, help="beta of eq. 7 in [0, 1] (default: per model)")
    parser.add_argument("--inject-steps", type=int, help="steps with regional control (default: per model)")
    parser.add_argument("--double-interval", type=int, help="inject in every k-th double block")
    parser.add_argument("--single-interval", type=int, help="inject in every k-th single block")
    parser.add_argument("--num-images", type=int, default=1)
    parser.add_argument("--dtype", choices=["auto", "bfloat16", "float16", "float32"], default="auto")
    parser.add_argument("--cpu-offload", action="store_true", help="model CPU offload (for 24 GB cards)")
    parser.add_argument(
        "--init-image",
        type=Path,
        help="image-to-image (FLUX.1): start from this image, resized to the layout",
    )
    parser.add_argument(
        "--strength",
        type=float,
        help="with --init-image: share of the steps that run, in [0, 1] (default 0.6)",
    )
    parser.add_argument(
        "--mask-image", type=Path, help="with --init-image: inpaint (FLUX.1) where this mask is white"
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("out.png"))


def run(args: argparse.Namespace) -> int:
    try:
        layout = Layout.model_validate_json(args.layout.read_text())
    except OSError as exc:
        print(f"error: cannot read {args.layout}: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"error: invalid layout in {args.layout}:\n{exc}", file=sys.stderr)
        return 2

    try:
        image_inputs = read_image_inputs(args)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import torch

    from regional.families import image_pipeline_class
    from regional.loading import load_pipeline
    from regional.overlay import draw_layout

    pipe = load_pipeline(args.model, dtype=args.dtype, cpu_offload=args.cpu_offload)
    try:
        if image_inputs:
            task = "inpaint" if "mask_image" in image_inputs else "img2img"
            pipe = image_pipeline_class(pipe.family, task).from_pipe(pipe)
        pipe.set_progress_bar_config(disable=False, desc="sampling")
        images = pipe(
            **image_inputs,
            layout=layout,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            base_ratio=args.base_ratio,
            inject_steps=args.inject_steps,
            double_inject_interval=args.double_interval,
            single_inject_interval=args.single_interval,
            num_images_per_prompt=args.num_images,
            generator=torch.Generator().manual_seed(args.seed),
        ).images
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        path = args.output if index == 0 else args.output.with_stem(f"{args.output.stem}-{index}")
        image.save(path)
        overlay = path.with_suffix(".layout.png")
        draw_layout(layout, image).save(overlay)
        print(json.dumps({"image": str(path), "layout_overlay": str(overlay)}))
    return 0


def read_image_inputs(args: argparse.Namespace) -> dict:
    """``--init-image``, ``--strength`` and ``--mask-image`` as the image pipelines' arguments ({} without)."""
    if args.init_image is None:
        if args.strength is not None or args.mask_image is not None:
            raise ValueError("--strength and --mask-image need --init-image")
        return {}
    from PIL import Image

    inputs = {"image": Image.open(args.init_image).convert("RGB")}
    if args.strength is not None:
        inputs["strength"] = args.strength
    if args.mask_image is not None:
        inputs["mask_image"] = Image.open(args.mask_image).convert("L")
    return inputs
