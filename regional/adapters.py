"""Per-request LoRAs on a long-lived pipeline, and a bounded cache of loaded models (ControlNets).

``LoraSet.activate`` makes exactly a request's LoRAs active with its weights: those not loaded are loaded
(diffusers' ``load_lora_weights``, through peft), the least recently used beyond ``max_loaded`` are deleted,
and a request without LoRAs runs with every adapter disabled, which is the base model bit for bit (peft's
disabled layers run the base layer alone). The pipeline's own weights are never fused or changed.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LoraChoice:
    """One LoRA of a request: its catalogue name, where its weights are (Hub id or path), its weight."""

    name: str
    source: str
    weight: float = 1.0


def adapter_name(name: str) -> str:
    """A peft adapter name for a catalogue name (peft keys modules by it, so no dots or slashes)."""
    return "lora_" + hashlib.sha256(name.encode()).hexdigest()[:16]


def weight_file(source: str) -> dict[str, str]:
    """``weight_name`` for a local folder holding one ``.safetensors`` file (older diffusers cannot find it
    offline on their own); nothing for files and Hub ids."""
    folder = Path(source)
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    return {"weight_name": files[0].name} if len(files) == 1 else {}


class LoraSet:
    """The LoRAs loaded into ``pipe`` (at most ``max_loaded``) and the set active for the current request."""

    def __init__(self, pipe, max_loaded: int = 4) -> None:
        if max_loaded < 1:
            raise ValueError(f"max_loaded must be >= 1, got {max_loaded}")
        self.pipe = pipe
        self.max_loaded = max_loaded
        self.loaded: OrderedDict[str, str] = OrderedDict()
        """Catalogue name -> source, least recently used first."""

    def activate(self, choices: Sequence[LoraChoice]) -> None:
        """Exactly ``choices`` active with their weights; none: every adapter disabled."""
        names = [choice.name for choice in choices]
        if len(set(names)) != len(names):
            raise ValueError(f"a LoRA is named twice: {names}")
        if len(choices) > self.max_loaded:
            raise ValueError(
                f"{len(choices)} LoRAs requested; at most {self.max_loaded} can be loaded at once"
            )
        if not choices:
            if self.loaded:  # a failed load removed its own half (below)
                self.pipe.disable_lora()
            return
        for choice in choices:
            if self.loaded.get(choice.name) == choice.source:
                self.loaded.move_to_end(choice.name)
                continue
            if choice.name in self.loaded:  # the catalogue now points elsewhere
                self._delete(choice.name)
            self._evict(keep=set(names), room_for=1)
            try:
                self.pipe.load_lora_weights(
                    choice.source, adapter_name=adapter_name(choice.name), **weight_file(choice.source)
                )
            except Exception:  # a half-loaded adapter must not stay active, nor block the next try
                if adapter_name(choice.name) in self.pipe.get_list_adapters().get("transformer", []):
                    self.pipe.delete_adapters(adapter_name(choice.name))
                self.pipe.disable_lora()
                raise
            self.loaded[choice.name] = choice.source
        self.pipe.enable_lora()
        self.pipe.set_adapters(
            [adapter_name(name) for name in names], adapter_weights=[choice.weight for choice in choices]
        )

    def _evict(self, keep: set[str], room_for: int) -> None:
        for name in list(self.loaded):
            if len(self.loaded) + room_for <= self.max_loaded:
                return
            if name not in keep:
                self._delete(name)

    def _delete(self, name: str) -> None:
        self.pipe.delete_adapters(adapter_name(name))
        del self.loaded[name]


class ModelCache:
    """Loaded models by name, at most ``max_loaded``, the least recently used dropped first."""

    def __init__(self, load: Callable[[str], Any], max_loaded: int = 2) -> None:
        if max_loaded < 1:
            raise ValueError(f"max_loaded must be >= 1, got {max_loaded}")
        self.load = load
        self.max_loaded = max_loaded
        self.models: OrderedDict[str, Any] = OrderedDict()

    def get(self, name: str) -> Any:
        if name in self.models:
            self.models.move_to_end(name)
            return self.models[name]
        while len(self.models) >= self.max_loaded:
            self.models.popitem(last=False)
        self.models[name] = model = self.load(name)
        return model
