"""``regional bench quality``: does regional prompting put the right thing in the right place?

Measured on the toy shapes world (``regional.toy``) with the committed toy FLUX model: scenes with 2, 3 and
4 objects, several noise seeds each, sampled with

- plain prompting (the base caption alone, ``inject_steps=0``),
- regional prompting with the ground-truth boxes (one region per object, its phrase as prompt),
- regional prompting with the layout of the offline planner (when one is installed: ``planner_method``),
- plain and regional prompting on the same scenes with their objects named in another order than the
  world's captions use (a model that binds by order rather than by position words fails these), and named
  without positions, in a shuffled order (only the layout can place them: explicit boxes with a plain
  caption),
- and, as a ceiling, the ground-truth renders passed through the model's VAE;

then, as harder scenes (``make_hard_scene``: 5 and 6 objects in boxes at arbitrary positions and sizes, some
touching, some overlapping, objects sharing a colour or a shape; captions without positions, since such boxes
have none), plain prompting, regional prompting with the ground-truth boxes and the VAE ceiling,

and scored by image analysis (``regional.toy.score``): per-object accuracy (right colour and shape in its
box), colour accuracy, scene accuracy (every object right; it and the object accuracy with their standard
errors over scenes), leakage (share of a region's pixels in another
region's colour) and seam (RGB step across region borders on background pixels). A sweep (on captions without
positions, where the base prompt alone does not place the objects) over base ratio,
injected steps and block intervals reproduces the paper's ablation (alignment versus seams); a few points
vary the distilled guidance scale.

Writes ``samples.png`` (prompt, layout, plain; plain and regional with the caption without positions) and
``sweep.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path

logger = logging.getLogger(__name__)

COUNTS = (2, 3, 4)
HARD_COUNTS = (5, 6)
"""Object counts of the harder scenes' rows."""
FULL = {"scenes": 48, "seeds": 4, "sweep_scenes": 8, "sweep_seeds": 2, "hard_scenes": 48, "hard_seeds": 2}
QUICK = {"scenes": 3, "seeds": 2, "sweep_scenes": 2, "sweep_seeds": 2, "hard_scenes": 2, "hard_seeds": 1}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="toy", help="'toy' (default), or a folder of a shapes-world model")
    parser.add_argument(
        "--quick", action="store_true", help="few scenes and a 3-point sweep (about a minute)"
    )
    parser.add_argument("--scenes", type=int, help="scenes per object count (default 48, quick 3)")
    parser.add_argument("--seeds", type=int, help="noise seeds per scene (default 4, quick 2)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's, 24)")
    parser.add_argument("--max-sequence-length", type=int, default=48, help="T5 tokens (the toy model's 48)")
    parser.add_argument(
        "--hard-scenes", type=int, help="harder scenes per object count (default 48, quick 2)"
    )
    parser.add_argument("--hard-seeds", type=int, help="noise seeds per harder scene (default 2, quick 1)")
    parser.add_argument(
        "--hard-only",
        action="store_true",
        help="only the harder scenes' rows (no main rows, sweep or figures)",
    )
    parser.add_argument("--no-sweep", action="store_true", help="skip the base-ratio / steps / blocks sweep")
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="instead: the mask ablation (M's blocks off, soft and feathered masks), --scenes x --seeds each",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1 is fastest for this tiny model on a busy box)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--out", type=Path, default=Path("bench-out/quality"), help="folder for the PNGs")


def sweep_settings(quick: bool):
    """The ablation grid: base ratio x injected steps at the default intervals, then interval variants."""
    from regional.toy.evaluate import Settings

    if quick:
        return [Settings(base_ratio=b, inject_steps=t) for b, t in ((0.0, 10), (0.2, 10), (0.6, 3))]
    grid = [Settings(base_ratio=b, inject_steps=t) for b in (0.0, 0.2, 0.4, 0.7) for t in (2, 5, 10, 24)]
    intervals = [
        Settings(double_inject_interval=d, single_inject_interval=s)
        for d, s in ((1, 1), (1, 4), (2, 2), (2, 4))
    ]
    guidance = [Settings(guidance_scale=g) for g in (1.0, 2.0, 5.0, 7.0)]  # 3.5 is the default (in the grid)
    return grid + intervals + [Settings(double_inject_interval=1, single_inject_interval=2)] + guidance


