"""Load a RegionalFluxPipeline from the Hub, a local folder, or the built-in tiny model.

torch is imported where a pipeline is loaded, so the API process can ask ``sampling_defaults_of`` a model's
defaults without it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from regional.defaults import SamplingDefaults, defaults_for

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

TOY_MODEL_DIR = Path(__file__).parent / "toy" / "model"
"""The small FLUX-architecture model trained on the synthetic shapes world (``make toy-model``)."""

MODEL_ALIASES = {
    "toy": str(TOY_MODEL_DIR),
    "dev": "black-forest-labs/FLUX.1-dev",
    "schnell": "black-forest-labs/FLUX.1-schnell",
}


def flux_dev_is_cached() -> bool:
    """Whether FLUX.1-dev is in the local Hugging Face cache (it is gated: a download needs a token)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(MODEL_ALIASES["dev"], "model_index.json"), str)


def default_model(device: str) -> str:
    """What 'auto' means: FLUX.1-dev on a GPU when its weights are in the local cache, else the trained toy
    model when present, else the tiny one. Name 'dev' explicitly to download it."""
    if device == "cuda":
        if flux_dev_is_cached():
            return "dev"
        logger.warning(
            "FLUX.1-dev is not in the Hugging Face cache: 'auto' uses the toy model. Run "
            "`huggingface-cli download %s` (after accepting its licence) or pass --model dev",
            MODEL_ALIASES["dev"],
        )
    return "toy" if TOY_MODEL_DIR.is_dir() else "tiny"


def sampling_defaults_of(model: str) -> SamplingDefaults | None:
    """The sampling defaults ``model`` (a name as ``load_pipeline`` takes it) gets, read from its transformer's
    ``config.json`` without loading it: a local folder, or a Hub model in the local cache. None when that file
    is not on this machine (or names 'auto', which depends on the host)."""
    if model == "tiny":
        return defaults_for(SimpleNamespace(guidance_embeds=True))  # ``tiny_flux_pipeline``'s default
    source = MODEL_ALIASES.get(model, model)
    config = Path(source) / "transformer" / "config.json"
    if not config.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # the API's image has no sampler extras
            return None
        cached = try_to_load_from_cache(source, "transformer/config.json") if source.count("/") == 1 else None
        if not isinstance(cached, str):
            return None
        config = Path(cached)
    # diffusers' FluxTransformer2DModel has no guidance embedding unless its config says so
    guidance_embeds = json.loads(config.read_text()).get("guidance_embeds", False)
    return defaults_for(SimpleNamespace(guidance_embeds=guidance_embeds))


def pick_dtype(name: str, device: str) -> torch.dtype:
    """'auto' is bfloat16 on CUDA (FLUX's native dtype) and float32 elsewhere."""
    import torch

    if name == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return getattr(torch, name)


def load_pipeline(model: str, dtype: str = "auto", cpu_offload: bool = False, device: str | None = None):
    """``model``: 'auto', 'tiny' (random weights), 'toy' (shapes world), 'dev', 'schnell', a Hub id or a folder.

    The pipeline goes to CUDA when available; ``cpu_offload`` there keeps it in CPU memory and moves each
    model to the GPU only while it runs (enable_model_cpu_offload), for 24 GB cards.
    """
    import torch

    from regional.pipeline import RegionalFluxPipeline
    from regional.testing import tiny_flux_pipeline

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if model == "auto":
        model = default_model(device)
        logger.info("model 'auto' is %r on %s", model, device)
    if model == "tiny":
        logger.warning("using the tiny random-weight model: it draws noise, not pictures")
        return tiny_flux_pipeline().to(device)
    source = MODEL_ALIASES.get(model, model)
    pipe = RegionalFluxPipeline.from_pretrained(source, torch_dtype=pick_dtype(dtype, device))
    if cpu_offload and device == "cuda":
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    return pipe
