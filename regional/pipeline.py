"""The regional pipeline's stages and denoising loop, shared by every model family, on stock diffusers.

A family's pipeline (``regional.families``) is its stock diffusers pipeline (same components, loading,
LoRA loaders, offloading) with ``RegionalPipelineMixin`` in front, whose ``__call__`` takes a ``Layout``.
Steps before ``inject_steps`` run one transformer forward over ``[base prompt | regional prompts | image]``
with region-aware attention (``regional.attention``); later steps are the plain model with the base prompt.
With classifier-free guidance the negative prompt's pass is always plain: a layout has no regional negative
prompts, and the paper's control acts through the prompts being drawn.

``RegionalFluxPipeline`` and ``RegionalChromaPipeline`` are importable from here as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import numpy as np
import torch
from diffusers.pipelines.flux.pipeline_flux import calculate_shift, retrieve_timesteps

from regional.attention import (
    BlockType,
    RegionalAttentionState,
    RegionalAttnProcessor,
    build_region_attention,
    has_regional_processors,
    install_regional_processors,
)
from regional.defaults import SamplingDefaults, default_token_margin, defaults_for
from regional.layout import Layout
from regional.masks import MaskVariant, layout_regions
from regional.raster import MIN_REGION_TOKENS, TOKEN_PX

logger = logging.getLogger(__name__)

CALLBACK_TENSOR_INPUTS = ("latents", "prompt_embeds")
"""The tensors ``callback_on_step_end`` may ask for (``prompt_embeds``: the base prompt's)."""


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


def regional_attention_state(
    membership: np.ndarray,
    lengths: list[int],
    base_text_len: int,
    region_attention: str,
    base_ratio: float,
    double_blocks: frozenset[int],
    single_blocks: frozenset[int],
    device,
    region_mask: MaskVariant | None = None,
    grid_width: int | None = None,
) -> RegionalAttentionState:
    """The processors' state for regions of ``membership`` (regions x image tokens, ``layout_regions``) whose
    prompts carry ``lengths`` tokens after ``base_text_len`` base tokens; ``region_mask`` a variant of M on a
    grid ``grid_width`` tokens wide."""
    return RegionalAttentionState(
        base_text_len=base_text_len,
        region_text_len=sum(lengths),
        region_attention=build_region_attention(
            torch.from_numpy(membership), lengths, device, region_attention, region_mask, grid_width
        ),
        base_ratio=base_ratio,
        double_blocks=double_blocks,
        single_blocks=single_blocks,
    )


@dataclass(frozen=True)
class PromptEmbeds:
    """A prompt encoded as the family's stock pipeline encodes it, repeated for every image of the batch."""

    embeds: torch.Tensor
    """Shape (batch, T, dim): the text tokens the transformer attends to."""
    pooled: torch.Tensor | None = None
    """Shape (batch, dim): FLUX.1's pooled CLIP embedding; None where the family has none (Chroma)."""
    mask: torch.Tensor | None = None
    """Shape (batch, T): the text tokens the transformer may attend to, in the stock pipeline's dtype
    (Chroma's T5 padding mask); None where the family attends to every token (FLUX.1)."""
    positions: torch.Tensor | None = None
    """Shape (T,): each token's position in its own prompt's encoding, for families whose text tokens have
    rotary positions (FLUX.2): a regional prompt's tokens keep the positions the stock pipeline gives them
    alone. None: 0 .. T-1."""

    def text_positions(self) -> torch.Tensor:
        if self.positions is not None:
            return self.positions
        return torch.arange(self.embeds.shape[1], device=self.embeds.device)

    def stacked_on(self, other: PromptEmbeds) -> PromptEmbeds:
        """``[self; other]`` along the batch: one batch for classifier-free guidance (``self`` negative)."""

        def stack(a, b):
            return None if a is None else torch.cat([a, b], dim=0)

        return PromptEmbeds(
            embeds=stack(self.embeds, other.embeds),
            pooled=stack(self.pooled, other.pooled),
            mask=stack(self.mask, other.mask),
        )

    def followed_by(self, region_embeds: torch.Tensor, region_positions: torch.Tensor) -> PromptEmbeds:
        """``[this prompt | regional prompts]``, from ``region_embeds`` of shape (1, R, dim) whose tokens have
        ``region_positions`` (R,) in their own prompts. The mask marks the regional tokens attendable; the
        regional path never reads it (it uses M, ``regional.attention``)."""
        batch = self.embeds.shape[0]
        region_embeds = region_embeds.to(self.embeds.dtype).expand(batch, -1, -1)
        mask = self.mask
        if mask is not None:
            mask = torch.cat([mask, mask.new_ones(batch, region_embeds.shape[1])], dim=1)
        positions = torch.cat([self.text_positions(), region_positions.to(self.embeds.device)])
        return replace(
            self, embeds=torch.cat([self.embeds, region_embeds], dim=1), mask=mask, positions=positions
        )


@dataclass(frozen=True)
class Denoising:
    """Where the denoising loop starts (stages 4-5): text-to-image starts from noise at the first timestep;
    image-to-image (``regional.image_to_image``) from the image noised to a later one."""

    latents: torch.Tensor
    """Shape (batch, image tokens, channels): the packed initial latents."""
    image_ids: Any
    """The image tokens' positions as the transformer takes them: FLUX's ids, shape (image tokens, 3);
    Qwen-Image's image shapes; None where the transformer takes none (SD3)."""
    timesteps: torch.Tensor
    """The timesteps the loop runs, in order."""
    begin_index: int = 0
    """The scheduler's index of ``timesteps[0]``."""
    after_step: Callable[[int, torch.Tensor], torch.Tensor] | None = None
    """Applied to the latents after each scheduler step (step index, latents) -> latents: inpainting puts the
    known area back."""
    step_conditioning: Callable[[int, torch.Tensor, torch.Tensor, dict, dict], dict] | None = None
    """Per step (step index, timestep t, the transformer's input latents, the pass's text inputs and attention
    kwargs: regional in injected steps; with batched guidance the batch ``[negative | positive]``) ->
    transformer keyword arguments added to the step's passes (``regional.controls``): ControlNet residuals, or a
    Control model's ``hidden_states`` with the control latents concatenated. Without batched guidance the
    negative pass reuses the positive pass's, as the stock pipelines do."""


class RegionalPipelineMixin:
    """The shared stages (``check_regional_inputs``, ``encode_regional_prompts``, ``prepare_regional_state``,
    ``prepare_denoising``, the loop in ``__call__``, ``decode_latents``) in front of a stock pipeline.

    A family supplies the hooks below. Every family has one image token per 16 px (``regional.raster``) in
    row-major order. The defaults of ``prepare_denoising``, ``timestep_inputs`` and ``decode_latents`` are
    FLUX.1-shaped (packed 2x2 latents, ``t / 1000``, image ids); a family whose stock pipeline differs
    overrides them (SD3).
    """

    family: str
    """The family's name in ``regional.families`` (its ``Family``: defaults, token margin, variants)."""
    regional_processor: Callable[[BlockType, int], RegionalAttnProcessor]
    """The attention processor installed on every attention module of ``regional_attention_blocks()``: a
    ``RegionalAttnProcessor`` class, or a function of (block type, index) where block types differ (FLUX.2)."""
    pipeline_output: type
    """The stock pipeline's output class."""
    batched_guidance: bool = False
    """Whether the stock pipeline runs classifier-free guidance as one batch ``[negative | positive]`` (SD3)
    rather than two passes (FLUX.1's true CFG, Chroma): plain steps do the same, so that the outputs match."""
    attention_kwargs_argument: str = "joint_attention_kwargs"
    """The transformer's argument for the attention processors' kwargs (Qwen-Image's: ``attention_kwargs``)."""
    image_positions_argument: str = "img_ids"
    """The transformer's argument for the image tokens' positions (``Denoising.image_ids``; Qwen-Image:
    ``img_shapes``)."""
    max_text_tokens: int = 512
    """The longest ``max_sequence_length`` the stock pipeline accepts (T5's 512; Qwen-Image's 1024)."""

    # --- family hooks ------------------------------------------------------------------------------------

    @property
    def text_tokenizer(self):
        """The tokenizer of the text encoder whose embeddings the regional prompts carry (T5)."""
        raise NotImplementedError

    def encode_text(
        self, prompt: str, batch: int, max_sequence_length: int, lora_scale: float | None
    ) -> PromptEmbeds:
        """The base (or negative) prompt, encoded exactly as the stock pipeline encodes its prompt."""
        raise NotImplementedError

    def regional_text_embeds(self, prompts: list[str], max_sequence_length: int, device) -> torch.Tensor:
        """Each prompt encoded as the stock pipeline encodes a prompt, padded to ``max_sequence_length``:
        shape (len(prompts), max_sequence_length, dim)."""
        raise NotImplementedError

    def transformer_inputs(self, prompt: PromptEmbeds, image_tokens: int, guidance_scale: float) -> dict:
        """The transformer's keyword arguments for ``prompt`` (all but the latents, timestep and image ids)."""
        raise NotImplementedError

    def timestep_inputs(self, t: torch.Tensor, hidden_states: torch.Tensor, image_ids) -> dict:
        """The transformer's timestep (and position) arguments for one step at timestep ``t``. FLUX-shaped by
        default: ``t / 1000`` in the latents' dtype, and the image tokens' positions."""
        return {
            "timestep": t.expand(hidden_states.shape[0]).to(hidden_states.dtype) / 1000,
            self.image_positions_argument: image_ids,
        }

    def classifier_free_guidance_scale(
        self, guidance_scale: float, true_cfg_scale: float, negative_prompt: str | None
    ) -> float:
        """The scale of the negative-prompt pass; 1 or less runs none. By default the family's
        ``guidance_scale`` is its classifier-free guidance scale (Chroma, SD3.5, FLUX.2 [klein], Qwen-Image),
        and FLUX.1's ``true_cfg_scale`` is refused rather than ignored; guidance-distilled families override."""
        if true_cfg_scale != 1.0:
            raise ValueError(
                f"true_cfg_scale is for FLUX.1, got {true_cfg_scale}: {type(self).__name__}'s guidance_scale is "
                "already its classifier-free guidance scale"
            )
        return guidance_scale

    def attention_blocks_of(self, model) -> Mapping[BlockType, Sequence]:
        """The attention modules of ``model`` (the transformer, or a ControlNet built like it) by block type,
        in order."""
        raise NotImplementedError

    def guided_noise(
        self, noise_pred: torch.Tensor, neg_noise_pred: torch.Tensor, scale: float
    ) -> torch.Tensor:
        """Classifier-free guidance: the prediction moved away from the negative prompt's by ``scale``."""
        return neg_noise_pred + scale * (noise_pred - neg_noise_pred)

    @property
    def text_padded_left(self) -> bool:
        """Whether the stock pipeline's prompt embeddings carry their padding before the prompt's tokens (a
        left-padding tokenizer's, FLUX.2 [klein]'s Qwen3)."""
        return getattr(self.text_tokenizer, "padding_side", "right") == "left"

    # --- shared stages -----------------------------------------------------------------------------------

    def regional_attention_blocks(self) -> Mapping[BlockType, Sequence]:
        """The transformer's attention modules by block type; their counts bound the block schedule."""
        return self.attention_blocks_of(self.transformer)

    @property
    def denoised_channels(self) -> int:
        """Channels of the unpacked latents (a Control model's input also carries the control latents)."""
        return self.transformer.config.in_channels // 4

    @property
    def sampling_defaults(self) -> SamplingDefaults:
        """Defaults for this checkpoint: its family's (``Family.defaults``), e.g. FLUX.1-dev's or -schnell's."""
        return defaults_for(self.family, self.transformer.config, self.config)

    def real_token_counts(self, prompts: list[str], max_sequence_length: int) -> list[int]:
        """The tokens of each prompt as the stock pipeline tokenizes it, before padding (EOS included)."""
        real = self.text_tokenizer(prompts, truncation=True, max_length=max_sequence_length).input_ids
        return [len(ids) for ids in real]

    def regional_token_lengths(
        self, prompts: list[str], max_sequence_length: int, token_margin: int | None
    ) -> list[int]:
        """Tokens kept per regional prompt: its real tokens plus ``token_margin``, or all
        ``max_sequence_length`` when ``token_margin`` is None."""
        if token_margin is None:
            return [max_sequence_length] * len(prompts)
        real = self.real_token_counts(prompts, max_sequence_length)
        return [min(count + token_margin, max_sequence_length) for count in real]

    def encode_regional_prompts(
        self, prompts: list[str], max_sequence_length: int, token_margin: int | None, device: torch.device
    ) -> tuple[torch.Tensor, list[int], torch.Tensor]:
        """Text embeddings of the regional prompts, concatenated along the sequence.

        Each prompt is encoded exactly as the stock pipeline encodes a prompt (padded to
        ``max_sequence_length``, so its embeddings match what the model saw in training), then cut to its real
        tokens plus ``token_margin`` padding tokens (at the end, or at the start with a left-padding tokenizer);
        ``token_margin=None`` keeps all ``max_sequence_length`` tokens (the authors' choice for FLUX.1).
        Returns (embeddings of shape (1, sum(lengths), dim), lengths, the kept tokens' positions in their
        prompt's padded encoding, shape (sum(lengths),)).
        """
        embeds = self.regional_text_embeds(prompts, max_sequence_length, device)
        lengths = self.regional_token_lengths(prompts, max_sequence_length, token_margin)
        padded = embeds.shape[1]
        left = self.text_padded_left
        kept = [range(padded - length, padded) if left else range(length) for length in lengths]
        pieces = [embeds[i, kept_i.start : kept_i.stop] for i, kept_i in enumerate(kept)]
        positions = torch.tensor([p for kept_i in kept for p in kept_i], device=device)
        return torch.cat(pieces, dim=0).unsqueeze(0), lengths, positions

    def prepare_regional_state(
        self,
        layout: Layout,
        base: PromptEmbeds,
        max_sequence_length: int,
        token_margin: int | None,
        region_attention: str,
        base_ratio: float,
        double_blocks: frozenset[int],
        single_blocks: frozenset[int],
        region_mask: MaskVariant | None = None,
        min_tokens: int = 0,
    ) -> tuple[PromptEmbeds, RegionalAttentionState]:
        """``[base prompt | regional prompts]`` and the processors' state: built once per request, shared by
        every step and block."""
        device = base.embeds.device
        prompts, membership = layout_regions(layout, min_tokens)
        region_embeds, lengths, positions = self.encode_regional_prompts(
            prompts, max_sequence_length, token_margin, device
        )
        state = regional_attention_state(
            membership, lengths, base.embeds.shape[1], region_attention, base_ratio, double_blocks, single_blocks,
            device, region_mask, layout.width // TOKEN_PX,
        )  # fmt: skip
        prompt = base.followed_by(region_embeds, positions)
        return prompt, replace(state, text_positions=prompt.text_positions())

    def block_schedule(
        self,
        double_interval: int | None = None,
        single_interval: int | None = None,
        double_blocks: Sequence[int] | None = None,
        single_blocks: Sequence[int] | None = None,
    ) -> tuple[frozenset[int], frozenset[int]]:
        """The injected double and single blocks: explicit lists, or every k-th block (unset: the defaults)."""
        defaults = self.sampling_defaults
        attention_blocks = self.regional_attention_blocks()
        double = select_blocks(
            len(attention_blocks["double"]),
            defaults.double_inject_interval if double_interval is None else double_interval,
            double_blocks,
            "double",
        )
        single = select_blocks(
            len(attention_blocks.get("single", ())),
            defaults.single_inject_interval if single_interval is None else single_interval,
            single_blocks,
            "single",
        )
        return double, single

    def install_regional_processors(self, model=None) -> None:
        """The family's processor on every attention module of ``model`` (the transformer, or a ControlNet built
        like it), unless there already. Installed on first use (diffusers derives components from
        ``__init__``'s signature, so no override), and again if the caller replaced them; with no regional state
        they behave as the stock processor."""
        model = self.transformer if model is None else model
        if not has_regional_processors(model):
            install_regional_processors(self.attention_blocks_of(model), self.regional_processor)

    def predict_noise(
        self,
        hidden_states,
        t,
        image_ids,
        inputs: dict,
        attention_kwargs: dict,
        conditioning: dict | None = None,
    ) -> torch.Tensor:
        """One transformer pass of the loop at timestep ``t``: the prompt's ``inputs``
        (``transformer_inputs``), the step's ``conditioning`` (ControlNet residuals), ``attention_kwargs``
        (with ``regional_state`` in injected steps)."""
        return self.transformer(
            **{"hidden_states": hidden_states, **inputs, **(conditioning or {})},
            **self.timestep_inputs(t, hidden_states, image_ids),
            **{self.attention_kwargs_argument: attention_kwargs},
            return_dict=False,
        )[0]

    def prepare_timesteps(self, steps: int, height: int, width: int, device, sigmas=None) -> torch.Tensor:
        """The scheduler's timesteps for ``steps`` steps at this canvas, with FLUX's resolution-dependent shift
        (the stock FLUX.1 and Chroma pipelines' schedule)."""
        sigmas = np.linspace(1.0, 1 / steps, steps) if sigmas is None else sigmas
        if getattr(self.scheduler.config, "use_flow_sigmas", False):
            sigmas = None
        mu = self.timestep_shift((height // TOKEN_PX) * (width // TOKEN_PX), steps)
        timesteps, _ = retrieve_timesteps(self.scheduler, steps, device, sigmas=sigmas, mu=mu)
        return timesteps

    def timestep_shift(self, image_tokens: int, steps: int) -> float:
        """The schedule's resolution-dependent shift ``mu`` (FLUX.1's and Chroma's; FLUX.2 has its own)."""
        return calculate_shift(
            image_tokens,
            self.scheduler.config.get("base_image_seq_len", 256),
            self.scheduler.config.get("max_image_seq_len", 4096),
            self.scheduler.config.get("base_shift", 0.5),
            self.scheduler.config.get("max_shift", 1.15),
        )

    def prepare_denoising(
        self,
        steps: int,
        batch: int,
        height: int,
        width: int,
        dtype: torch.dtype,
        device: torch.device,
        generator,
        latents: torch.Tensor | None,
        sigmas,
    ) -> Denoising:
        """Text-to-image: noise (or ``latents``) and every timestep, as the stock text-to-image pipeline."""
        latents, image_ids = self.prepare_latents(
            batch, self.denoised_channels, height, width, dtype, device, generator, latents
        )
        return Denoising(latents, image_ids, self.prepare_timesteps(steps, height, width, device, sigmas))

    def check_regional_inputs(
        self,
        steps: int,
        base_ratio: float,
        inject_steps: int,
        num_images_per_prompt: int,
        max_sequence_length: int,
        region_token_margin: int | None,
        region_min_tokens: int,
        callback_on_step_end_tensor_inputs: Sequence[str],
    ) -> None:
        if steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {steps}")
        if not 0.0 <= base_ratio <= 1.0:
            raise ValueError(f"base_ratio must be in [0, 1], got {base_ratio}")
        if not 0 <= inject_steps <= steps:
            raise ValueError(f"inject_steps must be in [0, num_inference_steps={steps}], got {inject_steps}")
        if num_images_per_prompt < 1:
            raise ValueError(f"num_images_per_prompt must be >= 1, got {num_images_per_prompt}")
        if not 1 <= max_sequence_length <= self.max_text_tokens:
            raise ValueError(
                f"max_sequence_length must be in [1, {self.max_text_tokens}] (the model's limit), got "
                f"{max_sequence_length}"
            )
        if region_token_margin is not None and region_token_margin < 0:
            raise ValueError(f"region_token_margin must be >= 0, None or 'auto', got {region_token_margin}")
        if region_min_tokens < 0:
            raise ValueError(f"region_min_tokens must be >= 0, got {region_min_tokens}")
        unknown = set(callback_on_step_end_tensor_inputs) - set(CALLBACK_TENSOR_INPUTS)
        if unknown:
            raise ValueError(
                f"callback_on_step_end_tensor_inputs {sorted(unknown)} not in {list(CALLBACK_TENSOR_INPUTS)}"
            )

    def decode_latents(self, latents: torch.Tensor, height: int, width: int, output_type: str):
        """Packed latents -> images; ``output_type="latent"`` returns them as they are."""
        if output_type == "latent":
            return latents
        latents = self._unpack_latents(latents, height, width, self.vae_scale_factor)
        latents = (latents / self.vae.config.scaling_factor) + self.vae.config.shift_factor
        image = self.vae.decode(latents, return_dict=False)[0]
        return self.image_processor.postprocess(image, output_type=output_type)

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
        region_token_margin: int | Literal["auto"] | None = "auto",
        region_attention: str = "grouped",
        region_mask: MaskVariant | dict | None = None,
        region_min_tokens: int = MIN_REGION_TOKENS,
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
            guidance_scale: FLUX.1: distilled guidance. Chroma: the classifier-free guidance scale; > 1 runs a
                plain pass per step with ``layout.negative_prompt`` (or the empty prompt).
            base_ratio: beta of eq. 7 in [0, 1]; lower = stronger regional control, higher = smoother seams.
            inject_steps: regional control in the first T steps (0 = the plain model with the base prompt).
            double_inject_interval / single_inject_interval: inject in every k-th double / single block.
            double_inject_blocks / single_inject_blocks: explicit block indices instead of an interval.
            true_cfg_scale: FLUX.1 only: > 1 runs an extra plain pass per step with ``layout.negative_prompt``,
                or with the empty prompt when there is none (true classifier-free guidance, twice the cost).
                For models trained without guidance distillation; FLUX.1-dev uses ``guidance_scale``.
            region_token_margin: padding tokens kept after each regional prompt; "auto" takes the family's
                (``regional.families``); None pads every regional prompt to
                ``max_sequence_length`` like the authors' code for FLUX.1 (slower, closer to their outputs).
            region_attention: "grouped" (default: one attention per group of tokens sharing regions, no
                L x L mask), "flex" (one block-sparse FlexAttention call, compiled on first use; with a
                compiled transformer, no recompilation for new layouts of the same shape) or "dense" (SDPA with
                the boolean mask; the reference). All three are exact.
            region_mask: a variant of the mask M (``regional.masks.MaskVariant``, or its fields as a dict):
                blocks of M turned off, or a soft mask (a finite logit bias, optionally feathered at region
                borders) instead of the paper's hard one; runs on the dense path. None: the paper's mask.
            region_min_tokens: a box region smaller than this many tokens (16 px) in width or height is
                grown about its centre to this size, so its prompt has tokens enough to draw its object
                (``regional.raster.MIN_REGION_TOKENS``, measured on the toy world); 0 takes boxes as given.
            Other arguments as in the stock pipeline. ``output_type="latent"`` returns packed latents
            (batch, image tokens, channels).
        """
        # 1. Check inputs and fill defaults
        layout = layout if isinstance(layout, Layout) else Layout.model_validate(layout)
        defaults = self.sampling_defaults
        steps = num_inference_steps if num_inference_steps is not None else defaults.num_inference_steps
        guidance_scale = defaults.guidance_scale if guidance_scale is None else guidance_scale
        base_ratio = defaults.base_ratio if base_ratio is None else base_ratio
        inject_steps = min(defaults.inject_steps, steps) if inject_steps is None else inject_steps
        if isinstance(region_mask, dict):
            unknown = set(region_mask) - {f.name for f in fields(MaskVariant)}
            if unknown:
                raise ValueError(f"region_mask has unknown fields {sorted(unknown)}")
            region_mask = MaskVariant(**region_mask)
        if region_token_margin == "auto":
            region_token_margin = default_token_margin(self.family)
        # A tokenizer trained for shorter prompts (the toy model's) declares its own limit.
        max_sequence_length = max_sequence_length or min(
            defaults.max_sequence_length, self.text_tokenizer.model_max_length
        )
        self.check_regional_inputs(
            steps,
            base_ratio,
            inject_steps,
            num_images_per_prompt,
            max_sequence_length,
            region_token_margin,
            region_min_tokens,
            callback_on_step_end_tensor_inputs,
        )
        double_blocks, single_blocks = self.block_schedule(
            double_inject_interval, single_inject_interval, double_inject_blocks, single_inject_blocks
        )
        self.install_regional_processors()
        self._guidance_scale = guidance_scale
        self._joint_attention_kwargs = dict(joint_attention_kwargs or {})
        self._current_timestep = None
        self._interrupt = False
        device = self._execution_device
        height, width = layout.height, layout.width
        batch = num_images_per_prompt

        # 2. Encode the base prompt (and the negative one) exactly as the stock pipeline does
        lora_scale = self._joint_attention_kwargs.get("scale")
        base = self.encode_text(layout.base_prompt, batch, max_sequence_length, lora_scale)
        cfg_scale = self.classifier_free_guidance_scale(
            guidance_scale, true_cfg_scale, layout.negative_prompt
        )
        if cfg_scale > 1:
            negative = self.encode_text(layout.negative_prompt or "", batch, max_sequence_length, lora_scale)

        # 3. Regional prompts and the regional attention: built once per request
        regional = bool(layout.regions) and inject_steps > 0
        if regional:
            regional_prompt, state = self.prepare_regional_state(
                layout,
                base,
                max_sequence_length,
                region_token_margin,
                region_attention,
                base_ratio,
                double_blocks,
                single_blocks,
                region_mask,
                region_min_tokens,
            )

        # 4-5. Prepare latent variables and timesteps, then the transformer's text inputs
        denoising = self.prepare_denoising(
            steps, batch, height, width, base.embeds.dtype, device, generator, latents, sigmas
        )
        latents, latent_image_ids, timesteps = denoising.latents, denoising.image_ids, denoising.timesteps
        image_tokens = (height // TOKEN_PX) * (width // TOKEN_PX)
        steps = len(timesteps)
        self._num_timesteps = len(timesteps)
        plain_inputs = self.transformer_inputs(base, image_tokens, guidance_scale)
        if regional:
            regional_inputs = self.transformer_inputs(regional_prompt, image_tokens, guidance_scale)
            regional_kwargs = {**self._joint_attention_kwargs, "regional_state": state}
        if cfg_scale > 1:
            negative_inputs = self.transformer_inputs(negative, image_tokens, guidance_scale)

        if cfg_scale > 1 and self.batched_guidance:
            guided_inputs = self.transformer_inputs(negative.stacked_on(base), image_tokens, guidance_scale)

        # 6. Denoising loop
        def predict(
            hidden_states, t, inputs: dict, attention_kwargs: dict, conditioning: dict
        ) -> torch.Tensor:
            return self.predict_noise(
                hidden_states, t, latent_image_ids, inputs, attention_kwargs, conditioning
            )

        self.scheduler.set_begin_index(denoising.begin_index)
        with self.progress_bar(total=steps) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                self._current_timestep = t
                injected = regional and i < inject_steps
                if injected:
                    inputs, attention_kwargs = regional_inputs, regional_kwargs
                else:
                    inputs, attention_kwargs = plain_inputs, self._joint_attention_kwargs
                condition = denoising.step_conditioning or (lambda *args: {})
                if cfg_scale > 1 and self.batched_guidance and not injected:
                    both = torch.cat([latents] * 2)
                    conditioning = condition(i, t, both, guided_inputs, attention_kwargs)
                    both_noise = predict(both, t, guided_inputs, attention_kwargs, conditioning)
                    neg_noise_pred, noise_pred = both_noise.chunk(2)
                    noise_pred = self.guided_noise(noise_pred, neg_noise_pred, cfg_scale)
                else:
                    conditioning = condition(i, t, latents, inputs, attention_kwargs)
                    noise_pred = predict(latents, t, inputs, attention_kwargs, conditioning)
                    if cfg_scale > 1:  # the negative branch is the plain model
                        neg_noise_pred = predict(
                            latents, t, negative_inputs, self._joint_attention_kwargs, conditioning
                        )
                        noise_pred = self.guided_noise(noise_pred, neg_noise_pred, cfg_scale)

                latents = self.scheduler.step(noise_pred, t, latents, return_dict=False)[0]
                if denoising.after_step is not None:
                    latents = denoising.after_step(i, latents)

                if callback_on_step_end is not None:
                    tensors = {"latents": latents, "prompt_embeds": base.embeds}
                    callback_kwargs = {name: tensors[name] for name in callback_on_step_end_tensor_inputs}
                    callback_outputs = callback_on_step_end(self, i, t, callback_kwargs)
                    latents = callback_outputs.pop("latents", latents)
                    if "prompt_embeds" in callback_outputs:
                        base = replace(base, embeds=callback_outputs.pop("prompt_embeds"))
                        plain_inputs = self.transformer_inputs(base, image_tokens, guidance_scale)
                        if cfg_scale > 1 and self.batched_guidance:
                            guided = negative.stacked_on(base)
                            guided_inputs = self.transformer_inputs(guided, image_tokens, guidance_scale)
                progress_bar.update()
        self._current_timestep = None

        # 7. Decode
        image = self.decode_latents(latents, height, width, output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (image,)
        return self.pipeline_output(images=image)


def __getattr__(name: str):
    from regional.families import exported_class

    found = exported_class(name)
    if found is None:
        raise AttributeError(f"module 'regional.pipeline' has no attribute {name!r}")
    return found
