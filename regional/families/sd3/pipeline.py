"""Stable Diffusion 3.5 (Large, Large Turbo, Medium): ``RegionalStableDiffusion3Pipeline`` on diffusers'
StableDiffusion3Pipeline.

SD3's transformer (MMDiT) is all joint blocks: each runs one attention over image and text, with text and
image weights apart, like FLUX.1's double-stream blocks; there are no single-stream blocks. The method maps so:

- Every joint block is a "double" block of the schedule. Its processor orders the sequence ``[image | text]``;
  the regional processor reorders it to the shared math's ``[text | image]`` and back (same values).
- SD3.5 Medium's first blocks add a second, image-only attention (dual attention). In an injected block it
  gets eq. 7 too, with M's image-to-image block as its regional path (``regional_image_attention``), so that
  a region's tokens still see no other region.
- The text is ``[CLIP-L + CLIP-G (77 tokens, padded to T5's width) | T5]``, and the pooled CLIP embeddings
  condition the blocks. A regional prompt is encoded the same way and keeps its 77 CLIP tokens and its T5 real
  tokens plus a margin; the pooled embedding comes from the base prompt, as with FLUX.1.
- Real classifier-free guidance: the negative pass runs without regional control; plain steps run the
  negative and positive prompts as one batch, as the stock pipeline does.
- Latents are not packed: the transformer patchifies 2 x 2 latent pixels (16 px) per token, in the same
  row-major order as FLUX.1's packing, so the layout's token grid is the same.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from diffusers import (
    StableDiffusion3ControlNetPipeline,
    StableDiffusion3Img2ImgPipeline,
    StableDiffusion3InpaintPipeline,
    StableDiffusion3Pipeline,
)
from diffusers.models.attention_processor import JointAttnProcessor2_0
from diffusers.pipelines.flux.pipeline_flux import calculate_shift, retrieve_timesteps
from diffusers.pipelines.stable_diffusion_3.pipeline_output import StableDiffusion3PipelineOutput

from regional.attention import (
    RegionalAttentionState,
    RegionalAttnProcessor,
    bound_regional_state,
    regional_image_attention,
    regional_joint_attention,
)
from regional.controls import ControlNetInputs
from regional.image_to_image import KnownAreaBlend, RegionalImg2ImgMixin, RegionalInpaintMixin
from regional.pipeline import Denoising, PromptEmbeds, RegionalPipelineMixin

CLIP_TOKENS = 77
"""The CLIP part of every SD3 prompt's text sequence, before its T5 tokens."""


class RegionalJointAttnProcessor(RegionalAttnProcessor, JointAttnProcessor2_0):
    """SD3's joint attention with regional prompting when a ``regional_state`` is passed, else stock."""

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        regional_state: RegionalAttentionState | None = None,
    ):
        regional_state = self.state(regional_state)
        if regional_state is None:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask)

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.unflatten(-1, (attn.heads, -1))

        def normed(norm, x: torch.Tensor) -> torch.Tensor:
            return x if norm is None else norm(x)

        query = normed(attn.norm_q, heads(attn.to_q(hidden_states)))
        key = normed(attn.norm_k, heads(attn.to_k(hidden_states)))
        value = heads(attn.to_v(hidden_states))
        if encoder_hidden_states is None:  # the image-only attention of a dual-attention block
            out = regional_image_attention(query, key, value, regional_state, self.injects(regional_state))
            return attn.to_out[1](attn.to_out[0](out.flatten(2, 3).to(query.dtype)))
        text_query = normed(attn.norm_added_q, heads(attn.add_q_proj(encoder_hidden_states)))
        text_key = normed(attn.norm_added_k, heads(attn.add_k_proj(encoder_hidden_states)))
        text_value = heads(attn.add_v_proj(encoder_hidden_states))
        out = regional_joint_attention(
            torch.cat([text_query, query], dim=1),
            torch.cat([text_key, key], dim=1),
            torch.cat([text_value, value], dim=1),
            regional_state,
            self.injects(regional_state),
        )
        out = out.flatten(2, 3).to(query.dtype)
        text_len = encoder_hidden_states.shape[1]
        text_out, image_out = out[:, :text_len], out[:, text_len:]
        if not attn.context_pre_only:
            text_out = attn.to_add_out(text_out)
        return attn.to_out[1](attn.to_out[0](image_out)), text_out


