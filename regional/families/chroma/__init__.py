"""Chroma (Chroma1-HD). Pipelines: ``regional.families.chroma.pipeline`` (attributes of this package too,
imported on use)."""

from __future__ import annotations

from regional.defaults import SamplingDefaults
from regional.families import Family, lazy_pipeline_attribute

CHROMA = SamplingDefaults(
    num_inference_steps=40,
    guidance_scale=3.0,
    inject_steps=16,
    double_inject_interval=1,
    single_inject_interval=2,
    base_ratio=0.2,
    max_sequence_length=512,
)
"""Chroma1-HD as diffusers documents it (40 steps, CFG 3.0, 512 T5 tokens). Its blocks are FLUX.1's (19
double, 38 single), so the schedule is dev's, with T scaled to the same share of the steps (10 of 24 -> 16
of 40); not yet tuned on the real model. Chroma is trained without guidance distillation: its
``guidance_scale`` is a classifier-free guidance scale."""

FAMILY = Family(
    name="chroma",
    stock_pipelines=("ChromaPipeline",),
    defaults=lambda transformer_config, pipeline_config: CHROMA,
    region_token_margin=1,  # Chroma masks T5 padding but one token: exactly the tokens it attends to
    exports=("RegionalChromaPipeline", "RegionalChromaImg2ImgPipeline"),
    aliases={"chroma": "lodestones/Chroma1-HD"},
    tiny_models={"tiny-chroma": "regional.testing:tiny_chroma_pipeline"},
    variants={("RegionalChromaPipeline", "img2img", False): "RegionalChromaImg2ImgPipeline"},
    real_size=("ChromaTransformer2DModel", {}, "Chroma1-HD"),  # diffusers' defaults are Chroma1-HD's
)


def __getattr__(name: str):
    return lazy_pipeline_attribute(__name__, name)
