"""FLUX.2 ([dev], [klein] and [klein] base). Pipelines: ``regional.families.flux2.pipeline`` (attributes of this
package too, imported on use). Needs diffusers >= 0.37 (``Flux2KleinPipeline``)."""

from __future__ import annotations

from regional.defaults import SamplingDefaults
from regional.families import Family, lazy_pipeline_attribute

DEV = SamplingDefaults(
    num_inference_steps=50,
    guidance_scale=4.0,
    inject_steps=20,
    double_inject_interval=1,
    single_inject_interval=2,
    base_ratio=0.2,
    max_sequence_length=512,
)
"""FLUX.2 [dev] as diffusers documents it (50 steps, distilled guidance 4.0, 512 text tokens); regional
control in the paper's share of the steps (10 of 24 -> 20 of 50), every double block and every second single
block as for FLUX.1. Not yet tuned on the real model."""

KLEIN = SamplingDefaults(
    num_inference_steps=4,
    guidance_scale=1.0,
    inject_steps=2,
    double_inject_interval=1,
    single_inject_interval=1,
    base_ratio=0.2,
    max_sequence_length=512,
)
"""FLUX.2 [klein] (step-distilled, 4 steps, no guidance): like FLUX.1-schnell, the layout forms in the first
steps, so control goes into the first two, in every block."""

KLEIN_BASE = SamplingDefaults(
    num_inference_steps=50,
    guidance_scale=4.0,
    inject_steps=20,
    double_inject_interval=1,
    single_inject_interval=2,
    base_ratio=0.2,
    max_sequence_length=512,
)
"""FLUX.2 [klein] base (undistilled: 50 steps, classifier-free guidance 4.0), scheduled as [dev]."""

FLUX2_DEV_TRANSFORMER = {
    "patch_size": 1,
    "in_channels": 128,
    "num_layers": 8,
    "num_single_layers": 48,
    "attention_head_dim": 128,
    "num_attention_heads": 48,
    "joint_attention_dim": 15360,
    "timestep_guidance_channels": 256,
    "mlp_ratio": 3.0,
    "axes_dims_rope": (32, 32, 32, 32),
    "rope_theta": 2000,
    "guidance_embeds": True,
}
"""FLUX.2 [dev]'s transformer (diffusers' defaults: 8 double and 48 single blocks of 48 heads x 128)."""


def flux2_defaults(transformer_config, pipeline_config) -> SamplingDefaults:
    """[dev] has a guidance embedding; [klein] says in its pipeline config whether it is step-distilled."""
    if transformer_config.guidance_embeds:
        return DEV
    return KLEIN if getattr(pipeline_config, "is_distilled", False) else KLEIN_BASE


FAMILY = Family(
    name="flux2",
    stock_pipelines=("Flux2Pipeline", "Flux2KleinPipeline"),
    defaults=flux2_defaults,
    region_token_margin=8,  # FLUX.2 attends to all 512 text tokens, padding included, as FLUX.1 does
    exports=("RegionalFlux2Pipeline", "RegionalFlux2KleinPipeline"),
    aliases={
        "flux2-dev": "black-forest-labs/FLUX.2-dev",
        "klein": "black-forest-labs/FLUX.2-klein-4B",
        "klein-9b": "black-forest-labs/FLUX.2-klein-9B",
        "klein-base": "black-forest-labs/FLUX.2-klein-base-4B",
    },
    tiny_models={"tiny-klein": "regional.testing:tiny_flux2_klein_pipeline"},
    tiny_configs={"tiny-klein": ({"guidance_embeds": False}, {"is_distilled": True})},
    real_size=("Flux2Transformer2DModel", FLUX2_DEV_TRANSFORMER, "FLUX.2-dev"),
    min_diffusers="0.37.0",  # Flux2KleinPipeline; Flux2Pipeline came in 0.36.0
)


def __getattr__(name: str):
    return lazy_pipeline_attribute(__name__, name)
