"""Load a regional pipeline from the Hub, a local folder, or a built-in tiny model.

The family's pipeline is picked from the checkpoint's ``model_index.json`` ``_class_name``
(``regional.families``). torch is imported where a pipeline is loaded, so the API process can ask
``sampling_defaults_of`` a model's defaults without it.
"""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from regional.defaults import SamplingDefaults, defaults_for
from regional.families import families, family_named, family_of

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

TOY_MODEL_DIR = Path(__file__).parent / "toy" / "model"
"""The small FLUX-architecture model trained on the synthetic shapes world (``make toy-model``)."""


def model_aliases() -> dict[str, str]:
    """Model names -> Hub ids or folders: the toy model, and each family's (``Family.aliases``)."""
    return {"toy": str(TOY_MODEL_DIR)} | {
        alias: source for family in families().values() for alias, source in family.aliases.items()
    }


def tiny_models() -> dict[str, str]:
    """The built-in random-weight models and their families ('tiny-control': a FLUX.1 Control model, whose
    transformer takes a control image's latents as extra channels)."""
    return {name: family.name for family in families().values() for name in family.tiny_models}


def flux_dev_is_cached() -> bool:
    """Whether FLUX.1-dev is in the local Hugging Face cache (it is gated: a download needs a token)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model_aliases()["dev"], "model_index.json"), str)


def default_model(device: str) -> str:
    """What 'auto' means: FLUX.1-dev on a GPU when its weights are in the local cache, else the trained toy
    model when present, else the tiny one. Name 'dev' explicitly to download it."""
    if device == "cuda":
        if flux_dev_is_cached():
            return "dev"
        logger.warning(
            "FLUX.1-dev is not in the Hugging Face cache: 'auto' uses the toy model. Run "
            "`huggingface-cli download %s` (after accepting its licence) or pass --model dev",
            model_aliases()["dev"],
        )
    return "toy" if TOY_MODEL_DIR.is_dir() else "tiny"


def _model_file(source: str, name: str) -> Path | None:
    """``name`` inside ``source``: a local folder, or a Hub model in the local cache; None when absent."""
    local = Path(source) / name
    if local.is_file():
        return local
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # the API's image has no sampler extras
        return None
    cached = try_to_load_from_cache(source, name) if source.count("/") == 1 else None
    return Path(cached) if isinstance(cached, str) else None


def sampling_defaults_of(model: str) -> SamplingDefaults | None:
    """The sampling defaults ``model`` (a name as ``load_pipeline`` takes it) gets, read from its
    ``model_index.json`` (the family; FLUX.1 when absent) and its transformer's ``config.json`` without loading
    it: a local folder, or a Hub model in the local cache. None when the transformer config is not on this
    machine (or ``model`` is 'auto', which depends on the host)."""
    tiny = tiny_models()
    if model in tiny:
        transformer_config, pipeline_config = family_named(tiny[model]).tiny_configs.get(
            model, ({"guidance_embeds": True}, {})
        )
        return defaults_for(
            tiny[model], SimpleNamespace(**transformer_config), SimpleNamespace(**pipeline_config)
        )
    source = model_aliases().get(model, model)
    config = _model_file(source, "transformer/config.json")
    if config is None:
        return None
    index = _model_file(source, "model_index.json")
    pipeline_config = json.loads(index.read_text()) if index else {"_class_name": "FluxPipeline"}
    # diffusers' FluxTransformer2DModel has no guidance embedding unless its config says so
    guidance_embeds = json.loads(config.read_text()).get("guidance_embeds", False)
    return defaults_for(
        family_of(pipeline_config["_class_name"]),
        SimpleNamespace(guidance_embeds=guidance_embeds),
        SimpleNamespace(**pipeline_config),
    )


def pick_dtype(name: str, device: str) -> torch.dtype:
    """'auto' is bfloat16 on CUDA (FLUX's native dtype) and float32 elsewhere."""
    import torch

    if name == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return getattr(torch, name)


def load_pipeline(model: str, dtype: str = "auto", cpu_offload: bool = False, device: str | None = None):
    """``model``: 'auto', 'tiny' / 'tiny-chroma' / 'tiny-control' / 'tiny-sd3' (random weights), 'toy' (shapes world), 'dev', 'schnell',
    'chroma', a Hub id or a folder. The regional pipeline is the one of the family its ``model_index.json``
    names (FluxPipeline -> RegionalFluxPipeline, ChromaPipeline -> RegionalChromaPipeline).

    The pipeline goes to CUDA when available; ``cpu_offload`` there keeps it in CPU memory and moves each
    model to the GPU only while it runs (enable_model_cpu_offload), for 24 GB cards.
    """
    import torch
    from diffusers import DiffusionPipeline

    from regional.families import regional_pipeline_class

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if model == "auto":
        model = default_model(device)
        logger.info("model 'auto' is %r on %s", model, device)
    tiny = tiny_models()
    if model in tiny:
        logger.warning("using the tiny random-weight model: it draws noise, not pictures")
        module, _, builder = family_named(tiny[model]).tiny_models[model].partition(":")
        return getattr(importlib.import_module(module), builder)().to(device)
    source = model_aliases().get(model, model)
    pipeline_class = regional_pipeline_class(DiffusionPipeline.load_config(source)["_class_name"])
    pipe = pipeline_class.from_pretrained(source, torch_dtype=pick_dtype(dtype, device))
    if cpu_offload and device == "cuda":
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    return pipe


def load_controlnet(source: str, pipe):
    """A ControlNet of ``pipe``'s family (Hub id or folder) in its dtype, on its device."""
    import diffusers

    class_name = family_named(pipe.family).controlnet_class
    if class_name is None:
        raise ValueError(f"the {pipe.family} family has no ControlNets")
    controlnet = getattr(diffusers, class_name).from_pretrained(source, torch_dtype=pipe.transformer.dtype)
    return controlnet.to(pipe._execution_device)
