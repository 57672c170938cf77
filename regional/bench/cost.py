"""``regional bench cost``: what regional prompting costs over plain FLUX, side by side with alternatives.

Methods, each a whole generation with the same seed and layout:
  plain     diffusers' FluxPipeline with the base prompt;
  regional  this project's sampler with its defaults (real regional tokens + margin, grouped attention);
  flex      the same with the FlexAttention path (one block-sparse kernel call, for compiled transformers);
  authors   the authors' formulation: every regional prompt padded to 512 tokens, one dense boolean mask;
  rpg       RPG-style: one full-resolution pass per region (and the background) in each injected step,
            composited by region and blended with the base pass (beta), as the paper's comparison did.

Measures, each reported as a ratio to plain:
  flops     counted without weights on the meta device at the real FLUX.1-dev size (19 double + 38 single
            blocks, hidden 3072, 24 heads, 512 T5 tokens), whole denoising loop (text encoders and VAE excluded,
            the same for all methods but for the regional prompts' T5 encoding);
  wall      wall time of the denoising loop on this machine, by default for a scaled-down FLUX with the
            same token counts (2 double + 4 single blocks, 2 heads of 128); with ``--model flux-dev`` (CUDA)
            for FLUX.1-dev's transformer itself, random weights in bfloat16 (text encoders and VAE stay tiny:
            they run once per image and are the same for every method);
  peak_mem  CUDA: peak allocated memory (weights included); CPU: peak growth of the process's resident
            memory during the generation (weights excluded, so differences look larger than on a GPU).

Variants (``--variants eager compiled``, ``--sizes``): every method eager and with the transformer compiled
(``torch.compile``, Inductor), at each canvas size; each record names its variant. Every method is warmed up
on the layout before it is timed (a compiled transformer compiles there); CUDA times with events.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import json
import math
import random
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

METHODS = ("plain", "regional", "flex", "authors", "rpg")

COMPILE_OPTIONS: dict = {}
"""``transformer.compile`` options of the compiled variant (Inductor by default)."""

SCALED_TRANSFORMER = {
    "num_layers": 2,
    "num_single_layers": 4,
    "attention_head_dim": 128,
    "num_attention_heads": 2,
    "axes_dims_rope": (16, 56, 56),
}
"""The wall-time model: FLUX's head size and token counts, far fewer heads and blocks."""

TEXT_TOKENS = 512
REGION_PROMPT_WORDS = 31
"""Words per regional prompt: with EOS, 32 tokens, a typical one-sentence description."""


@dataclass(frozen=True)
class Sweep:
    width: int
    height: int
    steps: int
    inject_steps: int
    region_counts: tuple[int, ...]


FULL = Sweep(1024, 1024, 24, 10, (1, 2, 4, 8, 16))
QUICK = Sweep(256, 256, 4, 2, (1, 4, 16))
"""Wall time only; FLOPs are always counted at FULL's size and schedule for the same region counts."""


@dataclass
class Record:
    method: str
    regions: int
    flops: float
    wall_s: float
    peak_mem_bytes: int
    compiled: bool = False
    dtype: str = "float32"
    width: int = 0
    height: int = 0
    flops_ratio: float = 1.0
    wall_ratio: float = 1.0
    peak_mem_ratio: float = 1.0


def bench_layout(regions: int, width: int, height: int, seed: int = 0):
    """``regions`` boxes on a grid, each 80% of its cell (so a background region remains)."""
    from regional.layout import Layout, Region
    from regional.testing import TINY_WORDS

    rng = random.Random(seed + regions)
    cols = math.ceil(math.sqrt(regions))
    rows = math.ceil(regions / cols)
    boxes = []
    for index in range(regions):
        row, col = divmod(index, cols)
        x0, y0 = col / cols, row / rows
        pad_x, pad_y = 0.1 / cols, 0.1 / rows
        boxes.append((x0 + pad_x, y0 + pad_y, x0 + 1 / cols - pad_x, y0 + 1 / rows - pad_y))
    return Layout(
        width=width,
        height=height,
        base_prompt=" ".join(rng.choices(TINY_WORDS, k=REGION_PROMPT_WORDS)),
        regions=[
            Region(prompt=" ".join(rng.choices(TINY_WORDS, k=REGION_PROMPT_WORDS)), box=b) for b in boxes
        ],
    )


# --- FLOPs at the real size -------------------------------------------------------------------------------


