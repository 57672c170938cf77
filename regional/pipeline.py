"""RegionalFluxPipeline: FLUX.1 text-to-image with training-free regional prompting, on stock diffusers.

It is a FluxPipeline (same components, same loading, LoRA loaders, offloading) whose ``__call__`` takes a
``Layout``. Steps before ``inject_steps`` run one transformer forward over
``[base prompt | regional prompts | image]`` with region-aware attention (``regional.attention``); later
steps are plain FLUX with the base prompt alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from diffusers import FluxPipeline
from diffusers.pipelines.flux.pipeline_flux import calculate_shift, retrieve_timesteps
from diffusers.pipelines.flux.pipeline_output import FluxPipelineOutput

from regional.attention import (
    RegionalAttentionState,
    build_region_attention,
    has_regional_processors,
    install_regional_processors,
)
from regional.defaults import SamplingDefaults, defaults_for
from regional.layout import Layout
from regional.masks import layout_regions

logger = logging.getLogger(__name__)

REGION_TOKEN_MARGIN = 8
"""Padding tokens kept after each regional prompt's real tokens (its EOS included); see README, Cost."""


def select_blocks(count: int, interval: int, explicit: Sequence[int] | None, name: str) -> frozenset[int]:
    """Indices of injected blocks: ``explicit`` when given, else every ``interval``-th block from 0."""
    if explicit is not None:
        bad = [i for i in explicit if not 0 <= i < count]
        if bad:
            raise ValueError(f"{name}_inject_blocks {bad} out of range: the model has {count} {name} blocks")
        return frozenset(explicit)
    if interval < 1:
        raise ValueError(
            f"{name}_inject_interval must be >= 1, got {interval}; pass an explicit empty list instead"
        )
    return frozenset(range(0, count, interval))


