"""Sampling defaults per model family and variant, resolved here for the pipelines, the worker and the API.

FLUX.1-schnell is step-distilled: defaults tuned for dev make it poor. Chroma is trained without guidance
distillation and runs real classifier-free guidance, so its ``guidance_scale`` is a CFG scale.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingDefaults:
    num_inference_steps: int
    guidance_scale: float
    """FLUX.1-dev: distilled guidance (its guidance embedding; ignored by models without one).
    Chroma: the classifier-free guidance scale (> 1 adds a negative-prompt pass per step)."""
    inject_steps: int
    """Regional control runs in the first ``inject_steps`` steps (T in the paper); the layout forms early."""
    double_inject_interval: int
    single_inject_interval: int
    base_ratio: float
    max_sequence_length: int
    """T5 tokens of the base prompt; schnell was trained with 256."""


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
of 40); not yet tuned on the real model."""

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

REGION_TOKEN_MARGINS = {"flux": 8, "chroma": 1, "sd3": 8}
"""Per family, the padding tokens kept after each regional prompt's real tokens (its EOS included).
FLUX.1 attends to all 512 T5 tokens, so a few padding tokens keep the prompt close to what it saw in
training (README, Cost). Chroma masks T5 padding except one token: 1 keeps exactly the tokens it attends to."""


def defaults_for(family: str, transformer_config) -> SamplingDefaults:
    """The defaults of a checkpoint of ``family`` (see ``regional.families``) with this transformer config.

    FLUX.1: guidance-distilled models (dev) have a guidance embedding, timestep-distilled ones (schnell) not.
    """
    if family == "flux":
        return DEV if transformer_config.guidance_embeds else SCHNELL
    if family == "chroma":
        return CHROMA
    if family == "sd3":
        return SD35
    raise ValueError(f"no sampling defaults for family {family!r}; known: flux, chroma, sd3")


DEFAULT_STRENGTH = 0.6
"""Image-to-image's and inpainting's ``strength`` when none is given (every family)."""
