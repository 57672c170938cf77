"""Figures of the quality benchmark: a sample grid and the alignment-versus-seams sweep plot (matplotlib)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from regional.layout import Layout
from regional.overlay import draw_layout
from regional.toy.evaluate import PLAIN, Settings, bench_scenes, sample

CELL = 192
"""Side in pixels of one image in the grid (the 64-px samples are scaled up without smoothing)."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scaled(layout: Layout, side: int) -> Layout:
    return layout.model_copy(update={"width": side, "height": side})


def sample_grid(pipe, path: Path, steps: int | None, max_sequence_length: int, per_count: int = 2) -> None:
    """Rows of (caption, ground-truth layout, plain sample, regional sample) for 2, 3 and 4 objects."""
    plt = _pyplot()
    scenes = [scene for count in (2, 3, 4) for scene in bench_scenes(count, per_count)]
    fig, axes = plt.subplots(len(scenes), 4, figsize=(10, 2.6 * len(scenes)))
    for row, (scene, ax) in enumerate(zip(scenes, axes, strict=True)):
        layout = scene.layout()
        plain = sample(pipe, layout, [row], PLAIN, steps, max_sequence_length)[0]
        regional = sample(pipe, layout, [row], Settings(), steps, max_sequence_length)[0]
        big = [
            Image.fromarray(img).resize((CELL, CELL), Image.Resampling.NEAREST) for img in (plain, regional)
        ]
        panels = [draw_layout(_scaled(layout, CELL)), *big]
        ax[0].text(0, 0.5, "\n".join(textwrap.wrap(scene.caption, 34)), va="center", fontsize=8)
        for axis, panel, title in zip(ax[1:], panels, ("layout", "plain", "regional"), strict=True):
            axis.imshow(np.asarray(panel))
            if row == 0:
                axis.set_title(title)
        for axis in ax:
            axis.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_sweep(results: list[dict], path: Path) -> None:
    """Object accuracy against seam for every swept setting (the paper's trade-off)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    points = [(r["seam"], r["object_accuracy"], r["settings"]) for r in results if r["seam"] is not None]
    xs, ys, labels = zip(*points, strict=True) if points else ((), (), ())
    ax.scatter(xs, [100 * y for y in ys], color="tab:blue")
    for x, y, label in points:
        ax.annotate(label.replace("_inject", "").replace("_interval", "").replace(", ", "\n"), (x, 100 * y),
                    fontsize=6, xytext=(3, 3), textcoords="offset points")  # fmt: skip
    ax.set_xlabel("seam: mean RGB step across region borders on background (lower = smoother)")
    ax.set_ylabel("object accuracy, % (2 and 4 objects, ground-truth boxes)")
    ax.set_title("Regional control versus seams (base ratio, injected steps, block intervals)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
