"""Model families: one module each, holding that family's regional pipeline (its adapter).

A family's module ``regional.families.<family>`` defines ``Regional<Stock>Pipeline`` on diffusers'
``<Stock>Pipeline``: prompt encoding, the attention-processor hook and the block list. Everything else
(Layout, masks, eq. 7, the schedule, the denoising loop) is shared (``regional.pipeline``,
``regional.attention``); the family's sampling defaults live in ``regional.defaults``. No torch here: the
API asks which family a checkpoint is without loading one.
"""

from __future__ import annotations

import importlib

FAMILIES = {
    "FluxPipeline": "flux",
    "FluxControlPipeline": "flux",
    "ChromaPipeline": "chroma",
    "StableDiffusion3Pipeline": "sd3",
}
"""A checkpoint's ``model_index.json`` ``_class_name`` (diffusers' stock pipeline) -> its family. The
image-to-image, inpainting and ControlNet variants of a loaded pipeline: ``regional.conditioning``."""


def family_of(pipeline_class_name: str) -> str:
    """The family of a stock or regional pipeline class name (a saved regional pipeline records its own)."""
    stock = pipeline_class_name.removeprefix("Regional")
    if stock not in FAMILIES:
        raise ValueError(
            f"no regional pipeline for {pipeline_class_name!r}: supported checkpoints are {sorted(FAMILIES)}"
        )
    return FAMILIES[stock]


def regional_pipeline_class(pipeline_class_name: str) -> type:
    """The regional pipeline serving checkpoints of ``pipeline_class_name`` (stock or regional name)."""
    module = importlib.import_module(f"regional.families.{family_of(pipeline_class_name)}")
    return getattr(module, "Regional" + pipeline_class_name.removeprefix("Regional"))
