"""Generate shapes-world scenes with a pipeline and score them: the core of ``regional bench quality``.

A *method* maps a scene to the layout to sample (or None when it cannot, e.g. a planner error); *settings*
are the regional knobs. Plain prompting is ``inject_steps=0`` (FluxPipeline with the base caption). Noise
seeds depend only on the scene index and the sample index, so every method sees the same starting noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from regional.layout import Layout
from regional.masks import MaskVariant
from regional.toy.components import MAX_SEQUENCE_LENGTH
from regional.toy.score import SceneScore, score_scene
from regional.toy.world import (
    SLOTS,
    Scene,
    SceneObject,
    make_hard_scene,
    make_scene,
    reorder_caption,
    unplace_caption,
)

BENCH_SEED_OFFSET = 10**6
"""Benchmark scenes use seeds from here on; training used seeds below ``--scenes`` (30,000 by default)."""

Method = Callable[[Scene], Layout | None]

EXAMPLE_LAYOUT = Path(__file__).parent / "example_layout.json"
"""The README's first run: a large red circle on the left and a large blue square on the right."""


def example_scene() -> tuple[Layout, Scene]:
    """EXAMPLE_LAYOUT and the scene it asks for, read from its regions' phrases ("a large red circle") and
    boxes (each object's box is its region), to score samples of it."""
    layout = Layout.model_validate_json(EXAMPLE_LAYOUT.read_text())
    slots = {box: name for name, box in SLOTS.items()}
    objects = []
    for region in layout.regions:
        _, size, colour, shape = region.phrase.split()
        objects.append(SceneObject(colour, shape, size, slots[tuple(region.box)], region.box, region.box))
    background = layout.base_prompt.rsplit(" on a ", 1)[1].removesuffix(" background")
    return layout, Scene(tuple(objects), background, layout.base_prompt)


@dataclass(frozen=True)
class Settings:
    """Sampling knobs passed to the pipeline; None takes the model's defaults (FLUX.1-dev's)."""

    guidance_scale: float | None = None
    base_ratio: float | None = None
    inject_steps: int | None = None
    double_inject_interval: int | None = None
    single_inject_interval: int | None = None
    region_mask: MaskVariant | None = None
    """A variant of the mask M (the ablation); None: the paper's."""

    def label(self) -> str:
        parts = [
            f"{key}={value}"
            for key, value in asdict(self).items()
            if value is not None and key != "region_mask"
        ]
        if self.region_mask is not None:
            changed = {k: v for k, v in asdict(self.region_mask).items() if v != getattr(MaskVariant(), k)}
            parts.append("mask(" + ", ".join(f"{k}={v}" for k, v in changed.items()) + ")")
        return ", ".join(parts) or "defaults"


PLAIN = Settings(inject_steps=0)