def ablation_settings() -> list:
    """The mask ablation (issue 20): the paper's hard M, each of its four blocks turned off, and soft masks
    (a finite logit bias instead of -inf), one feathered at region borders; at the default schedule."""
    from regional.masks import MaskVariant
    from regional.toy.evaluate import Settings

    variants = [
        MaskVariant(),
        MaskVariant(image_to_image=False),
        MaskVariant(image_to_text=False),
        MaskVariant(text_to_image=False),
        MaskVariant(text_to_text=False),
        MaskVariant(bias=8.0),
        MaskVariant(bias=4.0),
        MaskVariant(bias=2.0),
        MaskVariant(bias=4.0, feather=1),
    ]
    return [Settings(region_mask=None if variant.is_paper else variant) for variant in variants]


ABLATION_SCENES = {"unplaced": (2, 4), "world": (2, 4), "hard": (5,)}
"""The ablation's scene sets and their object counts: captions without positions (only the layout places the
objects: alignment), with them (shape quality against plain prompting), and the harder scenes (5 objects in
arbitrary, touching and overlapping boxes)."""


def ablation(pipe, sizes: dict, args) -> list[dict]:
    """Each mask variant on ground-truth boxes, on every set of ``ABLATION_SCENES``."""
    from regional.toy.evaluate import Summary, bench_scenes, evaluate, ground_truth, hard_bench_scenes

    def scenes_of(kind: str, count: int):
        if kind == "hard":
            return hard_bench_scenes(count, sizes["scenes"])
        return bench_scenes(count, sizes["scenes"], kind)

    scenes = {
        (kind, count): scenes_of(kind, count) for kind, counts in ABLATION_SCENES.items() for count in counts
    }
    results = []
    for settings in ablation_settings():
        row = {"settings": settings.label()}
        for captions, counts in ABLATION_SCENES.items():
            total = Summary()
            for count in counts:
                summary = evaluate(
                    pipe, scenes[captions, count], sizes["seeds"], ground_truth, settings, args.steps,
                    args.max_sequence_length,
                )  # fmt: skip
                row[f"{captions} {count}"] = summary.as_dict()
                total.merge(summary)
            row[captions] = total.as_dict()
        results.append(row)
    return results


def format_ablation(results: list[dict]) -> str:
    head = (f"{'mask (gt boxes, 2+4 objects)':<34}{'unplaced scene %':>18}{'obj %':>7}{'world scene %':>16}"
            f"{'obj %':>7}{'seam':>6}{'hard (5) obj %':>16}{'seam':>6}")  # fmt: skip
    lines = [head, "-" * len(head)]

    def seam(row: dict) -> str:
        return "-" if row["seam"] is None else f"{row['seam']:.2f}"

    for r in results:
        unplaced, world, hard = r["unplaced"], r["world"], r["hard"]
        lines.append(f"{r['settings']:<34}{_percent_se(unplaced):>18}{_percent(unplaced['object_accuracy']):>7}"
                     f"{_percent_se(world):>16}{_percent(world['object_accuracy']):>7}{seam(world):>6}"
                     f"{_percent_se(hard, 'object_accuracy'):>16}{seam(hard):>6}")  # fmt: skip
    return "\n".join(lines)


def planner_method(width: int, height: int):
    """``scene -> Layout | None`` from the offline layout planner registered under the
    ``regional.layout_planners`` entry-point group (the ``planner`` package's), or None when none is."""
    from importlib.metadata import entry_points

    planners = {entry.name: entry for entry in entry_points(group="regional.layout_planners")}
    try:
        plan = planners["offline"].load()
    except (KeyError, ImportError) as exc:
        logger.warning("planner row unavailable: no offline layout planner installed (%s)", exc)
        return None

    def method(scene):
        try:
            return plan(scene.caption, width, height)
        except Exception as exc:  # any planner failure is a failed layout, counted in the table
            logger.warning("planner failed on %r: %s", scene.caption, exc)
            return None

    return method


