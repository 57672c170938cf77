"""FLUX.1 (dev, schnell, and the Canny/Depth Control models). Pipelines: ``regional.families.flux.pipeline``
(attributes of this package too, imported on use)."""

from __future__ import annotations

from regional.defaults import SamplingDefaults
from regional.families import Family, lazy_pipeline_attribute

DEV = SamplingDefaults(
    num_inference_steps=24,
    guidance_scale=3.5,
    inject_steps=10,
    double_inject_interval=1,
    single_inject_interval=2,
    base_ratio=0.2,
    max_sequence_length=512,
)
"""The paper's published settings for FLUX.1-dev (24 steps, T = 10, intervals 1 and 2, beta 0.1-0.3)."""

SCHNELL = SamplingDefaults(
    num_inference_steps=4,
    guidance_scale=0.0,
    inject_steps=2,
    double_inject_interval=1,
    single_inject_interval=1,
    base_ratio=0.2,
    max_sequence_length=256,
)
"""FLUX.1-schnell decides the layout within its first one or two steps, so control goes there, in every
block; injecting in all 4 steps (dev's T = 10 clipped) leaves visible seams."""

FLUX_DEV_TRANSFORMER = {
    "patch_size": 1,
    "in_channels": 64,
    "num_layers": 19,
    "num_single_layers": 38,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 4096,
    "pooled_projection_dim": 768,
    "guidance_embeds": True,
    "axes_dims_rope": (16, 56, 56),
}
"""FLUX.1-dev's transformer configuration (its config.json)."""


def flux_defaults(transformer_config, pipeline_config) -> SamplingDefaults:
    """Guidance-distilled models (dev) have a guidance embedding, timestep-distilled ones (schnell) not."""
    return DEV if transformer_config.guidance_embeds else SCHNELL


FAMILY = Family(
    name="flux",
    stock_pipelines=("FluxPipeline", "FluxControlPipeline"),
    defaults=flux_defaults,
    region_token_margin=8,  # FLUX.1 attends to all 512 T5 tokens: a few padding tokens keep it in distribution
    exports=(
        "RegionalFluxPipeline",
        "RegionalFluxImg2ImgPipeline",
        "RegionalFluxInpaintPipeline",
        "RegionalFluxControlNetPipeline",
        "RegionalFluxControlNetImg2ImgPipeline",
        "RegionalFluxControlNetInpaintPipeline",
        "RegionalFluxControlPipeline",
        "RegionalFluxControlImg2ImgPipeline",
    ),
    aliases={"dev": "black-forest-labs/FLUX.1-dev", "schnell": "black-forest-labs/FLUX.1-schnell"},
    tiny_models={
        "tiny": "regional.testing:tiny_flux_pipeline",
        "tiny-control": "regional.testing:tiny_flux_control_pipeline",
    },
    variants={
        ("RegionalFluxPipeline", "img2img", False): "RegionalFluxImg2ImgPipeline",
        ("RegionalFluxPipeline", "inpaint", False): "RegionalFluxInpaintPipeline",
        ("RegionalFluxPipeline", "text", True): "RegionalFluxControlNetPipeline",
        ("RegionalFluxPipeline", "img2img", True): "RegionalFluxControlNetImg2ImgPipeline",
        ("RegionalFluxPipeline", "inpaint", True): "RegionalFluxControlNetInpaintPipeline",
        ("RegionalFluxControlPipeline", "img2img", False): "RegionalFluxControlImg2ImgPipeline",
    },
    control_models=frozenset({"RegionalFluxControlPipeline"}),
    controlnet_class="FluxControlNetModel",
    real_size=("FluxTransformer2DModel", FLUX_DEV_TRANSFORMER, "FLUX.1-dev"),
)


def __getattr__(name: str):
    return lazy_pipeline_attribute(__name__, name)
