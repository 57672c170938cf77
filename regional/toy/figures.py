"""Figures of the quality benchmark: a sample grid and the alignment-versus-seams sweep plot (matplotlib)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from regional.layout import Layout
from regional.overlay import draw_layout
from regional.toy.evaluate import PLAIN, Settings, bench_scenes, sample

CELL = 256
"""Side in pixels of one image in the grid (the samples are scaled up without smoothing)."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scaled(layout: Layout, side: int) -> Layout:
    return layout.model_copy(update={"width": side, "height": side})


def sample_grid(pipe, path: Path, steps: int | None, max_sequence_length: int, per_count: int = 2) -> None:
    """Rows of (caption, ground-truth layout, plain sample, and plain / regional samples of the same scene
    captioned without positions) for 2, 3 and 4 objects."""
    plt = _pyplot()
    scenes = [
        pair
        for count in (2, 3, 4)
        for pair in zip(
            bench_scenes(count, per_count), bench_scenes(count, per_count, "unplaced"), strict=True
        )
    ]
    titles = ("layout", "plain", "plain, caption\nwithout positions", "regional, caption\nwithout positions")
    fig, axes = plt.subplots(len(scenes), 5, figsize=(12, 2.6 * len(scenes)))
    for row, ((scene, unplaced_scene), ax) in enumerate(zip(scenes, axes, strict=True)):
        layout, unplaced = scene.layout(), unplaced_scene.layout()
        images = [sample(pipe, lay, [row], settings, steps, max_sequence_length)[0]
                  for lay, settings in ((layout, PLAIN), (unplaced, PLAIN), (unplaced, Settings()))]  # fmt: skip
        big = [Image.fromarray(img).resize((CELL, CELL), Image.Resampling.NEAREST) for img in images]
        panels = [draw_layout(_scaled(layout, CELL)), *big]
        captions = [*textwrap.wrap(scene.caption, 34), "", "without positions:",
                    *textwrap.wrap(unplaced_scene.caption.removesuffix(f" {scene.background_phrase}"), 34)]  # fmt: skip
        ax[0].text(0, 0.5, "\n".join(captions), va="center", fontsize=7)
        for axis, panel, title in zip(ax[1:], panels, titles, strict=True):
            axis.imshow(np.asarray(panel))
            if row == 0:
                axis.set_title(title, fontsize=9)
        for axis in ax:
            axis.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_sweep(results: list[dict], path: Path) -> None:
    """The paper's ablation as curves: object accuracy and seam against injected steps, one line per base
    ratio; then the block-interval and guidance variants as bars against the defaults."""
    plt = _pyplot()
    fig, (acc_ax, seam_ax, bar_ax) = plt.subplots(1, 3, figsize=(15, 4.5))
    grid = [r for r in results if set(r["knobs"]) == {"base_ratio", "inject_steps"}]
    for ratio in sorted({r["knobs"]["base_ratio"] for r in grid}):
        line = sorted((r["knobs"]["inject_steps"], r) for r in grid if r["knobs"]["base_ratio"] == ratio)
        steps = [t for t, _ in line]
        acc_ax.plot(
            steps, [100 * r["object_accuracy"] for _, r in line], marker="o", label=f"base ratio {ratio}"
        )
        seam_ax.plot(steps, [r["seam"] or 0.0 for _, r in line], marker="o", label=f"base ratio {ratio}")
    acc_ax.set(xlabel="injected steps T", ylabel="object accuracy, % (2 + 4 objects, unplaced)",
               title="Regional control (higher = better)")  # fmt: skip
    seam_ax.set(xlabel="injected steps T", ylabel="mean RGB step across region borders",
                title="Seams (lower = smoother)")  # fmt: skip
    others = [r for r in results if r not in grid]
    labels = [r["settings"].replace("_inject_interval", " interval") for r in others]
    bar_ax.barh(labels, [100 * r["object_accuracy"] for r in others], color="tab:gray")
    bar_ax.set(xlabel="object accuracy, %", title="Intervals, guidance (rest default)")
    bar_ax.tick_params(axis="y", labelsize=7)
    for ax in (acc_ax, seam_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
