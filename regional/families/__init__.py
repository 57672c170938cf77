"""Model families: one package each, found here by discovery, so adding a family touches no shared module.

A family's package ``regional.families.<name>`` holds, torch-free in its ``__init__``, its ``FAMILY``
(a ``Family``: the stock pipelines it serves, its sampling defaults, aliases, built-in tiny models, pipeline
variants, real size for the cost bench), and in ``pipeline`` its regional pipelines on diffusers' stock ones:
prompt encoding, the attention-processor hook, the block list. Everything else (Layout, masks, eq. 7, the
schedule, the denoising loop) is shared (``regional.pipeline``, ``regional.attention``). No torch here: the API
asks which family a checkpoint is without loading one.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from regional.defaults import SamplingDefaults


@dataclass(frozen=True)
class Family:
    name: str
    stock_pipelines: tuple[str, ...]
    """``model_index.json`` ``_class_name`` values (diffusers' stock pipelines) it serves; each has a
    ``Regional<Stock>`` class in the family's ``pipeline`` module."""
    defaults: Callable[[Any, Any], SamplingDefaults]
    """A checkpoint's sampling defaults from its transformer config and its pipeline config (``model_index.json``:
    FLUX.2 [klein] says there whether it is step-distilled), both read by attribute."""
    region_token_margin: int
    """Padding tokens kept after each regional prompt's real tokens (``region_token_margin="auto"``)."""
    exports: tuple[str, ...]
    """The regional pipeline classes of its ``pipeline`` module that ``regional`` exports."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Model names for ``--model`` / ``REGIONAL_MODEL`` -> Hub ids."""
    tiny_models: Mapping[str, str] = field(default_factory=dict)
    """Built-in random-weight models -> ``"module:function"`` building the regional pipeline."""
    tiny_configs: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = field(default_factory=dict)
    """A built-in model's (transformer config, pipeline config) entries that its defaults read, for its
    defaults without building it; absent: a guidance embedding (FLUX.1-dev-like)."""
    variants: Mapping[tuple[str, str, bool], str] = field(default_factory=dict)
    """(loaded regional pipeline, task, with ControlNets) -> the variant's class (``regional.conditioning``)."""
    control_models: frozenset[str] = frozenset()
    """Loaded regional pipelines whose transformer takes a control image itself (no ControlNet)."""
    controlnet_class: str | None = None
    """The diffusers class of its ControlNets (``regional.loading.load_controlnet``); None: it has none."""
    real_size: tuple[str, Mapping[str, Any], str] | None = None
    """(transformer class, its real configuration, the checkpoint that is) for ``regional bench cost``."""
    min_diffusers: str = "0.35.0"
    """The oldest diffusers release with the family's stock pipelines (``make test-lowest`` tests it there)."""

    def missing_requirement(self) -> str | None:
        """Why the installed diffusers cannot run this family, or None when it can."""
        from importlib.metadata import version

        from packaging.version import Version

        installed = version("diffusers")
        if Version(installed) < Version(self.min_diffusers):
            return f"the {self.name} family needs diffusers >= {self.min_diffusers}, installed {installed}"
        return None

    def pipeline_module(self):
        missing = self.missing_requirement()
        if missing is not None:
            raise ImportError(missing)
        return importlib.import_module(f"regional.families.{self.name}.pipeline")


@functools.cache
def families() -> dict[str, Family]:
    """Every family package under ``regional.families``, by name."""
    found = {}
    for module in pkgutil.iter_modules(__path__):
        if module.ispkg:
            family = importlib.import_module(f"{__name__}.{module.name}").FAMILY
            found[family.name] = family
    return found


def family_named(name: str) -> Family:
    if name not in families():
        raise ValueError(f"no model family {name!r}; known: {sorted(families())}")
    return families()[name]


def family_of(pipeline_class_name: str) -> str:
    """The family of a stock or regional pipeline class name (a saved regional pipeline records its own)."""
    stock = pipeline_class_name.removeprefix("Regional")
    for family in families().values():
        if stock in family.stock_pipelines:
            return family.name
    supported = sorted(name for family in families().values() for name in family.stock_pipelines)
    raise ValueError(
        f"no regional pipeline for {pipeline_class_name!r}: supported checkpoints are {supported}"
    )


def regional_pipeline_class(pipeline_class_name: str) -> type:
    """The regional pipeline serving checkpoints of ``pipeline_class_name`` (stock or regional name)."""
    module = family_named(family_of(pipeline_class_name)).pipeline_module()
    return getattr(module, "Regional" + pipeline_class_name.removeprefix("Regional"))


def exported_class(name: str) -> type | None:
    """The regional pipeline class ``name`` that some family exports, None when none does."""
    for family in families().values():
        if name in family.exports:
            return getattr(family.pipeline_module(), name)
    return None


def lazy_pipeline_attribute(package: str, name: str):
    """A family package's ``__getattr__``: its pipeline module's attributes, imported (with torch) on use."""
    return getattr(importlib.import_module(f"{package}.pipeline"), name)