class RegionalFluxPipeline(FluxPipeline):
    """FluxPipeline with a ``layout`` argument. Load it exactly like FluxPipeline (``from_pretrained``)."""

    @property
    def sampling_defaults(self) -> SamplingDefaults:
        """Defaults for this checkpoint: FLUX.1-dev-like (guidance embedding) or FLUX.1-schnell-like."""
        return defaults_for(self.transformer.config)

    def regional_token_lengths(
        self, prompts: list[str], max_sequence_length: int, token_margin: int | None
    ) -> list[int]:
        """Tokens kept per regional prompt: its real T5 tokens (EOS included) plus ``token_margin``, or all
        ``max_sequence_length`` when ``token_margin`` is None."""
        if token_margin is None:
            return [max_sequence_length] * len(prompts)
        real = self.tokenizer_2(prompts, truncation=True, max_length=max_sequence_length).input_ids
        return [min(len(ids) + token_margin, max_sequence_length) for ids in real]

    def encode_regional_prompts(
        self, prompts: list[str], max_sequence_length: int, token_margin: int | None, device: torch.device
    ) -> tuple[torch.Tensor, list[int]]:
        """T5 embeddings of the regional prompts, concatenated along the sequence.

        Each prompt is encoded exactly as FluxPipeline encodes a prompt (padded to ``max_sequence_length``, so
        its embeddings match what FLUX saw in training), then cut to its real tokens plus ``token_margin``
        padding tokens; ``token_margin=None`` keeps all ``max_sequence_length`` tokens (the authors' choice).
        Returns (embeddings of shape (1, sum(lengths), dim), lengths).
        """
        embeds = self._get_t5_prompt_embeds(
            prompt=prompts, max_sequence_length=max_sequence_length, device=device
        )
        if token_margin is None:
            lengths = [max_sequence_length] * len(prompts)
        else:
            real = self.tokenizer_2(prompts, truncation=True, max_length=max_sequence_length).input_ids
            lengths = [min(len(ids) + token_margin, max_sequence_length) for ids in real]
        pieces = [embeds[i, :length] for i, length in enumerate(lengths)]
        return torch.cat(pieces, dim=0).unsqueeze(0), lengths

    def prepare_timesteps(self, steps: int, image_seq_len: int, device, sigmas=None) -> torch.Tensor:
        """The scheduler's timesteps for ``steps`` steps, with FLUX's resolution-dependent shift."""
        sigmas = np.linspace(1.0, 1 / steps, steps) if sigmas is None else sigmas
        if getattr(self.scheduler.config, "use_flow_sigmas", False):
            sigmas = None
        mu = calculate_shift(
            image_seq_len,
            self.scheduler.config.get("base_image_seq_len", 256),
            self.scheduler.config.get("max_image_seq_len", 4096),
            self.scheduler.config.get("base_shift", 0.5),
            self.scheduler.config.get("max_shift", 1.15),
        )
        timesteps, _ = retrieve_timesteps(self.scheduler, steps, device, sigmas=sigmas, mu=mu)
        return timesteps

    @torch.no_grad()
    def __call__(
        self,
        layout: Layout | dict,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        base_ratio: float | None = None,
        inject_steps: int | None = None,
        double_inject_interval: int | None = None,
        single_inject_interval: int | None = None,
        double_inject_blocks: Sequence[int] | None = None,
        single_inject_blocks: Sequence[int] | None = None,
        num_images_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        true_cfg_scale: float = 1.0,
        region_token_margin: int | None = REGION_TOKEN_MARGIN,
        region_attention: str = "grouped",
        max_sequence_length: int | None = None,
        sigmas: list[float] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        joint_attention_kwargs: dict[str, Any] | None = None,
        callback_on_step_end: Callable[[Any, int, torch.Tensor, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
    ):
        """Generate images for ``layout``. Unset arguments take ``self.sampling_defaults``.

        Args:
            layout: a ``Layout`` (or its JSON dict); it sets the canvas size and all prompts.
            base_ratio: beta of eq. 7 in [0, 1]; lower = stronger regional control, higher = smoother seams.
            inject_steps: regional control in the first T steps (0 = plain FLUX with the base prompt).
            double_inject_interval / single_inject_interval: inject in every k-th double / single block.
            double_inject_blocks / single_inject_blocks: explicit block indices instead of an interval.
            true_cfg_scale: > 1 runs an extra plain-FLUX pass per step with ``layout.negative_prompt``, or
                with the empty prompt when there is none (true classifier-free guidance, twice the cost).
                For models trained without guidance distillation; FLUX.1-dev uses ``guidance_scale``.
            region_token_margin: padding tokens kept after each regional prompt; None pads every regional
                prompt to ``max_sequence_length`` like the authors' code (slower, closer to their outputs).
            region_attention: "grouped" (default: one attention per group of tokens sharing regions, no
                L x L mask) or "dense" (SDPA with the boolean mask; the reference). Both are exact.
            Other arguments as in FluxPipeline. ``output_type="latent"`` returns packed latents
            (batch, image tokens, channels).
        """
        # 1. Check inputs and fill defaults
        layout = layout if isinstance(layout, Layout) else Layout.model_validate(layout)
        defaults = self.sampling_defaults
        steps = num_inference_steps if num_inference_steps is not None else defaults.num_inference_steps
        guidance_scale = defaults.guidance_scale if guidance_scale is None else guidance_scale
        base_ratio = defaults.base_ratio if base_ratio is None else base_ratio
        inject_steps = min(defaults.inject_steps, steps) if inject_steps is None else inject_steps
        # A tokenizer trained for shorter prompts (the toy model's) declares its own limit.
        max_sequence_length = max_sequence_length or min(
            defaults.max_sequence_length, self.tokenizer_2.model_max_length
        )
        if steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {steps}")
        if not 0.0 <= base_ratio <= 1.0:
            raise ValueError(f"base_ratio must be in [0, 1], got {base_ratio}")
        if not 0 <= inject_steps <= steps:
            raise ValueError(f"inject_steps must be in [0, num_inference_steps={steps}], got {inject_steps}")
        if num_images_per_prompt < 1:
            raise ValueError(f"num_images_per_prompt must be >= 1, got {num_images_per_prompt}")
        if not 1 <= max_sequence_length <= 512:
            raise ValueError(
                f"max_sequence_length must be in [1, 512] (T5's limit in FLUX), got {max_sequence_length}"
            )
        if region_token_margin is not None and region_token_margin < 0:
            raise ValueError(f"region_token_margin must be >= 0 or None, got {region_token_margin}")
        unknown = set(callback_on_step_end_tensor_inputs) - set(self._callback_tensor_inputs)
        if unknown:
            raise ValueError(
                f"callback_on_step_end_tensor_inputs {sorted(unknown)} not in {self._callback_tensor_inputs}"
            )
        double_blocks = select_blocks(
            len(self.transformer.transformer_blocks),
            defaults.double_inject_interval if double_inject_interval is None else double_inject_interval,
            double_inject_blocks,
            "double",
        )
        single_blocks = select_blocks(
            len(self.transformer.single_transformer_blocks),
            defaults.single_inject_interval if single_inject_interval is None else single_inject_interval,
            single_inject_blocks,
            "single",
        )
        # Installed on first use (diffusers derives components from __init__'s signature, so no override),
        # and again if the caller replaced them; with no regional state they behave as stock FLUX.
        if not has_regional_processors(self.transformer):
            install_regional_processors(self.transformer)
        self._guidance_scale = guidance_scale
        self._joint_attention_kwargs = dict(joint_attention_kwargs or {})
        self._current_timestep = None
        self._interrupt = False
        device = self._execution_device
        height, width = layout.height, layout.width
        batch = num_images_per_prompt

        # 2. Encode the base prompt exactly as FluxPipeline does
        lora_scale = self._joint_attention_kwargs.get("scale")
        prompt_embeds, pooled_prompt_embeds, text_ids = self.encode_prompt(
            prompt=layout.base_prompt,
            prompt_2=None,
            device=device,
            num_images_per_prompt=batch,
            max_sequence_length=max_sequence_length,
            lora_scale=lora_scale,
        )
        # Unlike FluxPipeline, a scale > 1 without a negative prompt guides against the empty prompt rather
        # than being ignored: the caller asked for guidance.
        do_true_cfg = true_cfg_scale > 1
        if layout.negative_prompt is not None and not do_true_cfg:
            logger.info(
                "negative_prompt takes effect only with true_cfg_scale > 1 (FLUX is guidance-distilled)"
            )
        if do_true_cfg:
            negative_prompt_embeds, negative_pooled_prompt_embeds, negative_text_ids = self.encode_prompt(
                prompt=layout.negative_prompt or "",
                prompt_2=None,
                device=device,
                num_images_per_prompt=batch,
                max_sequence_length=max_sequence_length,
                lora_scale=lora_scale,
            )

        # 3. Regional prompts and the attention mask: built once per request, shared by all steps and blocks
        regional = bool(layout.regions) and inject_steps > 0
        if regional:
            prompts, membership = layout_regions(layout)
            region_embeds, lengths = self.encode_regional_prompts(
                prompts, max_sequence_length, region_token_margin, device
            )
            region_embeds = region_embeds.to(prompt_embeds.dtype).expand(prompt_embeds.shape[0], -1, -1)
            regional_prompt_embeds = torch.cat([prompt_embeds, region_embeds], dim=1)
            regional_text_ids = text_ids.new_zeros(*text_ids.shape[:-2], regional_prompt_embeds.shape[1], 3)
            state = RegionalAttentionState(
                base_text_len=prompt_embeds.shape[1],
                region_text_len=region_embeds.shape[1],
                region_attention=build_region_attention(
                    torch.from_numpy(membership), lengths, device, region_attention
                ),
                base_ratio=base_ratio,
                double_blocks=double_blocks,
                single_blocks=single_blocks,
            )

        # 4. Prepare latent variables
        num_channels_latents = self.transformer.config.in_channels // 4
        latents, latent_image_ids = self.prepare_latents(
            batch, num_channels_latents, height, width, prompt_embeds.dtype, device, generator, latents
        )

        # 5. Prepare timesteps (as FluxPipeline)
        timesteps = self.prepare_timesteps(steps, latents.shape[1], device, sigmas)
        steps = len(timesteps)
        self._num_timesteps = len(timesteps)
        guidance = None
        if self.transformer.config.guidance_embeds:
            guidance = torch.full([1], guidance_scale, device=device, dtype=torch.float32).expand(
                latents.shape[0]
            )

        # 6. Denoising loop
        def predict(timestep, embeds, pooled, ids, attention_kwargs):
            return self.transformer(
                hidden_states=latents,
                timestep=timestep / 1000,
                guidance=guidance,
                pooled_projections=pooled,
                encoder_hidden_states=embeds,
                txt_ids=ids,
                img_ids=latent_image_ids,
                joint_attention_kwargs=attention_kwargs,
                return_dict=False,
            )[0]

        self.scheduler.set_begin_index(0)
        with self.progress_bar(total=steps) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                self._current_timestep = t
                timestep = t.expand(latents.shape[0]).to(latents.dtype)
                if regional and i < inject_steps:
                    regional_kwargs = {**self._joint_attention_kwargs, "regional_state": state}
                    noise_pred = predict(
                        timestep,
                        regional_prompt_embeds,
                        pooled_prompt_embeds,
                        regional_text_ids,
                        regional_kwargs,
                    )
                else:
                    noise_pred = predict(
                        timestep, prompt_embeds, pooled_prompt_embeds, text_ids, self._joint_attention_kwargs
                    )
                if do_true_cfg:  # the negative branch is plain FLUX
                    neg_noise_pred = predict(
                        timestep,
                        negative_prompt_embeds,
                        negative_pooled_prompt_embeds,
                        negative_text_ids,
                        self._joint_attention_kwargs,
                    )
                    noise_pred = neg_noise_pred + true_cfg_scale * (noise_pred - neg_noise_pred)

                latents = self.scheduler.step(noise_pred, t, latents, return_dict=False)[0]

                if callback_on_step_end is not None:
                    tensors = {"latents": latents, "prompt_embeds": prompt_embeds}
                    callback_kwargs = {name: tensors[name] for name in callback_on_step_end_tensor_inputs}
                    callback_outputs = callback_on_step_end(self, i, t, callback_kwargs)
                    latents = callback_outputs.pop("latents", latents)
                    prompt_embeds = callback_outputs.pop("prompt_embeds", prompt_embeds)
                progress_bar.update()
        self._current_timestep = None

        # 7. Decode
        if output_type == "latent":
            image = latents
        else:
            latents = self._unpack_latents(latents, height, width, self.vae_scale_factor)
            latents = (latents / self.vae.config.scaling_factor) + self.vae.config.shift_factor
            image = self.vae.decode(latents, return_dict=False)[0]
            image = self.image_processor.postprocess(image, output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (image,)
        return FluxPipelineOutput(images=image)
