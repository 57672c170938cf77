"""Stable Diffusion 3.5 (Large, Large Turbo, Medium). Pipelines: ``regional.families.sd3.pipeline``
(attributes of this package too, imported on use)."""

from __future__ import annotations

from regional.defaults import SamplingDefaults
from regional.families import Family, lazy_pipeline_attribute

SD35 = SamplingDefaults(
    num_inference_steps=28,
    guidance_scale=3.5,
    inject_steps=12,
    double_inject_interval=1,
    single_inject_interval=1,
    base_ratio=0.2,
    max_sequence_length=256,
)
"""SD3.5 Large as its model card runs it (28 steps, CFG 3.5, 256 T5 tokens); every joint block injected (it has
no single blocks) in the first 12 steps (dev's share, 10 of 24). Large Turbo: pass 4 steps and guidance 0;
Medium's card uses 40 steps and CFG 4.5. Not yet tuned on the real models."""

SD35_LARGE_TRANSFORMER = {
    "sample_size": 128,
    "patch_size": 2,
    "in_channels": 16,
    "num_layers": 38,
    "attention_head_dim": 64,
    "num_attention_heads": 38,
    "joint_attention_dim": 4096,
    "caption_projection_dim": 2432,
    "pooled_projection_dim": 2048,
    "out_channels": 16,
    "pos_embed_max_size": 192,
    "qk_norm": "rms_norm",
}
"""SD3.5 Large's transformer (38 joint blocks of 38 heads x 64, QK RMS norm, no dual attention)."""

FAMILY = Family(
    name="sd3",
    stock_pipelines=("StableDiffusion3Pipeline",),
    defaults=lambda transformer_config, pipeline_config: SD35,
    region_token_margin=8,
    exports=(
        "RegionalStableDiffusion3Pipeline",
        "RegionalStableDiffusion3Img2ImgPipeline",
        "RegionalStableDiffusion3InpaintPipeline",
        "RegionalStableDiffusion3ControlNetPipeline",
    ),
    aliases={
        "sd3.5": "stabilityai/stable-diffusion-3.5-large",
        "sd3.5-medium": "stabilityai/stable-diffusion-3.5-medium",
    },
    tiny_models={"tiny-sd3": "regional.testing:tiny_sd3_pipeline"},
    variants={
        ("RegionalStableDiffusion3Pipeline", "img2img", False): "RegionalStableDiffusion3Img2ImgPipeline",
        ("RegionalStableDiffusion3Pipeline", "inpaint", False): "RegionalStableDiffusion3InpaintPipeline",
        ("RegionalStableDiffusion3Pipeline", "text", True): "RegionalStableDiffusion3ControlNetPipeline",
    },
    controlnet_class="SD3ControlNetModel",
    real_size=("SD3Transformer2DModel", SD35_LARGE_TRANSFORMER, "SD3.5 Large"),
)


def __getattr__(name: str):
    return lazy_pipeline_attribute(__name__, name)
