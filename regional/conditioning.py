"""What a request adds to its layout (an image to rework, a mask, control images) and the pipeline that
serves it: the CLI and the worker describe a request as ``Conditioning`` and call the same two methods.

The variant is built from the loaded pipeline with diffusers' ``from_pipe`` (shared modules, nothing loaded
again); the combinations that exist are each family's ``Family.variants``, class names per loaded pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from regional.families import family_named

Task = Literal["text", "img2img", "inpaint"]


@dataclass(frozen=True)
class ControlInput:
    """One control image and what reads it: a ControlNet model, or None for a Control model's own input."""

    image: Any
    controlnet: Any = None
    mode: int | None = None
    scale: float = 1.0
    start: float = 0.0
    end: float = 1.0


@dataclass(frozen=True)
class Conditioning:
    """A request's image inputs beside its layout: none is text-to-image."""

    init_image: Any = None
    """Image-to-image, or with ``mask_image`` inpainting: a PIL image."""
    strength: float | None = None
    mask_image: Any = None
    """Inpainting: white where the image changes (a PIL image of the init image's size)."""
    controls: tuple[ControlInput, ...] = ()

    @property
    def task(self) -> Task:
        if self.init_image is None:
            return "text"
        return "inpaint" if self.mask_image is not None else "img2img"

    def check(self) -> None:
        if self.init_image is None and (self.mask_image is not None or self.strength is not None):
            raise ValueError("a mask image and a strength need an init image")
        if self.strength is not None and not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {self.strength}")
        if self.mask_image is not None and self.mask_image.size != self.init_image.size:
            raise ValueError(
                f"the mask image is {self.mask_image.size[0]}x{self.mask_image.size[1]}, the init image "
                f"{self.init_image.size[0]}x{self.init_image.size[1]}: they must match"
            )

    def pipeline(self, pipe):
        """The pipeline serving this request, built from ``pipe`` (the loaded regional pipeline)."""
        self.check()
        loaded = type(pipe).__name__
        family = family_named(pipe.family)
        control_model = loaded in family.control_models
        controlnets = [control.controlnet for control in self.controls]
        if control_model:
            if len(self.controls) != 1 or controlnets[0] is not None:
                raise ValueError(
                    f"{loaded} (a Control model) takes exactly one control image and no ControlNet"
                )
            if self.controls[0] != ControlInput(image=self.controls[0].image):
                raise ValueError(
                    f"{loaded} (a Control model) takes its control image alone: no mode, scale, start or end"
                )
            controlnets = []
        elif any(net is None for net in controlnets):
            raise ValueError("each control image needs a ControlNet with this model")
        if self.task == "text" and not controlnets:
            return pipe
        key = (loaded, self.task, bool(controlnets))
        if key not in family.variants:
            available = sorted(
                f"{task}{' + ControlNet' if net else ''}"
                for name, task, net in family.variants
                if name == loaded
            )
            raise ValueError(
                f"{self.task}{' with ControlNets' if controlnets else ''} is not available for {loaded}; "
                f"available: {', '.join(available) or 'text-to-image only'}"
            )
        variant = getattr(family.pipeline_module(), family.variants[key])
        extra = {"controlnet": controlnets if len(controlnets) > 1 else controlnets[0]} if controlnets else {}
        built = variant.from_pipe(pipe, **extra)
        built.set_progress_bar_config(**getattr(pipe, "_progress_bar_config", {}))
        return built

    def arguments(self) -> dict[str, Any]:
        """The variant's call arguments for these inputs (beside ``layout`` and the sampling options)."""
        arguments: dict[str, Any] = {}
        if self.init_image is not None:
            arguments["image"] = self.init_image
            if self.strength is not None:
                arguments["strength"] = self.strength
        if self.mask_image is not None:
            arguments["mask_image"] = self.mask_image
        if self.controls and all(control.controlnet is None for control in self.controls):
            arguments["control_image"] = self.controls[0].image  # a Control model's
        elif self.controls:
            several = len(self.controls) > 1

            def each(name: str) -> Any:
                values = [getattr(control, name) for control in self.controls]
                return values if several else values[0]

            arguments.update(
                control_image=each("image"),
                control_mode=each("mode"),
                controlnet_conditioning_scale=each("scale"),
                control_guidance_start=each("start"),
                control_guidance_end=each("end"),
            )
        return arguments
