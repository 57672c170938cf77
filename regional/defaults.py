"""Sampling defaults: their shape, resolved here for the pipelines, the worker and the API.

Each family declares its own (``regional.families.<name>``: FLUX.1-dev and -schnell differ, Chroma and SD3.5
run real classifier-free guidance); ``defaults_for`` and ``default_token_margin`` look them up. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingDefaults:
    num_inference_steps: int
    guidance_scale: float
    """FLUX.1-dev: distilled guidance (its guidance embedding; ignored by models without one).
    Chroma, SD3.5: the classifier-free guidance scale (> 1 adds a negative-prompt pass per step)."""
    inject_steps: int
    """Regional control runs in the first ``inject_steps`` steps (T in the paper); the layout forms early."""
    double_inject_interval: int
    single_inject_interval: int
    base_ratio: float
    max_sequence_length: int
    """T5 tokens of the base prompt; schnell was trained with 256."""


def defaults_for(family: str, transformer_config, pipeline_config=None) -> SamplingDefaults:
    """The defaults of a checkpoint of ``family`` (see ``regional.families``) with this transformer config and
    pipeline config (``model_index.json``; None: empty)."""
    from types import SimpleNamespace

    from regional.families import family_named

    return family_named(family).defaults(transformer_config, pipeline_config or SimpleNamespace())


def default_token_margin(family: str) -> int:
    """The padding tokens kept after each regional prompt's real tokens for ``family`` ("auto")."""
    from regional.families import family_named

    return family_named(family).region_token_margin


DEFAULT_STRENGTH = 0.6
"""Image-to-image's and inpainting's ``strength`` when none is given (every family)."""
