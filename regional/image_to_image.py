"""Image-to-image and inpainting: where the shared denoising loop starts, on diffusers' stock pipelines.

A family's image-to-image pipeline is ``RegionalImg2ImgMixin`` in front of its regional hooks and the stock
image-to-image pipeline (``FluxImg2ImgPipeline``); inpainting likewise on the stock inpainting pipeline. Only
stages 4-5 of ``RegionalPipelineMixin`` differ, and they call the stock pipeline's own methods in the stock
order (so with no regional control the output is the stock pipeline's, bit for bit):

- the timesteps are the text-to-image schedule cut by ``strength`` (``get_timesteps``): the loop runs its last
  ``num_inference_steps * strength`` steps, rounded up (any strength > 0 runs at least one);
- the initial latents are the image's latents noised to the first of them (``prepare_latents``);
- inpainting: after every step the area outside the mask is put back, noised to the next timestep, and after
  the last step it is the image's latents themselves (``prepare_mask_latents``; the mask is 1 where the image
  changes).

``inject_steps`` counts the steps that run: regional control acts in the first ``inject_steps`` of them.
The image and the mask are resized to the layout's canvas, as the stock pipelines do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from regional.defaults import DEFAULT_STRENGTH
from regional.pipeline import Denoising


@dataclass(frozen=True)
class ImageInputs:
    """One call's image inputs, kept on the pipeline for the call's stages 4-5 (as diffusers keeps its own
    per-call state, ``_guidance_scale``, on the pipeline)."""

    image: object
    """A PIL image, numpy array or tensor, as the stock pipeline takes it."""
    strength: float
    mask_image: object | None = None
    """Inpainting only: white (1) where the image changes."""


class RegionalImg2ImgMixin:
    """Image-to-image in front of a family's regional pipeline on its stock image-to-image pipeline."""

    _image_inputs: ImageInputs | None = None

    def __call__(self, layout, image, strength: float = DEFAULT_STRENGTH, **kwargs):
        """Rework ``image`` after ``layout``: ``strength`` in [0, 1] is how much of the schedule runs (1 starts
        from pure noise and ignores the image). Other arguments as in the text-to-image regional pipeline."""
        return self._call_with(ImageInputs(image=image, strength=strength), layout, kwargs)

    def _call_with(self, inputs: ImageInputs, layout, kwargs: dict):
        if not 0.0 <= inputs.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {inputs.strength}")
        self._image_inputs = inputs
        try:
            return super().__call__(layout, **kwargs)
        finally:
            self._image_inputs = None

    def image_and_timesteps(self, steps: int, height: int, width: int, device, sigmas):
        """The image preprocessed to the canvas (float32, as the stock pipelines do), the schedule cut by
        ``strength``, and the scheduler's index of its first step (set as the begin index)."""
        image = self.image_processor.preprocess(self._image_inputs.image, height=height, width=width)
        self.prepare_timesteps(steps, height, width, device, sigmas)
        strength = self._image_inputs.strength
        timesteps, remaining = self.get_timesteps(steps, strength, device)
        if remaining < 1:
            raise ValueError(
                f"strength {strength} leaves no step of num_inference_steps={steps}: raise strength or the steps"
            )
        return image.to(dtype=torch.float32), timesteps, steps - remaining

    def prepare_denoising(self, steps, batch, height, width, dtype, device, generator, latents, sigmas):
        image, timesteps, begin = self.image_and_timesteps(steps, height, width, device, sigmas)
        num_channels_latents = self.denoised_channels
        latents, image_ids = self.prepare_latents(
            image, timesteps[:1].repeat(batch), batch, num_channels_latents, height, width, dtype, device,
            generator, latents,
        )  # fmt: skip
        return Denoising(latents, image_ids, timesteps, begin)


class RegionalInpaintMixin(RegionalImg2ImgMixin):
    """Inpainting in front of a family's regional pipeline on its stock inpainting pipeline."""

    def __call__(self, layout, image, mask_image, strength: float = DEFAULT_STRENGTH, **kwargs):
        """Repaint the area of ``image`` that ``mask_image`` marks white after ``layout``; the rest stays the
        image (in latent space: exactly its latents). ``strength`` as in image-to-image. Other arguments as in
        the text-to-image regional pipeline."""
        return self._call_with(
            ImageInputs(image=image, strength=strength, mask_image=mask_image), layout, kwargs
        )

    def prepare_denoising(self, steps, batch, height, width, dtype, device, generator, latents, sigmas):
        image, timesteps, begin = self.image_and_timesteps(steps, height, width, device, sigmas)
        num_channels_latents = self.denoised_channels
        latents, noise, image_latents, image_ids = self.prepare_latents(
            image, timesteps[:1].repeat(batch), batch, num_channels_latents, height, width, dtype, device,
            generator, latents,
        )  # fmt: skip
        mask_condition = self.mask_processor.preprocess(
            self._image_inputs.mask_image, height=height, width=width
        )
        mask, _ = self.prepare_mask_latents(
            mask_condition, image * (mask_condition < 0.5), 1, num_channels_latents, batch, height, width, dtype,
            device, generator,
        )  # fmt: skip
        blend = KnownAreaBlend(self.scheduler, timesteps, image_latents, noise, mask)
        return Denoising(latents, image_ids, timesteps, begin, after_step=blend)


@dataclass(frozen=True)
class KnownAreaBlend:
    """Inpainting's step: outside the mask the latents are the image's, noised to the next timestep (the
    stock inpainting pipeline's blend). Tensors are packed, (batch, image tokens, channels)."""

    scheduler: object
    timesteps: torch.Tensor
    image_latents: torch.Tensor
    noise: torch.Tensor
    mask: torch.Tensor
    """1 where the image changes, per packed channel."""

    def __call__(self, step: int, latents: torch.Tensor) -> torch.Tensor:
        known = self.image_latents
        if step < len(self.timesteps) - 1:
            known = self.scheduler.scale_noise(known, torch.tensor([self.timesteps[step + 1]]), self.noise)
        return (1 - self.mask) * known + self.mask * latents