@functools.cache
def meta_family_pipeline(family: str):
    """The family's regional pipeline around its real-size transformer on the meta device (no weights), with
    a tokenizer of one token per word (in the family's chat template, if any) and no text encoders or VAE:
    enough for the pipeline's own stages to prepare latents, schedule, prompt inputs and regional state,
    shapes only."""
    import inspect

    import diffusers
    import torch

    from regional.families import family_named, regional_pipeline_class
    from regional.testing import word_tokenizer

    known = family_named(family)
    transformer_class, config, _ = known.real_size
    with torch.device("meta"):
        transformer = getattr(diffusers, transformer_class)(**config)
    pipeline_class = regional_pipeline_class(known.stock_pipelines[0])
    components = dict.fromkeys(inspect.signature(pipeline_class.__init__).parameters.keys() - {"self"})
    components.update(
        {name: word_tokenizer() for name in components if name.startswith("tokenizer")},
        transformer=transformer,
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=family != "sd3"),
    )
    pipe = pipeline_class(**components)
    pipe.install_regional_processors()
    return pipe


def family_forward_flops(
    pipe, width: int, height: int, text_tokens: int, layout=None, lengths=None, kind: str = "grouped"
) -> int:
    """FLOPs of one transformer pass of the pipeline's loop (``predict_noise``) at ``width`` x ``height``: the
    plain pass on ``text_tokens`` base tokens, or, given ``layout``, an injected pass with its regional prompts
    of ``lengths`` tokens and the ``kind`` of regional attention (the family's default block schedule)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from regional.masks import layout_regions
    from regional.pipeline import PromptEmbeds, regional_attention_state

    config = pipe.transformer.config
    denoising = pipe.prepare_denoising(1, 1, height, width, torch.float32, "meta", None, None, None)
    pooled = getattr(config, "pooled_projection_dim", None)
    with torch.device("meta"):
        prompt = PromptEmbeds(
            embeds=torch.empty(1, text_tokens, config.joint_attention_dim),
            pooled=None if pooled is None else torch.empty(1, pooled),
        )
    attention_kwargs = {}
    if layout is not None:
        _, membership = layout_regions(layout)
        state = regional_attention_state(
            membership,
            lengths,
            text_tokens,
            kind,
            pipe.sampling_defaults.base_ratio,
            *pipe.block_schedule(),
            "meta",
        )
        with torch.device("meta"):
            region_embeds = torch.empty(1, sum(lengths), config.joint_attention_dim)
            prompt = prompt.followed_by(region_embeds, torch.cat([torch.arange(n) for n in lengths]))
        attention_kwargs = {"regional_state": state}
    image_tokens = (width // 16) * (height // 16)
    inputs = pipe.transformer_inputs(prompt, image_tokens, pipe.sampling_defaults.guidance_scale)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        pipe.predict_noise(
            denoising.latents, denoising.timesteps[0], denoising.image_ids, inputs, attention_kwargs
        )
    return counter.get_total_flops()


def family_flops(family: str, regions: int, width: int = 1024, height: int = 1024) -> dict[str, float]:
    """Per denoising step at the family's real size and defaults: plain FLOPs, and the ratio of an injected
    step with ``regions`` regions (grouped attention, the family's token margin; and the authors' formulation,
    padded prompts and a dense mask) to a plain one."""
    from regional.defaults import default_token_margin
    from regional.masks import layout_regions

    pipe = meta_family_pipeline(family)
    defaults = pipe.sampling_defaults
    layout = bench_layout(regions, width, height)
    prompts, _ = layout_regions(layout)
    # the base prompt as the family encodes it: padded (most families) or its own tokens (Qwen-Image)
    text_tokens = pipe.regional_token_lengths([layout.base_prompt], defaults.max_sequence_length, None)[0]
    plain = family_forward_flops(pipe, width, height, text_tokens)
    result = {"plain_tflops": plain / 1e12}
    for method, margin, kind in (
        ("regional", default_token_margin(family), "grouped"),
        ("authors", None, "dense"),
    ):
        lengths = pipe.regional_token_lengths(prompts, defaults.max_sequence_length, margin)
        result[method] = family_forward_flops(pipe, width, height, text_tokens, layout, lengths, kind) / plain
    return result


def generation_flops(
    regions: int, region_lengths: dict[str, list[int]], sweep: Sweep = FULL
) -> dict[str, float]:
    """FLOPs of the whole denoising loop for every method at FLUX.1-dev size, from per-forward counts."""
    pipe = meta_family_pipeline("flux")
    layout = bench_layout(regions, sweep.width, sweep.height)
    plain = family_forward_flops(pipe, sweep.width, sweep.height, TEXT_TOKENS)
    rest = sweep.steps - sweep.inject_steps
    result = {"plain": sweep.steps * plain}
    for method, kind in (("regional", "grouped"), ("authors", "dense")):
        lengths = region_lengths[method]
        injected = family_forward_flops(pipe, sweep.width, sweep.height, TEXT_TOKENS, layout, lengths, kind)
        result[method] = sweep.inject_steps * injected + rest * plain
    result["flex"] = result["regional"]  # the same M; the kernel skips empty blocks of 128, not single tokens
    passes = len(region_lengths["regional"]) + 1  # one per region (background included) plus the base pass
    result["rpg"] = sweep.inject_steps * passes * plain + rest * plain
    return result


# --- wall time and memory on this machine ------------------------------------------------------------------


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak, or growth of resident memory sampled every 2 ms on CPU."""

    def __init__(self, device: str):
        self.device = device
        self.peak = 0

    def _rss(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss() - self._baseline)
            time.sleep(0.002)

    def __enter__(self) -> PeakMemory:
        import torch

        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            return self
        with contextlib.suppress(OSError):  # give freed heap back to the OS so the baseline is honest
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        self._baseline = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss() - self._baseline)


