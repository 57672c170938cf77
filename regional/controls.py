"""ControlNets and Control models with regional prompting, on diffusers' stock pipelines.

Both add a per-step input to every transformer pass of the shared loop (``Denoising.step_conditioning``);
everything else is the family's regional pipeline, so they combine with image-to-image and inpainting.

- **ControlNet** (``FluxControlNetModel``: InstantX, Shakker-Labs union, XLabs; several at once as
  ``FluxMultiControlNetModel``): each step the ControlNet reads the control image's latents, the current
  latents and the prompts, and its residuals are added to the transformer's blocks (the negative pass of CFG
  reuses them, as the stock pipeline does). The ControlNet draws structure (pose, edges, depth), the regional
  prompts what fills it. In injected steps the ControlNet gets the same regional attention as the
  transformer (``ControlNetResiduals``); the authors' code gives it the base prompt only, which lets a
  region's prompt reach other regions' tokens through the ControlNet's attention. Per ControlNet: ``control_mode`` (union models),
  ``controlnet_conditioning_scale``, and ``control_guidance_start`` / ``end`` (the fraction of the run's steps
  in which it acts), as in ``FluxControlNetPipeline``.
- **Control models** (FLUX.1 Canny/Depth [dev]: a transformer with twice the input channels): the control
  image's latents are concatenated to the latents along channels before every pass.

The control inputs are prepared before the initial latents, in the stock pipelines' order, so with no
regional control the outputs equal the stock pipelines' bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from diffusers.models.controlnets.controlnet_flux import FluxControlNetModel, FluxMultiControlNetModel

from regional.attention import bound_regional_state


def _per_condition(value, count: int, name: str) -> list:
    """One value per control image: a list of ``count``, or a single value repeated."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * count
    if len(values) != count:
        raise ValueError(f"{name} has {len(values)} values for {count} control images")
    return values


def _controlnets(controlnet) -> list:
    """The ControlNets of a pipeline: one, or a multi-ControlNet model's (FLUX.1's or SD3's)."""
    return list(controlnet.nets) if hasattr(controlnet, "nets") else [controlnet]


@dataclass(frozen=True)
class ControlNetInputs:
    """One call's ControlNet inputs, one entry per control image, kept on the pipeline for stage 4."""

    nets: list[FluxControlNetModel]
    """The ControlNet reading each image: one per ControlNet, or a lone union ControlNet for every image."""
    images: list
    modes: list[int | None]
    scales: list[float]
    starts: list[float]
    ends: list[float]

    def keeps(self, steps: int) -> list[list[float]]:
        """Per step of ``steps``, per control image: 1 inside its [start, end] share of the steps, else 0 (the
        stock pipelines' ``controlnet_keep``)."""
        spans = list(zip(self.starts, self.ends, strict=True))
        return [
            [float(start <= i / steps and (i + 1) / steps <= end) for start, end in spans]
            for i in range(steps)
        ]

    @classmethod
    def of(cls, controlnet, image, mode, scale, start, end) -> ControlNetInputs:
        nets = _controlnets(controlnet)
        images = list(image) if isinstance(image, (list, tuple)) else [image]
        if len(nets) == 1 and hasattr(controlnet, "nets"):
            nets = nets * len(images)  # one union ControlNet, several conditions (diffusers' convention)
        if len(images) != len(nets):
            raise ValueError(
                f"{len(images)} control images for {len(nets)} ControlNets: give one per ControlNet"
            )
        count = len(images)
        inputs = cls(
            nets=nets,
            images=images,
            modes=_per_condition(mode, count, "control_mode"),
            scales=[float(s) for s in _per_condition(scale, count, "controlnet_conditioning_scale")],
            starts=[float(s) for s in _per_condition(start, count, "control_guidance_start")],
            ends=[float(e) for e in _per_condition(end, count, "control_guidance_end")],
        )
        for net, mode, start, end in zip(inputs.nets, inputs.modes, inputs.starts, inputs.ends, strict=True):
            if not 0.0 <= start < end <= 1.0:
                raise ValueError(f"control_guidance_start {start} and _end {end}: need 0 <= start < end <= 1")
            modes = getattr(net.config, "num_mode", None)
            if modes is None and mode is not None:
                raise ValueError(
                    f"control_mode {mode} given to a ControlNet without modes (not a union model)"
                )
            if modes is not None and (mode is None or not 0 <= mode < modes):
                raise ValueError(f"a union ControlNet needs a control_mode in [0, {modes}), got {mode}")
        return inputs


