"""Model selection: what 'auto' means on each kind of host, the built-in names, and the family's pipeline
picked from a checkpoint."""

import functools
import json

import diffusers
import huggingface_hub
import pytest
import torch
from familykit import family_param, needs

from regional import Layout, Region, RegionalChromaPipeline, loading
from regional.families.chroma import CHROMA
from regional.families.flux import DEV
from regional.families.flux2 import KLEIN, KLEIN_BASE
from regional.families.qwenimage import QWEN_IMAGE
from regional.families.sd3 import SD35
from regional.pipeline import RegionalFluxPipeline
from regional.testing import (
    tiny_chroma_pipeline,
    tiny_flux2_klein_pipeline,
    tiny_flux_pipeline,
    tiny_qwen_image_pipeline,
    tiny_sd3_pipeline,
)


def test_auto_is_dev_on_gpu_when_cached_and_a_local_model_otherwise(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert not loading.flux_dev_is_cached()
    assert loading.default_model("cuda") == "toy"  # a GPU without FLUX weights still draws
    snapshot = tmp_path / "hub" / "models--black-forest-labs--FLUX.1-dev" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (snapshot / "model_index.json").write_text("{}")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0123abc")
    assert loading.flux_dev_is_cached()
    assert loading.default_model("cuda") == "dev"
    monkeypatch.setattr(loading, "TOY_MODEL_DIR", tmp_path / "missing")
    assert loading.default_model("cpu") == "tiny"
    monkeypatch.setattr(loading, "TOY_MODEL_DIR", tmp_path)
    assert loading.default_model("cpu") == "toy"


def test_tiny_loads_offline_as_a_regional_pipeline():
    pipe = loading.load_pipeline("tiny", device="cpu")
    assert isinstance(pipe, RegionalFluxPipeline)
    assert pipe.transformer.dtype.is_floating_point


def test_aliases_name_the_real_checkpoints():
    assert loading.model_aliases()["dev"] == "black-forest-labs/FLUX.1-dev"
    assert loading.model_aliases()["schnell"] == "black-forest-labs/FLUX.1-schnell"
    assert loading.model_aliases()["sd3.5"] == "stabilityai/stable-diffusion-3.5-large"


STOCK_AND_TINY = {
    "FluxPipeline": (tiny_flux_pipeline, DEV),
    "ChromaPipeline": (tiny_chroma_pipeline, CHROMA),
    "StableDiffusion3Pipeline": (tiny_sd3_pipeline, SD35),
    "Flux2KleinPipeline": (functools.partial(tiny_flux2_klein_pipeline, is_distilled=False), KLEIN_BASE),
    "QwenImagePipeline": (tiny_qwen_image_pipeline, QWEN_IMAGE),
}


@pytest.mark.parametrize(
    "class_name",
    [
        *list(STOCK_AND_TINY)[:3],
        family_param("Flux2KleinPipeline", "flux2"),
        family_param("QwenImagePipeline", "qwenimage"),
    ],
)
def test_a_checkpoint_loads_as_its_familys_regional_pipeline(tmp_path, class_name):
    """The family comes from model_index.json's _class_name: a stock checkpoint or a saved regional one."""
    tiny, defaults = STOCK_AND_TINY[class_name]
    reference = tiny(seed=0)
    getattr(diffusers, class_name)(**reference.components).save_pretrained(tmp_path / "stock")
    reference.save_pretrained(tmp_path / "regional")
    layout = Layout(
        width=64, height=32, base_prompt="a cat", regions=[Region(prompt="a cat", box=(0, 0, 0.5, 1))]
    )

    def sample(pipe):
        generator = torch.Generator().manual_seed(0)
        return pipe(layout=layout, num_inference_steps=2, generator=generator, output_type="latent").images

    for folder in (tmp_path / "stock", tmp_path / "regional"):
        assert loading.sampling_defaults_of(str(folder)) == defaults
        pipe = loading.load_pipeline(str(folder), device="cpu")
        assert type(pipe) is type(reference)
        pipe.set_progress_bar_config(disable=True)
        torch.testing.assert_close(sample(pipe), sample(reference))


def test_an_unsupported_checkpoint_is_refused_by_name(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(ValueError, match="StableDiffusionPipeline.*ChromaPipeline"):
        loading.load_pipeline(str(tmp_path), device="cpu")


def test_tiny_chroma_is_a_built_in_model():
    assert isinstance(loading.load_pipeline("tiny-chroma", device="cpu"), RegionalChromaPipeline)
    assert loading.sampling_defaults_of("tiny-chroma") == CHROMA


@needs("flux2")
def test_tiny_klein_is_a_built_in_step_distilled_model():
    pipe = loading.load_pipeline("tiny-klein", device="cpu")
    assert pipe.family == "flux2" and pipe.config.is_distilled
    assert loading.sampling_defaults_of("tiny-klein") == pipe.sampling_defaults == KLEIN