class SD3Hooks(RegionalPipelineMixin):
    """SD3.5's family hooks."""

    family = "sd3"
    regional_processor = RegionalJointAttnProcessor
    pipeline_output = StableDiffusion3PipelineOutput
    batched_guidance = True

    @property
    def text_tokenizer(self):
        return self.tokenizer_3

    def encode_text(
        self, prompt: str, batch: int, max_sequence_length: int, lora_scale: float | None
    ) -> PromptEmbeds:
        embeds, _, pooled, _ = self.encode_prompt(
            prompt=prompt,
            prompt_2=None,
            prompt_3=None,
            device=self._execution_device,
            num_images_per_prompt=batch,
            do_classifier_free_guidance=False,
            max_sequence_length=max_sequence_length,
            lora_scale=lora_scale,
        )
        return PromptEmbeds(embeds=embeds, pooled=pooled)

    def regional_text_embeds(self, prompts: list[str], max_sequence_length: int, device) -> torch.Tensor:
        embeds, _, _, _ = self.encode_prompt(
            prompt=prompts,
            prompt_2=None,
            prompt_3=None,
            device=device,
            do_classifier_free_guidance=False,
            max_sequence_length=max_sequence_length,
        )
        return embeds

    def regional_token_lengths(
        self, prompts: list[str], max_sequence_length: int, token_margin: int | None
    ) -> list[int]:
        t5 = super().regional_token_lengths(prompts, max_sequence_length, token_margin)
        return [CLIP_TOKENS + length for length in t5]

    def transformer_inputs(self, prompt: PromptEmbeds, image_tokens: int, guidance_scale: float) -> dict:
        return {"encoder_hidden_states": prompt.embeds, "pooled_projections": prompt.pooled}

    def timestep_inputs(self, t: torch.Tensor, hidden_states: torch.Tensor, image_ids) -> dict:
        return {"timestep": t.expand(hidden_states.shape[0])}

    def attention_blocks_of(self, model) -> dict[str, list]:
        blocks = model.transformer_blocks
        return {
            "double": [block.attn for block in blocks],
            "image": [getattr(block, "attn2", None) for block in blocks],  # aligned with "double"
        }

    def prepare_timesteps(self, steps: int, height: int, width: int, device, sigmas=None) -> torch.Tensor:
        """SD3's schedule: the scheduler's own sigmas, shifted for the resolution only when the scheduler is
        configured for dynamic shifting, as the stock SD3 pipelines do."""
        shift = {}
        if self.scheduler.config.get("use_dynamic_shifting", None):
            patch = self.transformer.config.patch_size
            shift["mu"] = calculate_shift(
                (height // self.vae_scale_factor // patch) * (width // self.vae_scale_factor // patch),
                self.scheduler.config.get("base_image_seq_len", 256),
                self.scheduler.config.get("max_image_seq_len", 4096),
                self.scheduler.config.get("base_shift", 0.5),
                self.scheduler.config.get("max_shift", 1.16),
            )
        timesteps, _ = retrieve_timesteps(self.scheduler, steps, device, sigmas=sigmas, **shift)
        return timesteps

    def prepare_denoising(self, steps, batch, height, width, dtype, device, generator, latents, sigmas):
        """Unpacked latents and SD3's schedule, as StableDiffusion3Pipeline prepares them."""
        latents = self.prepare_latents(
            batch, self.transformer.config.in_channels, height, width, dtype, device, generator, latents
        )
        return Denoising(latents, None, self.prepare_timesteps(steps, height, width, device, sigmas))

    def decode_latents(self, latents: torch.Tensor, height: int, width: int, output_type: str):
        if output_type == "latent":
            return latents
        latents = (latents / self.vae.config.scaling_factor) + self.vae.config.shift_factor
        image = self.vae.decode(latents, return_dict=False)[0]
        return self.image_processor.postprocess(image, output_type=output_type)


class RegionalStableDiffusion3Pipeline(SD3Hooks, StableDiffusion3Pipeline):
    """StableDiffusion3Pipeline with a ``layout`` argument. Load it exactly like StableDiffusion3Pipeline."""


class RegionalStableDiffusion3Img2ImgPipeline(
    RegionalImg2ImgMixin, SD3Hooks, StableDiffusion3Img2ImgPipeline
):
    """StableDiffusion3Img2ImgPipeline with a ``layout`` argument: ``pipe(layout=..., image=..., strength=0.6)``;
    ``from_pipe(regional_sd3_pipeline)``."""

    def prepare_denoising(self, steps, batch, height, width, dtype, device, generator, latents, sigmas):
        image, timesteps, begin = self.image_and_timesteps(steps, height, width, device, sigmas)
        if latents is None:
            latents = self.prepare_latents(
                image, timesteps[:1].repeat(batch), 1, batch, dtype, device, generator
            )
        return Denoising(latents, None, timesteps, begin)


class RegionalStableDiffusion3InpaintPipeline(
    RegionalInpaintMixin, SD3Hooks, StableDiffusion3InpaintPipeline
):
    """StableDiffusion3InpaintPipeline with a ``layout`` argument: ``pipe(layout=..., image=..., mask_image=...)``;
    ``from_pipe(regional_sd3_pipeline)``. For SD3 checkpoints (16 latent channels), as the stock pipeline's
    blend."""

    def prepare_denoising(self, steps, batch, height, width, dtype, device, generator, latents, sigmas):
        image, timesteps, begin = self.image_and_timesteps(steps, height, width, device, sigmas)
        latents, noise, image_latents = self.prepare_latents(
            batch, self.vae.config.latent_channels, height, width, dtype, device, generator, latents,
            image=image, timestep=timesteps[:1].repeat(batch), is_strength_max=self._image_inputs.strength == 1.0,
            return_noise=True, return_image_latents=True,
        )  # fmt: skip
        mask_condition = self.mask_processor.preprocess(
            self._image_inputs.mask_image, height=height, width=width
        )
        mask, _ = self.prepare_mask_latents(
            mask_condition,
            image * (mask_condition < 0.5),
            1,
            batch,
            height,
            width,
            dtype,
            device,
            generator,
            False,
        )
        blend = KnownAreaBlend(self.scheduler, timesteps, image_latents, noise, mask)
        return Denoising(latents, None, timesteps, begin, after_step=blend)


@dataclass(frozen=True)
class SD3ControlNetResiduals:
    """The SD3 ControlNet passes of one step, summed, for the transformer's ``block_controlnet_hidden_states``.

    As StableDiffusion3ControlNetPipeline runs them: on the pass's latents (the ``[negative | positive]`` batch
    in plain CFG steps), with zero pooled projections for ControlNets trained so (InstantX), and the text only
    for ControlNets that read it (SD3.5's official ones do not). In injected steps the ControlNet gets the
    transformer's regional attention, bound to its processors (its forward drops attention kwargs): the joint
    path for ControlNets with text, M's image-to-image block for text-free ones, so isolation holds.
    """

    inputs: ControlNetInputs
    conditions: list[torch.Tensor]
    """Per control image, its latents: for one image (batch) and, with CFG, for the doubled batch."""
    guided_conditions: list[torch.Tensor] | None
    keeps: list[list[float]]
    joint_attention_kwargs: dict

    def __call__(
        self, step: int, t: torch.Tensor, latents: torch.Tensor, text: dict, attention_kwargs: dict
    ) -> dict:
        guided = self.guided_conditions is not None and latents.shape[0] == self.guided_conditions[0].shape[0]
        conditions = self.guided_conditions if guided else self.conditions
        total = None
        for net, condition, scale, keep in zip(
            self.inputs.nets, conditions, self.inputs.scales, self.keeps[step], strict=True
        ):
            pooled = text["pooled_projections"]
            if net.config.force_zeros_for_pooled_projection:
                pooled = torch.zeros_like(pooled)
            with bound_regional_state(net, attention_kwargs.get("regional_state")):
                samples = net(
                    hidden_states=latents,
                    timestep=t.expand(latents.shape[0]),
                    encoder_hidden_states=text["encoder_hidden_states"]
                    if net.context_embedder is not None
                    else None,
                    pooled_projections=pooled,
                    joint_attention_kwargs=self.joint_attention_kwargs,
                    controlnet_cond=condition,
                    conditioning_scale=scale * keep,
                    return_dict=False,
                )[0]
            total = samples if total is None else [a + b for a, b in zip(total, samples, strict=True)]
        return {"block_controlnet_hidden_states": total}


class RegionalSD3ControlNetMixin:
    """SD3 ControlNets in front of SD3's regional pipeline on StableDiffusion3ControlNetPipeline."""

    _control_inputs: ControlNetInputs | None = None

    def __call__(
        self,
        layout,
        control_image,
        control_mode=None,
        controlnet_conditioning_scale=1.0,
        control_guidance_start=0.0,
        control_guidance_end=1.0,
        **kwargs,
    ):
        """Generate after ``layout``, following ``control_image`` (a list, one per ControlNet, for several);
        ``controlnet_conditioning_scale`` and ``control_guidance_start`` / ``end`` as for FLUX.1's
        ControlNets; SD3 ControlNets have no ``control_mode`` (given one, it is refused). Other arguments as in
        ``RegionalStableDiffusion3Pipeline``."""
        self._control_inputs = ControlNetInputs.of(
            self.controlnet, control_image, control_mode, controlnet_conditioning_scale, control_guidance_start,
            control_guidance_end,
        )  # fmt: skip
        try:
            return super().__call__(layout, **kwargs)
        finally:
            self._control_inputs = None

    def prepare_denoising(self, steps, batch, height, width, dtype, device, generator, latents, sigmas):
        inputs = self._control_inputs
        for net in set(inputs.nets):
            self.install_regional_processors(net)
        guided = self._guidance_scale > 1
        conditions, guided_conditions = [], []
        for net, image in zip(inputs.nets, inputs.images, strict=True):
            shift = 0 if net.config.force_zeros_for_pooled_projection else self.vae.config.shift_factor
            pixels = self.prepare_image(
                image=image, width=width, height=height, batch_size=batch, num_images_per_prompt=batch,
                device=device, dtype=self.transformer.dtype, do_classifier_free_guidance=guided,
            )  # fmt: skip
            # The stock pipeline samples the VAE with the global generator, over the doubled batch with CFG.
            encoded = (self.vae.encode(pixels).latent_dist.sample() - shift) * self.vae.config.scaling_factor
            guided_conditions.append(encoded)
            conditions.append(encoded[-batch:])
        denoising = super().prepare_denoising(
            steps, batch, height, width, dtype, device, generator, latents, sigmas
        )
        residuals = SD3ControlNetResiduals(
            inputs=inputs,
            conditions=conditions,
            guided_conditions=guided_conditions if guided else None,
            keeps=inputs.keeps(len(denoising.timesteps)),
            joint_attention_kwargs=self._joint_attention_kwargs,
        )
        return replace(denoising, step_conditioning=residuals)


class RegionalStableDiffusion3ControlNetPipeline(
    RegionalSD3ControlNetMixin, SD3Hooks, StableDiffusion3ControlNetPipeline
):
    """StableDiffusion3ControlNetPipeline with a ``layout`` argument: ``pipe(layout=..., control_image=...)``;
    ``from_pipe(regional_sd3_pipeline, controlnet=controlnet)`` (a list runs several)."""
