"""The warm sampler: the pipeline is loaded once per worker process and serves jobs one at a time.

This is the only module of the service that imports torch (lazily, so ``regional worker --queues plan``
never loads it).
"""

from __future__ import annotations

import gc
import io
import json
import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, PngImagePlugin

from regional.defaults import DEFAULT_STRENGTH
from regional.layout import Layout
from worker.exceptions import WorkerError

logger = logging.getLogger(__name__)


class GpuOutOfMemory(WorkerError):
    code = "gpu_oom"


class BadInput(WorkerError):
    """The job's inputs do not fit the loaded model (e.g. a ControlNet the catalogue no longer names)."""

    code = "bad_input"


DEFAULTED_PARAMETERS = {
    "steps": "num_inference_steps",
    "guidance": "guidance_scale",
    "base_ratio": "base_ratio",
    "inject_steps": "inject_steps",
    "double_inject_interval": "double_inject_interval",
    "single_inject_interval": "single_inject_interval",
}
"""Job parameter -> the field of the pipeline's ``sampling_defaults`` that fills it when unset (the same
defaults ``RegionalFluxPipeline.__call__`` fills in; recorded here so that the job shows the values used).
``max_sequence_length`` is not a job parameter: the pipeline fills it itself."""


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("regional-flux", "torch", "diffusers", "transformers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def hub_revision(source: str) -> str | None:
    """The commit of a Hub model in the local cache (offline), None for local folders and built-in models."""
    if Path(source).exists() or source.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(source, "model_index.json")
    except Exception:
        return None
    if isinstance(path, str) and "/snapshots/" in path:
        return path.split("/snapshots/", 1)[1].split("/", 1)[0]
    return None


@dataclass
class Sampler:
    """A loaded pipeline plus what identifies it in results' metadata, and the operator's catalogues of
    ControlNets and LoRAs (names -> sources) with the ones loaded so far (bounded)."""

    pipe: Any
    model: str
    device: str
    model_info: dict[str, Any] = field(default_factory=dict)
    controlnet_sources: dict[str, str] = field(default_factory=dict)
    lora_sources: dict[str, str] = field(default_factory=dict)
    max_loaded_controlnets: int = 2
    max_loaded_loras: int = 4

    def __post_init__(self) -> None:
        from regional.adapters import LoraSet, ModelCache
        from regional.loading import load_controlnet

        self.loras = LoraSet(self.pipe, self.max_loaded_loras)
        self.controlnets = ModelCache(
            lambda name: load_controlnet(self.controlnet_sources[name], self.pipe),
            self.max_loaded_controlnets,
        )

    @classmethod
    def from_settings(cls, settings) -> Sampler:
        """The sampler a worker with ``settings`` (``worker.settings.ServiceSettings``) serves jobs with."""
        return cls.load(
            settings.model,
            settings.dtype,
            settings.cpu_offload,
            controlnet_sources=settings.controlnets,
            lora_sources=settings.loras,
            max_loaded_controlnets=settings.max_loaded_controlnets,
            max_loaded_loras=settings.max_loaded_loras,
        )

    @classmethod
    def load(cls, model: str | None, dtype: str = "auto", cpu_offload: bool = False, **catalogues) -> Sampler:
        """``catalogues``: the remaining fields (``controlnet_sources``, ``lora_sources``, the bounds)."""
        import torch

        from regional.loading import default_model, load_pipeline, model_aliases

        device = "cuda" if torch.cuda.is_available() else "cpu"
        model = model or default_model(device)
        if device == "cpu":
            logger.warning("no GPU found: sampling on CPU with model %r", model)
        pipe = load_pipeline(model, dtype=dtype, cpu_offload=cpu_offload, device=device)
        pipe.set_progress_bar_config(disable=True)
        config = dict(getattr(pipe, "config", {}) or {})
        info = {
            "id": model,
            "source": model_aliases().get(model, model),
            "revision": config.get("_commit_hash") or hub_revision(model_aliases().get(model, model)),
            "dtype": str(pipe.transformer.dtype).removeprefix("torch."),
            "device": device,
        }
        return cls(pipe=pipe, model=model, device=device, model_info=info, **catalogues)

    def effective_parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        """The request's parameters with every unset one filled from this model's ``sampling_defaults``, and
        the model and its family recorded.

        As in the pipeline, a default ``inject_steps`` is clipped to ``steps``.
        """
        defaults = self.pipe.sampling_defaults
        filled = {
            name: getattr(defaults, attr) if params.get(name) is None else params[name]
            for name, attr in DEFAULTED_PARAMETERS.items()
        }
        if params.get("inject_steps") is None:
            filled["inject_steps"] = min(filled["inject_steps"], filled["steps"])
        if params.get("init_image") is not None and params.get("strength") is None:
            filled["strength"] = DEFAULT_STRENGTH
        return {**params, **filled, "model": self.model, "family": self.pipe.family}

    def conditioning(self, params: dict[str, Any], read_input: Callable[[str], bytes]):
        """The job's image inputs (stored by the API, read by sha256) as a ``Conditioning``, and its LoRAs
        made the pipeline's active set."""
        from regional.adapters import LoraChoice
        from regional.conditioning import Conditioning, ControlInput

        def image(ref: dict | None, mode: str) -> Image.Image | None:
            if ref is None:
                return None
            if read_input is None:
                raise BadInput("this job has input images and the worker was given no store to read them")
            try:
                data = read_input(ref["sha256"])
            except FileNotFoundError:
                raise BadInput(
                    f"input image {ref['sha256'][:12]}... is no longer stored; send it again"
                ) from None
            return ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert(mode)

        def controlnet(name: str | None):
            if name is None:
                return None
            if name not in self.controlnet_sources:
                raise BadInput(f"ControlNet {name!r} is not in this worker's catalogue")
            return self.controlnets.get(name)

        controls = tuple(
            ControlInput(
                image=image(control["image"], "RGB"),
                controlnet=controlnet(control.get("controlnet")),
                mode=control.get("mode"),
                scale=control.get("scale", 1.0),
                start=control.get("start", 0.0),
                end=control.get("end", 1.0),
            )
            for control in params.get("controls") or []
        )
        loras = []
        for lora in params.get("loras") or []:
            if lora["name"] not in self.lora_sources:
                raise BadInput(f"LoRA {lora['name']!r} is not in this worker's catalogue")
            loras.append(LoraChoice(lora["name"], self.lora_sources[lora["name"]], lora.get("weight", 1.0)))
        self.loras.activate(loras)
        return Conditioning(
            init_image=image(params.get("init_image"), "RGB"),
            strength=params.get("strength"),
            mask_image=image(params.get("mask_image"), "L"),
            controls=controls,
        )

    def sample(
        self,
        layout: Layout,
        params: dict[str, Any],
        on_step: Callable[[int, int], None],
        read_input: Callable[[str], bytes] | None = None,
    ) -> list[Image.Image]:
        """Run the pipeline; ``on_step(done, total)`` is called after each denoising step and may raise.
        ``read_input``: the bytes of a stored input image by sha256 (jobs with images).

        CUDA out-of-memory frees what it can and raises ``GpuOutOfMemory`` so the worker goes on; inputs
        the model cannot take raise ``BadInput``.
        """
        import torch

        total = params["steps"]

        def callback(pipe: Any, i: int, t: Any, kwargs: dict) -> dict:
            on_step(i + 1, total)
            return {}

        out_of_memory = False
        try:
            conditioning = self.conditioning(params, read_input)  # loading adapters may run out of memory too
            pipe = conditioning.pipeline(self.pipe)
            return pipe(
                **conditioning.arguments(),
                layout=layout,
                num_inference_steps=total,
                guidance_scale=params["guidance"],
                base_ratio=params["base_ratio"],
                inject_steps=params["inject_steps"],
                double_inject_interval=params["double_inject_interval"],
                single_inject_interval=params["single_inject_interval"],
                num_images_per_prompt=params["num_images"],
                generator=torch.Generator().manual_seed(params["seed"]),
                output_type="pil",
                callback_on_step_end=callback,
            ).images
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        except torch.OutOfMemoryError:
            out_of_memory = True  # handled below, outside the except block, so its frames can be freed
        if out_of_memory:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        raise GpuOutOfMemory("the GPU ran out of memory for this job; try fewer images or a smaller canvas")


def png_with_parameters(image: Image.Image, layout: Layout, metadata_doc: dict[str, Any]) -> bytes:
    """PNG bytes with the generation parameters as text chunks: ``parameters`` in the A1111 style that image
    tools read, and ``regional`` with the full metadata JSON (layout, seed, model, versions)."""
    params = metadata_doc["parameters"]
    lines = [layout.base_prompt]
    if layout.negative_prompt:
        lines.append(f"Negative prompt: {layout.negative_prompt}")
    lines.append(
        f"Steps: {params['steps']}, Sampler: FlowMatchEuler, CFG scale: {params['guidance']}, "
        f"Seed: {params['seed']}, Size: {layout.width}x{layout.height}, Model: {params['model']}, "
        f"Base ratio: {params['base_ratio']}, Inject steps: {params['inject_steps']}, "
        f"Regions: {len(layout.regions)}"
    )
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "\n".join(lines))
    info.add_text("regional", json.dumps(metadata_doc, separators=(",", ":")))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
