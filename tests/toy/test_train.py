"""The toy model's training script: every stage runs and saves a loadable FLUX pipeline folder."""

import copy
import json

import pytest
import torch

from regional.pipeline import RegionalFluxPipeline
from regional.toy.train import FlowTrainer, cfg_scale, main
from regional.toy.world import make_scene

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
    captions = [make_scene(seed).caption for seed in range(8)]
    latents = torch.randn(8, 16, 8, 8)
    trainer = FlowTrainer(pipe, latents, captions, lr=0.0, seed=0)
    teacher = copy.deepcopy(pipe.transformer).requires_grad_(False)
    assert trainer.distill_step(teacher, batch=4, lr=0.0, max_guidance=1.0) < 1e-10
    assert trainer.distill_step(teacher, batch=4, lr=0.0, max_guidance=7.0) > 1e-6
    assert cfg_scale(torch.tensor([1.0, 3.5])).tolist() == [1.0, 2.25]
