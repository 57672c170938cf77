"""The toy model's training script: every stage runs and saves a loadable FLUX pipeline folder."""

import copy
import json

import numpy as np
import pytest
import torch

from regional.pipeline import RegionalFluxPipeline
from regional.toy.train import (
    FlowTrainer,
    caption_variants,
    cfg_scale,
    cosine_lr,
    main,
    scene_batches,
    to_tensor,
)
from regional.toy.world import PHRASES, SIZE, make_scene

TINY_RUN = ["--scenes", "16", "--batch", "4", "--vae-steps", "2", "--steps", "3", "--distill-steps", "2",
            "--decoder-steps", "2", "--checkpoint-every", "2", "--threads", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy")
    assert main([*TINY_RUN, "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_all_stages_run_and_the_folder_loads(trained):
    stats = json.loads((trained / "training.json").read_text())
    assert (stats["vae_steps"], stats["flow_steps"], stats["distill_steps"], stats["decoder_steps"]) == (
        2,
        3,
        2,
        2,
    )
    assert (trained / "loss.png").exists() and (trained / "README.md").exists()
    pipe = RegionalFluxPipeline.from_pretrained(trained)
    pipe.set_progress_bar_config(disable=True)
    layout = make_scene(5, 2).layout()
    out = pipe(layout=layout, num_inference_steps=2, output_type="latent").images
    assert torch.isfinite(out).all()


@pytest.mark.slow
def test_a_continued_run_records_the_runs_before_it(trained, tmp_path):
    assert main(["--init", str(trained), "--scenes", "16", "--batch", "4", "--steps", "2", "--distill-steps",
                 "0", "--decoder-steps", "0", "--out", str(tmp_path)]) == 0  # fmt: skip
    stats = json.loads((tmp_path / "training.json").read_text())
    first = json.loads((trained / "training.json").read_text())
    assert (
        first.pop("history") == [] and stats["history"] == [first] and stats["args"]["init"] == str(trained)
    )
    assert stats["minutes_total"] == pytest.approx(first["minutes"] + stats["minutes"], abs=0.11)
    card = (tmp_path / "README.md").read_text()
    assert "Continued from 1 earlier run(s)" in card and f"--init {trained}" in card


@pytest.mark.slow
def test_distillation_target_is_the_teachers_classifier_free_guidance(trained):
    """At guidance 1 (CFG scale 1) a student equal to its teacher is already exact: both see the same
    inputs. At higher guidance the target moves away from the conditional prediction."""
    from diffusers import FluxPipeline

    pipe = FluxPipeline.from_pretrained(trained)
    captions = [(make_scene(seed).caption,) for seed in range(8)]
    latents = torch.randn(8, 16, 8, 8)
    trainer = FlowTrainer(pipe, latents, captions, lr=0.0, seed=0)
    teacher = copy.deepcopy(pipe.transformer).requires_grad_(False)
    assert trainer.distill_step(teacher, batch=4, lr=0.0, max_guidance=1.0) < 1e-10
    assert trainer.distill_step(teacher, batch=4, lr=0.0, max_guidance=7.0) > 1e-6
    assert cfg_scale(torch.tensor([1.0, 3.5])).tolist() == [1.0, 2.25]


def test_caption_variants_name_the_same_objects_in_another_order_and_without_positions():
    seed = next(s for s in range(100) if len(make_scene(s).objects) == 3)
    scene = make_scene(seed)
    world, reordered, unplaced = caption_variants(seed)
    assert world == scene.caption and reordered != world
    for caption in (world, reordered, unplaced):
        assert all(obj.phrase in caption for obj in scene.objects)
    order = lambda caption: sorted(scene.objects, key=lambda obj: caption.index(obj.phrase))  # noqa: E731
    assert order(reordered) != order(world)
    assert not any(phrase in unplaced for phrase in [*PHRASES.values(), "at the top", "at the bottom"])
    single = next(s for s in range(100) if len(make_scene(s).objects) == 1)
    assert caption_variants(single) == (make_scene(single).caption,) * 3


@pytest.mark.slow
def test_the_caption_mix_decides_which_caption_a_training_example_gets(trained):
    """With all weight on one kind, every example in a batch is captioned that way."""
    from diffusers import FluxPipeline

    pipe = FluxPipeline.from_pretrained(trained)
    seeds = [s for s in range(40) if len(make_scene(s).objects) > 1][:6]
    captions = [caption_variants(seed) for seed in seeds]
    for kind in range(3):
        mix = tuple(float(k == kind) for k in range(3))
        trainer = FlowTrainer(pipe, torch.randn(6, 16, 8, 8), captions, lr=0.0, seed=0, caption_mix=mix)
        _, t5_ids, x0, *_ = trainer._noisy_batch(batch=12, caption_dropout=0.0)
        decoded = pipe.tokenizer_2.batch_decode(t5_ids, skip_special_tokens=True)
        scenes = [next(i for i in range(6) if torch.equal(trainer.latents[i], x)) for x in x0]
        assert [d.replace(" ", "") for d in decoded] == [captions[i][kind].replace(" ", "") for i in scenes]


def test_the_learning_rate_anneals_by_time_when_the_clock_runs_out_before_the_steps():
    assert cosine_lr(50, 1000, 1.0) == pytest.approx(0.51)  # warm-up
    assert cosine_lr(200, 1000, 1.0) > 0.95
    assert cosine_lr(200, 1000, 1.0, time_used=0.5) == pytest.approx(0.5)
    assert cosine_lr(200, 1000, 1.0, time_used=1.0) == pytest.approx(0.0)


def test_scene_batches_are_the_seeds_renders_in_order_with_or_without_worker_processes():
    alone = list(scene_batches(100, 5, 2, workers=0))
    assert [len(x) for x in alone] == [2, 2, 1] and alone[0].shape == (2, 3, SIZE, SIZE)
    expected = to_tensor(np.stack([make_scene(seed).render() for seed in range(100, 105)]))
    assert torch.equal(torch.cat(alone), expected)
    assert torch.equal(torch.cat(list(scene_batches(100, 5, 2, workers=2))), expected)
