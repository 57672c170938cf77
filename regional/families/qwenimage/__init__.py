"""Qwen-Image. Pipeline: ``regional.families.qwenimage.pipeline`` (attributes of this package too, imported on
use). Needs diffusers >= 0.37 (the text mask that replaced ``txt_seq_lens``)."""

from __future__ import annotations

from regional.defaults import SamplingDefaults
from regional.families import Family, lazy_pipeline_attribute

QWEN_IMAGE = SamplingDefaults(
    num_inference_steps=50,
    guidance_scale=4.0,
    inject_steps=20,
    double_inject_interval=1,
    single_inject_interval=1,
    base_ratio=0.2,
    max_sequence_length=512,
)
"""Qwen-Image as its model card runs it (50 steps, classifier-free guidance 4.0, the stock ``true_cfg_scale``;
prompts up to 512 tokens); regional control in the paper's share of the steps (10 of 24 -> 20 of 50), in every
block (all 60 are joint blocks, as SD3.5's). Not yet tuned on the real model."""

QWEN_IMAGE_TRANSFORMER = {
    "patch_size": 2,
    "in_channels": 64,
    "out_channels": 16,
    "num_layers": 60,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 3584,
    "axes_dims_rope": (16, 56, 56),
}
"""Qwen-Image's transformer (60 dual-stream blocks of 24 heads x 128; text from Qwen2.5-VL-7B, width 3584)."""

FAMILY = Family(
    name="qwenimage",
    stock_pipelines=("QwenImagePipeline",),
    defaults=lambda transformer_config, pipeline_config: QWEN_IMAGE,
    region_token_margin=0,  # the stock pipeline masks every padding token: a prompt is its real tokens
    exports=("RegionalQwenImagePipeline",),
    aliases={"qwen-image": "Qwen/Qwen-Image"},
    tiny_models={"tiny-qwen-image": "regional.testing:tiny_qwen_image_pipeline"},
    real_size=("QwenImageTransformer2DModel", QWEN_IMAGE_TRANSFORMER, "Qwen-Image"),
    min_diffusers="0.37.0",
)


def __getattr__(name: str):
    return lazy_pipeline_attribute(__name__, name)