def main_table(pipe, sizes: dict, args) -> dict:
    """Rows of the table: method -> object count -> summary. The "reordered" rows use the same scenes with
    their objects named in another order than the world's captions (does the model bind by position words?),
    the "unplaced" rows name them without positions in a shuffled order (only the layout says where)."""
    from regional.toy.evaluate import PLAIN, Settings, bench_scenes, evaluate, ground_truth, reconstruction
    from regional.toy.world import SIZE

    planner = planner_method(SIZE, SIZE)
    methods = {
        "plain": ("world", ground_truth, PLAIN),
        "regional (gt boxes)": ("world", ground_truth, Settings()),
        "regional (planner)": ("world", planner, Settings()),
        "plain, reordered": ("reordered", ground_truth, PLAIN),
        "regional, reordered": ("reordered", ground_truth, Settings()),
        "plain, unplaced": ("unplaced", ground_truth, PLAIN),
        "regional, unplaced": ("unplaced", ground_truth, Settings()),
    }
    rows: dict = {"vae ceiling": {}}
    for count in COUNTS:
        rows["vae ceiling"][count] = reconstruction(pipe, bench_scenes(count, sizes["scenes"])).as_dict()
        for name, (captions, method, settings) in methods.items():
            if method is None:
                rows.setdefault(name, {})[count] = None
                continue
            scenes = bench_scenes(count, sizes["scenes"], captions)
            summary = evaluate(
                pipe, scenes, sizes["seeds"], method, settings, args.steps, args.max_sequence_length
            )
            rows.setdefault(name, {})[count] = summary.as_dict()
    return rows


def hard_table(pipe, sizes: dict, args) -> dict:
    """Rows of the harder scenes: method -> object count -> summary. Their captions name no positions (the
    boxes are arbitrary), so plain prompting has only the order of a shuffled list to go by; the ceiling shows
    that the VAE keeps the small shapes and the scorer reads them, overlaps and shared colours included."""
    from regional.toy.evaluate import (
        PLAIN,
        Settings,
        evaluate,
        ground_truth,
        hard_bench_scenes,
        reconstruction,
    )

    rows: dict = {"vae ceiling": {}, "plain": {}, "regional (gt boxes)": {}}
    for count in HARD_COUNTS:
        scenes = hard_bench_scenes(count, sizes["hard_scenes"])
        rows["vae ceiling"][count] = reconstruction(pipe, scenes).as_dict()
        for name, settings in (("plain", PLAIN), ("regional (gt boxes)", Settings())):
            summary = evaluate(pipe, scenes, sizes["hard_seeds"], ground_truth, settings, args.steps,
                               args.max_sequence_length)  # fmt: skip
            rows[name][count] = summary.as_dict()
    return rows


def sweep(pipe, sizes: dict, args) -> list[dict]:
    from regional.toy.evaluate import Summary, bench_scenes, evaluate, ground_truth

    results = []
    # Captions without positions: there only the layout says where things go, so the knobs matter.
    scenes = {count: bench_scenes(count, sizes["sweep_scenes"], "unplaced") for count in (2, 4)}
    for settings in sweep_settings(args.quick):
        total = Summary()
        per_count = {}
        for count, group in scenes.items():
            summary = evaluate(
                pipe,
                group,
                sizes["sweep_seeds"],
                ground_truth,
                settings,
                args.steps,
                args.max_sequence_length,
            )
            per_count[count] = summary.as_dict()
            total.merge(summary)
        knobs = {key: value for key, value in asdict(settings).items() if value is not None}
        results.append(
            {"settings": settings.label(), "knobs": knobs, **total.as_dict(), "by_count": per_count}
        )
    return results


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:5.1f}"


def _percent_se(row: dict, key: str = "scene_accuracy") -> str:
    """An accuracy (``key``: scene by default) with its standard error over scenes, e.g. "82.8 ±4.7"."""
    se = row.get(f"{key}_se")
    return _percent(row[key]) + ("" if se is None else f" ±{100 * se:.1f}")


def format_table(rows: dict, counts: tuple[int, ...] = COUNTS) -> str:
    head = f"{'method':<22}{'objects':>8}{'obj acc %':>13}{'colour %':>10}{'scene %':>13}{'leak %':>8}{'seam':>7}"
    lines = [head, "-" * len(head)]
    for count in counts:
        for name, by_count in rows.items():
            row = by_count[count]
            if row is None:
                lines.append(f"{name:<22}{count:>8}   unavailable (planner not importable)")
                continue
            seam = "-" if row["seam"] is None else f"{row['seam']:.1f}"
            fail = f"  ({row['failed_layouts']} layouts failed)" if row["failed_layouts"] else ""
            lines.append(
                f"{name:<22}{count:>8}{_percent_se(row, 'object_accuracy'):>13}{_percent(row['colour_accuracy']):>10}"
                f"{_percent_se(row):>13}{_percent(row['leakage']):>8}{seam:>7}{fail}"
            )
    return "\n".join(lines)


