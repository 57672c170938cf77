"""The toy model's components: the real FLUX.1 classes at small sizes, built from configs (untrained).

Geometry as FLUX.1: a 4-block AutoencoderKL (8x down) with 16 latent channels and 2x2 packing, so one
transformer token covers 16 x 16 pixels. Tokenizers are the local ones of ``regional.testing`` (their word
list covers every word the shapes world uses).
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel

from regional.testing import flux_vae, tiny_text_encoders, tiny_tokenizers

LATENT_CHANNELS = 16
TEXT_DIM = 64
"""Hidden size of both text encoders (T5 output = joint_attention_dim, CLIP pooled = pooled_projection_dim)."""

MAX_SEQUENCE_LENGTH = 48
"""T5 tokens the toy model was trained with; every caption of the world fits (the longest has 40)."""


def build_vae() -> AutoencoderKL:
    """An 8x AutoencoderKL, e.g. 128 x 128 x 3 pixels <-> 16 x 16 x 16 latents (fully convolutional)."""
    return flux_vae((16, 32, 32, 32), LATENT_CHANNELS, norm_num_groups=8, mid_block_add_attention=False)


def build_transformer() -> FluxTransformer2DModel:
    """A FLUX.1-dev-like transformer (with guidance embedding): 2 double + 4 single blocks, hidden 128."""
    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=4 * LATENT_CHANNELS,
        num_layers=2,
        num_single_layers=4,
        attention_head_dim=32,
        num_attention_heads=4,
        joint_attention_dim=TEXT_DIM,
        pooled_projection_dim=TEXT_DIM,
        axes_dims_rope=(8, 12, 12),
        guidance_embeds=True,
    )


def build_components(seed: int = 0) -> dict:
    """All components of a FluxPipeline, weights drawn from ``seed``, in train mode."""
    clip_tokenizer, t5_tokenizer = tiny_tokenizers()
    torch.manual_seed(seed)
    clip, t5 = tiny_text_encoders(
        clip_tokenizer, t5_tokenizer, dim=TEXT_DIM, ff=128, t5_head_dim=16, t5_buckets=16
    )
    return {
        "transformer": build_transformer(),
        "vae": build_vae(),
        "text_encoder": clip,
        "tokenizer": clip_tokenizer,
        "text_encoder_2": t5,
        "tokenizer_2": t5_tokenizer,
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
    }
