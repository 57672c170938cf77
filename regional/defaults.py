"""Sampling defaults per FLUX.1 variant. Schnell is step-distilled: defaults tuned for dev make it poor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingDefaults:
    num_inference_steps: int
    guidance_scale: float
    """Distilled guidance (FLUX.1-dev's guidance embedding); ignored by models without one."""
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


def defaults_for(transformer_config) -> SamplingDefaults:
    """Guidance-distilled models (dev) have a guidance embedding; timestep-distilled ones (schnell) do not."""
    return DEV if transformer_config.guidance_embeds else SCHNELL