def _add(total: list[torch.Tensor] | None, residuals: list[torch.Tensor] | None) -> list[torch.Tensor] | None:
    """Residuals of several ControlNets summed block by block, as ``FluxMultiControlNetModel`` sums them."""
    if total is None or residuals is None:
        return total
    return [a + b for a, b in zip(total, residuals, strict=True)]


@dataclass(frozen=True)
class ControlNetResiduals:
    """The ControlNet passes of one step: their residuals for the transformer's blocks, summed.

    In injected steps each ControlNet reads ``[base | regional prompts]`` with the same regional attention
    as the transformer (its block k injected when the transformer's block k is), so a region's tokens stay
    isolated from other regions' prompts with a ControlNet attached too; in other steps it reads the base
    prompt with stock attention, as in the stock pipeline and the authors' code.
    """

    inputs: ControlNetInputs
    conditions: list[torch.Tensor]
    """Per control image: packed latents, or pixels for XLabs ControlNets."""
    modes: list[torch.Tensor | None]
    """Per control image, shape (batch, 1)."""
    keeps: list[list[float]]
    """Per step, per control image: 1 inside its [start, end] share of the steps, else 0."""
    image_ids: torch.Tensor
    guidance_scale: float
    joint_attention_kwargs: dict
    """The call's plain attention kwargs (LoRA ``scale``), passed as the stock pipeline passes them."""

    def __call__(
        self, step: int, t: torch.Tensor, latents: torch.Tensor, text: dict, attention_kwargs: dict
    ) -> dict:
        timestep = t.expand(latents.shape[0]).to(latents.dtype)
        first = self.inputs.nets[0]
        guidance = None
        if first.config.guidance_embeds:
            guidance = torch.full([1], self.guidance_scale, device=latents.device, dtype=torch.float32)
            guidance = guidance.expand(latents.shape[0])
        blocks = single_blocks = None
        for index, (net, condition, mode, scale, keep) in enumerate(
            zip(
                self.inputs.nets,
                self.conditions,
                self.modes,
                self.inputs.scales,
                self.keeps[step],
                strict=True,
            )
        ):
            # diffusers' ControlNet forward drops attention kwargs: the regional state is bound to it instead
            state = attention_kwargs.get("regional_state")
            if state is not None and net.union:  # a union ControlNet puts its mode token before the text
                state = replace(state, base_text_len=state.base_text_len + 1)
            with bound_regional_state(net, state):
                net_blocks, net_single_blocks = net(
                    hidden_states=latents,
                    controlnet_cond=condition,
                    controlnet_mode=mode,
                    conditioning_scale=scale * keep,
                    timestep=timestep / 1000,
                    guidance=guidance,
                    pooled_projections=text["pooled_projections"],
                    encoder_hidden_states=text["encoder_hidden_states"],
                    txt_ids=text["txt_ids"],
                    img_ids=self.image_ids,
                    joint_attention_kwargs=self.joint_attention_kwargs,
                    return_dict=False,
                )
            if index == 0:
                blocks, single_blocks = net_blocks, net_single_blocks
            else:
                blocks, single_blocks = _add(blocks, net_blocks), _add(single_blocks, net_single_blocks)
        return {
            "controlnet_block_samples": blocks,
            "controlnet_single_block_samples": single_blocks,
            "controlnet_blocks_repeat": first.input_hint_block is not None,
        }


