"""``regional generate``: one layout JSON in, one PNG (plus a layout overlay PNG) out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from regional.layout import Layout

HELP = "Generate an image from a layout JSON file."


def _model_names() -> list[str]:
    """Every family's built-in tiny models and model aliases, from the registry (torch-free)."""
    from regional.families import families

    found = families().values()
    return [name for family in found for name in family.tiny_models] + [
        alias for family in found for alias in family.aliases
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layout", required=True, type=Path, help="layout JSON file (see README)")
    parser.add_argument(
        "--model",
        default="auto",
        help=f"auto (dev on a GPU, else the toy model), toy, {', '.join(_model_names())}, a Hub id or a local "
        "folder of a supported family (FLUX.1 and its Control models, Chroma, SD3.5, FLUX.2, Qwen-Image)",
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
        "--init-image", type=Path, help="image-to-image: start from this image, resized to the layout"
    )
    parser.add_argument(
        "--strength",
        type=float,
        help="with --init-image: share of the steps that run, in (0, 1] (default 0.6)",
    )
    parser.add_argument(
        "--mask-image",
        type=Path,
        help="with --init-image: inpaint where this mask (the init image's size) is white",
    )
    parser.add_argument(
        "--controlnet",
        action="append",
        default=[],
        metavar="ID_OR_PATH",
        help="a ControlNet of the model's family, FLUX.1 or SD3.5 (Hub id or folder); repeat for several, one --control-image each",
    )
    parser.add_argument(
        "--control-image",
        action="append",
        default=[],
        type=Path,
        help="the image a ControlNet follows (in --controlnet order), or a Control model's (FLUX.1 Canny/Depth)",
    )
    parser.add_argument(
        "--control-mode",
        action="append",
        type=int,
        help="a union ControlNet's mode; one, or one per ControlNet",
    )
    parser.add_argument(
        "--control-scale",
        action="append",
        type=float,
        help="ControlNet weight (default 1); one or per ControlNet",
    )
    parser.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="ID_OR_PATH[:WEIGHT]",
        help="a LoRA (Hub id, folder or .safetensors file) with its weight (default 1); repeat for several",
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
        conditioning_inputs = read_conditioning_inputs(args)
        loras = [parse_lora(text) for text in args.lora]
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import torch

    from regional.adapters import LoraSet
    from regional.loading import load_controlnet, load_pipeline
    from regional.overlay import draw_layout

    pipe = load_pipeline(args.model, dtype=args.dtype, cpu_offload=args.cpu_offload)
    try:
        controlnets = [load_controlnet(source, pipe) for source in args.controlnet]
        conditioning = conditioning_inputs(controlnets)
        if loras:
            LoraSet(pipe, max_loaded=len(loras)).activate(loras)
        pipe = conditioning.pipeline(pipe)
        pipe.set_progress_bar_config(disable=False, desc="sampling")
        images = pipe(
            **conditioning.arguments(),
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


def parse_lora(text: str):
    """``ID_OR_PATH[:WEIGHT]`` -> a ``LoraChoice`` named by its source."""
    from regional.adapters import LoraChoice

    source, _, weight = text.rpartition(":")
    try:
        return LoraChoice(name=source, source=source, weight=float(weight))
    except ValueError:  # no weight: the colon (if any) belongs to the source
        return LoraChoice(name=text, source=text)


def read_conditioning_inputs(args: argparse.Namespace):
    """The image options, read and checked before any model loads; returns a function of the loaded
    ControlNets giving the request's ``Conditioning``."""
    from PIL import Image

    from regional.conditioning import Conditioning, ControlInput

    if args.init_image is None and (args.strength is not None or args.mask_image is not None):
        raise ValueError("--strength and --mask-image need --init-image")
    init = Image.open(args.init_image).convert("RGB") if args.init_image else None
    mask = Image.open(args.mask_image).convert("L") if args.mask_image else None
    control_images = [Image.open(path).convert("RGB") for path in args.control_image]
    count = len(control_images)
    if args.controlnet and len(args.controlnet) != count:
        raise ValueError(
            f"{len(args.controlnet)} --controlnet for {count} --control-image: give one image each"
        )
    modes = per_control(args.control_mode, count, "--control-mode")
    scales = per_control(args.control_scale, count, "--control-scale")

    def conditioning(controlnets: list) -> Conditioning:
        nets = controlnets or [None] * count
        controls = tuple(
            ControlInput(image=image, controlnet=net, mode=mode, scale=1.0 if scale is None else scale)
            for image, net, mode, scale in zip(control_images, nets, modes, scales, strict=True)
        )
        conditioning = Conditioning(
            init_image=init, strength=args.strength, mask_image=mask, controls=controls
        )
        conditioning.check()
        return conditioning

    return conditioning


def per_control(values: list | None, count: int, flag: str) -> list:
    """One value per control image: none given, one for all, or one each."""
    if not values:
        return [None] * count
    if len(values) == 1:
        return values * count
    if len(values) != count:
        raise ValueError(f"{len(values)} {flag} for {count} control images: give one, or one each")
    return values