def rpg_generate(pipe, layout, steps: int, inject_steps: int, base_ratio: float, generator):
    """RPG-style regional sampling: a full pass per region in each injected step, composited, then blended."""
    import torch

    from regional.masks import layout_regions

    device = pipe._execution_device
    base, pooled, text_ids = pipe.encode_prompt(
        layout.base_prompt, None, device=device, max_sequence_length=TEXT_TOKENS
    )
    prompts, membership = layout_regions(layout)
    region_embeds = [
        pipe.encode_prompt(p, None, device=device, max_sequence_length=TEXT_TOKENS)[0] for p in prompts
    ]
    weights = torch.from_numpy(membership).to(device, base.dtype)
    weights = (weights / weights.sum(dim=0, keepdim=True))[
        :, None, :, None
    ]  # (R, 1, HW, 1), overlaps averaged
    latents, image_ids = pipe.prepare_latents(
        1,
        pipe.transformer.config.in_channels // 4,
        layout.height,
        layout.width,
        base.dtype,
        device,
        generator,
    )
    timesteps = pipe.prepare_timesteps(steps, layout.height, layout.width, device)
    guidance = torch.full([1], 3.5, device=device) if pipe.transformer.config.guidance_embeds else None

    def predict(embeds, t):
        return pipe.transformer(
            hidden_states=latents,
            timestep=t.expand(1).to(latents.dtype) / 1000,
            guidance=guidance,
            pooled_projections=pooled,
            encoder_hidden_states=embeds,
            txt_ids=text_ids,
            img_ids=image_ids,
            return_dict=False,
        )[0]

    pipe.scheduler.set_begin_index(0)
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            noise = predict(base, t)
            if i < inject_steps:
                composite = (weights * torch.stack([predict(e, t) for e in region_embeds])).sum(dim=0)
                noise = (base_ratio * noise + (1 - base_ratio) * composite).to(latents.dtype)
            latents = pipe.scheduler.step(noise, t, latents, return_dict=False)[0]
    return latents


def _run_method(method: str, pipe, plain_pipe, layout, sweep: Sweep, seed: int):
    import torch

    generator = torch.Generator().manual_seed(seed)
    common = {"num_inference_steps": sweep.steps, "generator": generator, "output_type": "latent"}
    if method == "plain":
        return plain_pipe(
            prompt=layout.base_prompt, width=layout.width, height=layout.height, guidance_scale=3.5, **common
        ).images
    if method == "rpg":
        return rpg_generate(pipe, layout, sweep.steps, sweep.inject_steps, 0.2, generator)
    options = {
        "regional": {},
        "flex": {"region_attention": "flex"},
        "authors": {"region_token_margin": None, "region_attention": "dense"},
    }[method]
    return pipe(
        layout=layout, inject_steps=sweep.inject_steps, guidance_scale=3.5, **common, **options
    ).images


WALL_MODELS = ("scaled", "flux-dev")