class RegionalControlNetMixin:
    """ControlNet in front of a family's regional pipeline on its stock ControlNet pipeline."""

    _control_inputs: ControlNetInputs | None = None

    def __call__(
        self,
        layout,
        control_image,
        control_mode: int | Sequence[int | None] | None = None,
        controlnet_conditioning_scale: float | Sequence[float] = 1.0,
        control_guidance_start: float | Sequence[float] = 0.0,
        control_guidance_end: float | Sequence[float] = 1.0,
        **kwargs,
    ):
        """Generate after ``layout``, following ``control_image`` (a list, one per ControlNet, for several).
        ``control_mode``: a union ControlNet's mode (e.g. 0 canny, 4 pose for Shakker-Labs' union model).
        ``controlnet_conditioning_scale``: the residuals' weight (0 = no control). ``control_guidance_start``
        / ``end``: the share of the steps in which each ControlNet acts. Each takes one value for all
        control images or a list. Other arguments as in the regional pipeline this mixin fronts."""
        self._control_inputs = ControlNetInputs.of(
            self.controlnet, control_image, control_mode, controlnet_conditioning_scale, control_guidance_start,
            control_guidance_end,
        )  # fmt: skip
        try:
            return super().__call__(layout, **kwargs)
        finally:
            self._control_inputs = None

    def prepare_controlnet_conditions(self, batch, height, width, device, generator) -> list[torch.Tensor]:
        """Each control image resized to the canvas, then (except for XLabs ControlNets, which read pixels)
        encoded by the VAE, sampling from ``generator`` as the stock pipeline does, and packed."""
        conditions = []
        for net, image in zip(self._control_inputs.nets, self._control_inputs.images, strict=True):
            image = self.prepare_image(
                image=image, width=width, height=height, batch_size=batch, num_images_per_prompt=batch,
                device=device, dtype=self.vae.dtype,
            )  # fmt: skip
            if net.input_hint_block is None:
                image = self.vae.encode(image).latent_dist.sample(generator=generator)
                image = (image - self.vae.config.shift_factor) * self.vae.config.scaling_factor
                image = self._pack_latents(image, batch, self.denoised_channels, *image.shape[2:])
            conditions.append(image)
        return conditions

    def prepare_denoising(self, steps, batch, height, width, dtype, device, generator, latents, sigmas):
        inputs = self._control_inputs
        for net in set(inputs.nets):
            self.install_regional_processors(net)
        conditions = self.prepare_controlnet_conditions(batch, height, width, device, generator)
        # A ControlNet among several reads -1 as "no mode", as FluxMultiControlNetModel passes it.
        several = isinstance(self.controlnet, FluxMultiControlNetModel)
        modes = [
            None if mode is None and not several
            else torch.full((batch, 1), -1 if mode is None else mode, device=device, dtype=torch.long)
            for mode in inputs.modes
        ]  # fmt: skip
        denoising = super().prepare_denoising(
            steps, batch, height, width, dtype, device, generator, latents, sigmas
        )
        residuals = ControlNetResiduals(
            inputs=inputs,
            conditions=conditions,
            modes=modes,
            keeps=inputs.keeps(len(denoising.timesteps)),
            image_ids=denoising.image_ids,
            guidance_scale=self._guidance_scale,
            joint_attention_kwargs=self._joint_attention_kwargs,
        )
        return replace(denoising, step_conditioning=residuals)


@dataclass(frozen=True)
class ControlLatents:
    """A Control model's input: the latents with the control image's latents concatenated along channels."""

    control: torch.Tensor

    def __call__(
        self, step: int, t: torch.Tensor, latents: torch.Tensor, text: dict, attention_kwargs: dict
    ) -> dict:
        return {"hidden_states": torch.cat([latents, self.control], dim=2)}


class RegionalControlMixin:
    """A Control model (channel-concatenated control latents) in front of a family's regional pipeline on its
    stock Control pipeline."""

    _control_image = None

    @property
    def denoised_channels(self) -> int:
        return self.transformer.config.in_channels // 8

    def __call__(self, layout, control_image, **kwargs):
        """Generate after ``layout``, following ``control_image`` (a depth map for a Depth model, an edge map
        for a Canny one). Other arguments as in the regional pipeline this mixin fronts."""
        self._control_image = control_image
        try:
            return super().__call__(layout, **kwargs)
        finally:
            self._control_image = None

    def prepare_denoising(self, steps, batch, height, width, dtype, device, generator, latents, sigmas):
        image = self.prepare_image(
            image=self._control_image, width=width, height=height, batch_size=batch, num_images_per_prompt=batch,
            device=device, dtype=self.vae.dtype,
        )  # fmt: skip
        control = self.vae.encode(image).latent_dist.sample(generator=generator)
        control = (control - self.vae.config.shift_factor) * self.vae.config.scaling_factor
        control = self._pack_latents(control, batch, self.denoised_channels, *control.shape[2:])
        denoising = super().prepare_denoising(
            steps, batch, height, width, dtype, device, generator, latents, sigmas
        )
        return replace(denoising, step_conditioning=ControlLatents(control))