def hard_heading(sizes: dict) -> str:
    return (f"harder scenes (arbitrary, touching and overlapping boxes, shared colours and shapes, captions "
            f"without positions), {sizes['hard_scenes']} scenes x {sizes['hard_seeds']} seeds per object count:")  # fmt: skip


def _by_count_keys(rows: dict) -> dict:
    """method -> object count -> summary, with the counts as strings (JSON object keys)."""
    return {name: {str(k): v for k, v in by_count.items()} for name, by_count in rows.items()}


def format_sweep(results: list[dict]) -> str:
    head = f"{'settings (2+4 objects, unplaced, gt boxes)':<52}{'obj acc %':>10}{'scene %':>9}{'leak %':>8}{'seam':>7}"
    lines = [head, "-" * len(head)]
    for r in results:
        seam = "-" if r["seam"] is None else f"{r['seam']:.1f}"
        lines.append(f"{r['settings']:<52}{_percent(r['object_accuracy']):>10}{_percent(r['scene_accuracy']):>9}"
                     f"{_percent(r['leakage']):>8}{seam:>7}")  # fmt: skip
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import torch

    from regional.loading import load_pipeline
    from regional.toy.figures import plot_sweep, sample_grid

    torch.set_num_threads(args.threads)
    sizes = dict(QUICK if args.quick else FULL)
    given = {key: getattr(args, key) for key in ("scenes", "seeds", "hard_scenes", "hard_seeds")}
    sizes.update({k: v for k, v in given.items() if v is not None})
    start = time.monotonic()
    try:
        pipe = load_pipeline(args.model, dtype="float32", device="cpu")
    except (OSError, ValueError) as exc:
        print(
            f"error: cannot load model {args.model!r}: {exc} (train it with `make toy-model`)",
            file=sys.stderr,
        )
        return 2
    pipe.set_progress_bar_config(disable=True)
    if args.ablation:
        results = ablation(pipe, sizes, args)
        seconds = round(time.monotonic() - start, 1)
        if args.json:
            print(json.dumps({"model": args.model, "sizes": sizes, "ablation": results, "seconds": seconds}))
        else:
            print(f"model {args.model}, {sizes['scenes']} scenes x {sizes['seeds']} seeds per object "
                  f"count and caption style, {seconds} s")  # fmt: skip
            print(format_ablation(results))
        return 0
    if args.hard_only:
        hard = hard_table(pipe, sizes, args)
        seconds = round(time.monotonic() - start, 1)
        if args.json:
            report = {"model": args.model, "sizes": sizes, "hard": _by_count_keys(hard), "seconds": seconds}
            print(json.dumps(report, indent=2))
        else:
            print(f"model {args.model}, {seconds} s; {hard_heading(sizes)}")
            print(format_table(hard, HARD_COUNTS))
        return 0
    rows = main_table(pipe, sizes, args)
    hard = hard_table(pipe, sizes, args)
    results = [] if args.no_sweep else sweep(pipe, sizes, args)
    args.out.mkdir(parents=True, exist_ok=True)
    # One scene per object count in the quick grid pays for the harder scenes' rows (quick stays ~2 minutes).
    grid_scenes = 1 if args.quick else 2
    sample_grid(pipe, args.out / "samples.png", args.steps, args.max_sequence_length, grid_scenes)
    if results:
        plot_sweep(results, args.out / "sweep.png")
    report = {
        "model": args.model,
        "sizes": sizes,
        "steps": args.steps or pipe.sampling_defaults.num_inference_steps,
        "defaults": {**pipe.sampling_defaults.__dict__, "max_sequence_length": args.max_sequence_length},
        "results": _by_count_keys(rows),
        "hard": _by_count_keys(hard),
        "sweep": results,
        "figures": [str(args.out / "samples.png")] + ([str(args.out / "sweep.png")] if results else []),
        "seconds": round(time.monotonic() - start, 1),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"model {args.model}, {sizes['scenes']} scenes x {sizes['seeds']} seeds per object count, "
              f"{report['steps']} steps, {report['seconds']} s")  # fmt: skip
        print(format_table(rows))
        print(f"\n{hard_heading(sizes)}")
        print(format_table(hard, HARD_COUNTS))
        if results:
            print()
            print(format_sweep(results))
        print("\nfigures: " + ", ".join(report["figures"]))
    return 0