def wall_time_components(model: str, device: str) -> dict:
    """FluxPipeline components for the wall-time runs: ``scaled`` (float32, on CPU until moved) or
    ``flux-dev`` (FLUX.1-dev's transformer, random bfloat16 weights made on the GPU, about 24 GB)."""
    import torch

    from regional.testing import flux_vae, tiny_flux_components, tiny_text_encoders

    if model == "scaled":
        return tiny_flux_components(seed=0, **SCALED_TRANSFORMER)
    if model != "flux-dev" or not device.startswith("cuda"):
        raise ValueError(f"wall-time model must be one of {WALL_MODELS} ('flux-dev' on CUDA), got {model!r}")
    from diffusers import FluxTransformer2DModel

    from regional.families.flux import FLUX_DEV_TRANSFORMER

    components = tiny_flux_components(seed=0)
    torch.manual_seed(0)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            components["transformer"] = FluxTransformer2DModel(**FLUX_DEV_TRANSFORMER).eval()
            components["text_encoder"], components["text_encoder_2"] = (
                encoder.eval()
                for encoder in tiny_text_encoders(
                    components["tokenizer"], components["tokenizer_2"],
                    dim=FLUX_DEV_TRANSFORMER["pooled_projection_dim"],
                    t5_dim=FLUX_DEV_TRANSFORMER["joint_attention_dim"],
                )
            )  # fmt: skip
            components["vae"] = flux_vae((8, 8, 8, 8), latent_channels=16, norm_num_groups=4).eval()
    finally:
        torch.set_default_dtype(default_dtype)
    return components


class Timer:
    """Seconds of a block: CUDA events on the GPU's stream, else the wall clock."""

    def __init__(self, device: str):
        self.device = device
        self.seconds = 0.0

    def __enter__(self) -> Timer:
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            self._start, self._end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            self._start.record()
        else:
            self._begin = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        import torch

        if self.device == "cuda":
            self._end.record()
            torch.cuda.synchronize()
            self.seconds = self._start.elapsed_time(self._end) / 1000
        else:
            self.seconds = time.perf_counter() - self._begin


def side_by_side_pipelines(model: str, device: str, compiled: bool):
    """(regional pipeline, plain FluxPipeline) sharing one set of ``wall_time_components``; the transformer
    compiled (``COMPILE_OPTIONS``) when asked. Progress bars off."""
    from diffusers import FluxPipeline

    from regional.families.flux import RegionalFluxPipeline

    pipe = RegionalFluxPipeline(**wall_time_components(model, device)).to(device)
    if compiled:
        pipe.transformer.compile(**COMPILE_OPTIONS)
    plain_pipe = FluxPipeline(**pipe.components)
    for each in (pipe, plain_pipe):
        each.set_progress_bar_config(disable=True)
    return pipe, plain_pipe


def measure(
    sweep: Sweep, device: str, seed: int = 0, progress=None, model: str = "scaled", compiled: bool = False
) -> list[Record]:
    """Every method at every region count of ``sweep``, eager or with the transformer compiled."""
    from regional.defaults import default_token_margin
    from regional.masks import layout_regions

    pipe, plain_pipe = side_by_side_pipelines(model, device, compiled)
    variant = {
        "compiled": compiled,
        "dtype": str(pipe.transformer.dtype).removeprefix("torch."),
        "width": sweep.width,
        "height": sweep.height,
    }
    warm_up = Sweep(sweep.width, sweep.height, 2, 1, ())  # an injected step and a plain one
    records = []
    for regions in sweep.region_counts:
        layout = bench_layout(regions, sweep.width, sweep.height, seed)
        prompts, _ = layout_regions(bench_layout(regions, FULL.width, FULL.height, seed))
        lengths = {
            "regional": pipe.regional_token_lengths(prompts, TEXT_TOKENS, default_token_margin("flux")),
            "authors": pipe.regional_token_lengths(prompts, TEXT_TOKENS, None),
        }
        flops = generation_flops(regions, lengths)
        for method in METHODS:
            _run_method(method, pipe, plain_pipe, layout, warm_up, seed)
            with PeakMemory(device) as memory, Timer(device) as timer:
                _run_method(method, pipe, plain_pipe, layout, sweep, seed)
            wall = timer.seconds
            records.append(Record(method, regions, flops[method], wall, memory.peak, **variant))
            if progress:
                progress.update(1)
                progress.set_postfix_str(f"{regions} regions, {method}: {wall:.1f}s")
    for record in records:
        plain = next(r for r in records if r.regions == record.regions and r.method == "plain")
        record.flops_ratio = record.flops / plain.flops
        record.wall_ratio = record.wall_s / plain.wall_s
        record.peak_mem_ratio = record.peak_mem_bytes / max(plain.peak_mem_bytes, 1)
    return records


# --- output ------------------------------------------------------------------------------------------------