@dataclass
class Summary:
    """Scores of one method over many (scene, seed) samples; accuracies in [0, 1], seam in RGB levels."""

    samples: int = 0
    objects: int = 0
    failed_layouts: int = 0
    object_correct: int = 0
    colour_correct: int = 0
    scene_correct: int = 0
    leakage_sum: float = 0.0
    seams: list[float] = field(default_factory=list)
    per_scene: list[float] = field(default_factory=list)
    """Share of each scene's samples that got the whole scene right, one entry per scene."""
    per_scene_objects: list[float] = field(default_factory=list)
    """Share of each scene's objects right over its samples, one entry per scene: where whole scenes are
    almost never right (5-6 objects), objects are what tells methods apart."""

    def add(self, score: SceneScore) -> None:
        self.samples += 1
        self.objects += len(score.objects)
        self.object_correct += sum(obj.correct for obj in score.objects)
        self.colour_correct += sum(obj.colour_ok for obj in score.objects)
        self.scene_correct += score.correct
        self.leakage_sum += score.leakage
        if score.seam is not None:
            self.seams.append(score.seam)

    def merge(self, other: Summary) -> None:
        """Add ``other``'s counts to this one (e.g. totals over object counts)."""
        for name in (
            "samples",
            "objects",
            "failed_layouts",
            "object_correct",
            "colour_correct",
            "scene_correct",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.leakage_sum += other.leakage_sum
        self.seams += other.seams
        self.per_scene += other.per_scene
        self.per_scene_objects += other.per_scene_objects

    def as_dict(self) -> dict:
        n, objects = max(1, self.samples), max(1, self.objects)
        return {
            "samples": self.samples,
            "failed_layouts": self.failed_layouts,
            "object_accuracy": self.object_correct / objects,
            "object_accuracy_se": scene_standard_error(self.per_scene_objects),
            "colour_accuracy": self.colour_correct / objects,
            "scene_accuracy": self.scene_correct / n,
            "scene_accuracy_se": scene_standard_error(self.per_scene),
            "leakage": self.leakage_sum / n,
            "seam": float(np.mean(self.seams)) if self.seams else None,
        }


def scene_standard_error(per_scene: list[float]) -> float | None:
    """Standard error of an accuracy over scenes (of whole scenes or of objects), from each scene's share: the
    seeds of one scene are not independent (an easy scene is easy for every seed), so the spread between
    scenes is what the mean's uncertainty is."""
    if len(per_scene) < 2:
        return None
    return float(np.std(per_scene, ddof=1) / np.sqrt(len(per_scene)))


CAPTIONS = ("world", "reordered", "unplaced")
"""Caption styles of the benchmark: the world's own, objects named in another order (``reorder_caption``),
objects named without positions in a shuffled order (``unplace_caption``)."""


def bench_scenes(num_objects: int, count: int, captions: str = "world") -> list[Scene]:
    """``count`` held-out scenes with ``num_objects`` objects each (deterministic), captioned in one of
    ``CAPTIONS``; the objects and boxes are the same whatever the caption."""
    scenes = [make_scene(BENCH_SEED_OFFSET + 1000 * num_objects + i, num_objects) for i in range(count)]
    if captions == "reordered":
        return [reorder_caption(scene, i) for i, scene in enumerate(scenes)]
    if captions == "unplaced":
        return [unplace_caption(scene, i) for i, scene in enumerate(scenes)]
    if captions != "world":
        raise ValueError(f"captions must be one of {CAPTIONS}, got {captions!r}")
    return scenes


def hard_bench_scenes(num_objects: int, count: int) -> list[Scene]:
    """``count`` held-out hard scenes (``make_hard_scene``) with ``num_objects`` objects each (deterministic),
    their captions without positions: arbitrary boxes leave no position words to read."""
    return [make_hard_scene(BENCH_SEED_OFFSET + 1000 * num_objects + i, num_objects) for i in range(count)]


def ground_truth(scene: Scene) -> Layout:
    return scene.layout()


def sample(
    pipe, layout: Layout, seeds: Iterable[int], settings: Settings, steps: int | None = None,
    max_sequence_length: int = MAX_SEQUENCE_LENGTH,
) -> list[np.ndarray]:  # fmt: skip
    """One image per seed, (H, W, 3) uint8, batched in one pipeline call."""
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    output = pipe(
        layout=layout,
        num_inference_steps=steps,
        num_images_per_prompt=len(generators),
        generator=generators,
        max_sequence_length=max_sequence_length,
        output_type="np",
        **{key: value for key, value in asdict(settings).items() if value is not None},
    )
    return [(image * 255).round().astype(np.uint8) for image in output.images]


def noise_seeds(scene_index: int, per_scene: int) -> list[int]:
    return [scene_index * 100 + k for k in range(per_scene)]


def _object_share(scores: list[SceneScore]) -> float:
    """Share of the objects right over several samples of one scene."""
    return sum(obj.correct for score in scores for obj in score.objects) / sum(len(s.objects) for s in scores)


def evaluate(
    pipe, scenes: list[Scene], per_scene: int, method: Method, settings: Settings, steps: int | None = None,
    max_sequence_length: int = MAX_SEQUENCE_LENGTH,
) -> Summary:  # fmt: skip
    """Sample ``per_scene`` images of every scene with ``method``'s layout and score them."""
    summary = Summary()
    for index, scene in enumerate(scenes):
        layout = method(scene)
        if layout is None:
            summary.failed_layouts += 1
            continue
        images = sample(pipe, layout, noise_seeds(index, per_scene), settings, steps, max_sequence_length)
        scores = [score_scene(image, scene) for image in images]
        for score in scores:
            summary.add(score)
        summary.per_scene.append(sum(score.correct for score in scores) / len(scores))
        summary.per_scene_objects.append(_object_share(scores))
    return summary


@torch.no_grad()
def reconstruction(pipe, scenes: list[Scene]) -> Summary:
    """Ground-truth renders passed through the VAE and scored: the ceiling any sampler can reach."""
    summary = Summary()
    for scene in scenes:
        x = torch.from_numpy(scene.render()).permute(2, 0, 1)[None].float() / 127.5 - 1
        decoded = pipe.vae.decode(pipe.vae.encode(x).latent_dist.mode()).sample
        image = ((decoded[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        score = score_scene(image, scene)
        summary.add(score)
        summary.per_scene.append(float(score.correct))
        summary.per_scene_objects.append(_object_share([score]))
    return summary
