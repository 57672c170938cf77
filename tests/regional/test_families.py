"""Families are found, not listed: a new family is one package under ``regional.families`` (its torch-free
``FAMILY`` and a ``pipeline`` module), and loading, defaults, token margins, exports and the variants table
take it up without any shared module changing."""

import textwrap

import pytest
import torch

import regional
import regional.families
from regional import Layout, Region, loading
from regional.defaults import default_token_margin, defaults_for
from regional.families import families, family_of

FAMILY_INIT = """
    from regional.defaults import SamplingDefaults
    from regional.families import Family, lazy_pipeline_attribute

    MINI = SamplingDefaults(num_inference_steps=3, guidance_scale=3.5, inject_steps=2, double_inject_interval=1,
                            single_inject_interval=1, base_ratio=0.3, max_sequence_length=64)
    FAMILY = Family(
        name="mini",
        stock_pipelines=("MiniPipeline",),
        defaults=lambda transformer_config, pipeline_config: MINI,
        region_token_margin=2,
        exports=("RegionalMiniPipeline",),
        aliases={"mini": "example/mini"},
        tiny_models={"tiny-mini": "regional.families.mini.pipeline:tiny_mini_pipeline"},
    )


    def __getattr__(name):
        return lazy_pipeline_attribute(__name__, name)
"""

FAMILY_PIPELINE = """
    from regional.families.flux.pipeline import RegionalFluxPipeline
    from regional.testing import tiny_flux_components


    class RegionalMiniPipeline(RegionalFluxPipeline):
        family = "mini"


    def tiny_mini_pipeline():
        pipe = RegionalMiniPipeline(**tiny_flux_components(seed=0))
        pipe.set_progress_bar_config(disable=True)
        return pipe
"""


@pytest.fixture
def mini_family(tmp_path, monkeypatch):
    package = tmp_path / "mini"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(FAMILY_INIT))
    (package / "pipeline.py").write_text(textwrap.dedent(FAMILY_PIPELINE))
    monkeypatch.setattr(regional.families, "__path__", [*regional.families.__path__, str(tmp_path)])
    families.cache_clear()
    yield
    families.cache_clear()


def test_the_shipped_families_are_found():
    assert {"flux", "chroma", "sd3"} <= set(families())
    assert family_of("StableDiffusion3Pipeline") == "sd3" and family_of("RegionalChromaPipeline") == "chroma"


def test_a_new_family_is_one_package(mini_family):
    assert family_of("MiniPipeline") == "mini"
    assert loading.model_aliases()["mini"] == "example/mini"
    assert loading.sampling_defaults_of("tiny-mini").num_inference_steps == 3
    assert defaults_for("mini", None).base_ratio == 0.3 and default_token_margin("mini") == 2
    pipe = loading.load_pipeline("tiny-mini", device="cpu")
    assert type(pipe) is regional.RegionalMiniPipeline
    layout = Layout(
        width=64, height=32, base_prompt="a cat", regions=[Region(prompt="a cat", box=(0, 0, 0.5, 1))]
    )
    out = pipe(layout=layout, generator=torch.Generator().manual_seed(0), output_type="latent").images
    assert (
        out.shape[0] == 1 and torch.isfinite(out).all()
    )  # its 3 default steps, margin 2, on the shared loop


def test_an_unknown_family_is_named():
    with pytest.raises(ValueError, match="no model family 'nope'"):
        defaults_for("nope", None)