def format_table(records: list[Record]) -> str:
    lines = [
        f"{'variant':<18} {'regions':>7}  {'method':<9} {'flops':>7} {'wall':>7} {'peak mem':>9} {'wall s':>8}"
    ]
    for r in records:
        variant = f"{'compiled' if r.compiled else 'eager'} {r.width}x{r.height}"
        lines.append(
            f"{variant:<18} {r.regions:>7}  {r.method:<9} {r.flops_ratio:>6.2f}x {r.wall_ratio:>6.2f}x"
            f" {r.peak_mem_ratio:>8.2f}x {r.wall_s:>8.2f}"
        )
    return "\n".join(lines)


def plot(records: list[Record], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, field, label in zip(
        axes, ("flops_ratio", "wall_ratio", "peak_mem_ratio"), ("FLOPs (FLUX.1-dev size)", "wall time", "peak memory"),
        strict=True,
    ):  # fmt: skip
        for method in METHODS:
            points = [(r.regions, getattr(r, field)) for r in records if r.method == method]
            ax.plot(*zip(*points, strict=True), marker="o", label=method)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("regions")
        ax.set_ylabel(f"{label}, x plain FLUX")
        ax.axhline(1.0, color="gray", lw=0.5)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_family_flops(region_counts: list[int], as_json: bool) -> int:
    """``--families``: per family and region count, the plain step's TFLOPs and the injected step's ratios."""
    from regional.families import families

    rows = [
        {
            "family": family.name,
            "checkpoint": family.real_size[2],
            "regions": regions,
            **family_flops(family.name, regions),
        }
        for family in families().values()
        if family.real_size is not None
        for regions in region_counts
    ]
    if as_json:
        print(json.dumps(rows))
        return 0
    print("# FLOPs of one injected step over a plain step, real sizes, 1024x1024, each family's defaults")
    print(
        f"{'family':<9} {'checkpoint':<12} {'regions':>7} {'plain TFLOPs':>12} {'regional':>9} {'authors':>8}"
    )
    for row in rows:
        print(
            f"{row['family']:<9} {row['checkpoint']:<12} {row['regions']:>7} {row['plain_tflops']:>12.1f}"
            f" {row['regional']:>8.3f}x {row['authors']:>7.3f}x"
        )
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    parser.add_argument(
        "--quick", action="store_true", help="512 px, 6 steps, 1/4/16 regions (about a minute)"
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--model", choices=WALL_MODELS, default="scaled",
                        help="wall-time model: scaled-down FLUX, or FLUX.1-dev's transformer (random "
                             "bfloat16 weights, CUDA, about 24 GB)")  # fmt: skip
    parser.add_argument("--regions", type=int, nargs="+", help="region counts (default: the sweep's)")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=["eager", "compiled"],
        default=["eager"],
        help="run eager and/or with the transformer compiled (torch.compile, Inductor)",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        help="square canvas sizes in px (default: the sweep's, 1024 or --quick's)",
    )
    parser.add_argument("--plot", type=Path, default=Path("bench-cost.png"), help="PNG chart path")
    parser.add_argument(
        "--families",
        action="store_true",
        help="instead: FLOPs per injected step over a plain one for every family at its real size (meta "
        "device, no weights, 1024x1024), for 1, 4 and 16 regions or --regions",
    )


def run(args: argparse.Namespace) -> int:
    import sys

    import torch
    from tqdm import tqdm

    if args.families:
        return print_family_flops(args.regions or [1, 4, 16], args.json)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    sweep = QUICK if args.quick else FULL
    if args.regions:
        sweep = replace(sweep, region_counts=tuple(args.regions))
    sizes = args.sizes or [sweep.width]
    total = len(args.variants) * len(sizes) * len(sweep.region_counts) * len(METHODS)
    records = []
    with tqdm(total=total, desc="bench cost", file=sys.stderr) as progress:
        for variant in args.variants:
            for size in sizes:
                sized = replace(sweep, width=size, height=size)
                records += measure(
                    sized, device, progress=progress, model=args.model, compiled=variant == "compiled"
                )
    where = torch.cuda.get_device_name() if device == "cuda" else device
    first = records[0]
    title = (f"{first.width}x{first.height}, {sweep.steps} steps ({sweep.inject_steps} injected), "
             f"{'compiled' if first.compiled else 'eager'} {args.model} model on {where}")  # fmt: skip
    plot([r for r in records if (r.compiled, r.width) == (first.compiled, first.width)], args.plot, title)
    if args.json:
        print(json.dumps([asdict(r) for r in records]))
    else:
        print(f"# {title}; ratios to plain FLUX\n{format_table(records)}\n(plot: {args.plot})")
    return 0
