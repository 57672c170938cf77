"""FLUX.1 (dev, schnell): ``RegionalFluxPipeline``, its image-to-image and inpainting pipelines
(``RegionalFluxImg2ImgPipeline``, ``RegionalFluxInpaintPipeline``), their ControlNet and Control-model
variants (``regional.controls``), and the attention hook every FLUX.1-shaped model shares.

FLUX.1's transformer runs 19 double-stream blocks (text and image weights apart, one joint attention over
``[text | image]``) and then 38 single-stream blocks over the concatenated sequence; every attention module
is a ``FluxAttention``. The regional prompts carry T5 embeddings; CLIP's pooled embedding and the text
position ids (zeros) come from the base prompt, as in the authors' code.
"""

from __future__ import annotations

import logging

import torch
from diffusers import (
    FluxControlImg2ImgPipeline,
    FluxControlNetImg2ImgPipeline,
    FluxControlNetInpaintPipeline,
    FluxControlNetPipeline,
    FluxControlPipeline,
    FluxImg2ImgPipeline,
    FluxInpaintPipeline,
    FluxPipeline,
)
from diffusers.models.embeddings import apply_rotary_emb
from diffusers.models.transformers.transformer_flux import FluxAttnProcessor
from diffusers.pipelines.flux.pipeline_output import FluxPipelineOutput

from regional.attention import RegionalAttentionState, RegionalAttnProcessor, regional_joint_attention
from regional.controls import RegionalControlMixin, RegionalControlNetMixin
from regional.image_to_image import RegionalImg2ImgMixin, RegionalInpaintMixin
from regional.pipeline import PromptEmbeds, RegionalPipelineMixin

logger = logging.getLogger(__name__)


class RegionalFluxAttnProcessor(RegionalAttnProcessor, FluxAttnProcessor):
    """``FluxAttention`` that applies regional prompting when a ``regional_state`` is passed, else stock.

    Serves every model built from ``FluxAttention`` (FLUX.1, Chroma).
    """

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: torch.Tensor | None = None,
        regional_state: RegionalAttentionState | None = None,
    ):
        regional_state = self.state(regional_state)
        if regional_state is None:
            return super().__call__(
                attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb
            )
        return flux_regional_attention(
            attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb, regional_state,
            self.injects(regional_state), self._attention_backend,
        )  # fmt: skip


def flux_regional_attention(
    attn,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    image_rotary_emb,
    state: RegionalAttentionState,
    injected: bool,
    backend,
):
    """A FLUX-shaped attention module (separate Q/K/V projections, QK norms, rotary embeddings over
    ``[text | image]``) with regional attention: a double-stream block's (image, text) outputs after their
    projections, or a single-stream block's attention output before the block's own projection."""
    query, key, value = joint_qkv(attn, hidden_states, encoder_hidden_states)
    if image_rotary_emb is not None:
        query = apply_rotary_emb(query, image_rotary_emb, sequence_dim=1)
        key = apply_rotary_emb(key, image_rotary_emb, sequence_dim=1)
    out = regional_joint_attention(
        query, key, value, state, injected, attention_mask=attention_mask, backend=backend
    )
    out = out.flatten(2, 3).to(query.dtype)

    if encoder_hidden_states is None:  # single-stream block: the caller applies the output projection
        return out
    text_len = encoder_hidden_states.shape[1]
    text_out, image_out = out[:, :text_len], out[:, text_len:]
    image_out = attn.to_out[1](attn.to_out[0](image_out.contiguous()))
    text_out = attn.to_add_out(text_out.contiguous())
    return image_out, text_out


def joint_qkv(attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None):
    """Q, K, V of ``[text | image]`` after the QK norms, each (batch, seq, heads, head_dim), from an attention
    module with separate text projections (``add_q_proj``: FLUX's, Qwen-Image's); image only without text."""
    if getattr(attn, "fused_projections", False):
        raise ValueError(
            "regional prompting does not support fused QKV projections; call unfuse_qkv_projections()"
        )

    def heads(x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (attn.heads, -1))

    query = attn.norm_q(heads(attn.to_q(hidden_states)))
    key = attn.norm_k(heads(attn.to_k(hidden_states)))
    value = heads(attn.to_v(hidden_states))
    if encoder_hidden_states is not None:
        text_query = attn.norm_added_q(heads(attn.add_q_proj(encoder_hidden_states)))
        text_key = attn.norm_added_k(heads(attn.add_k_proj(encoder_hidden_states)))
        text_value = heads(attn.add_v_proj(encoder_hidden_states))
        query = torch.cat([text_query, query], dim=1)
        key = torch.cat([text_key, key], dim=1)
        value = torch.cat([text_value, value], dim=1)
    return query, key, value


def flux_attention_blocks(transformer) -> dict[str, list]:
    """The ``FluxAttention`` modules of a FLUX.1-shaped transformer (FLUX.1, Chroma), by block type."""
    return {
        "double": [block.attn for block in transformer.transformer_blocks],
        "single": [block.attn for block in transformer.single_transformer_blocks],
    }


class FluxHooks(RegionalPipelineMixin):
    """FLUX.1's family hooks, shared by its text-to-image, image-to-image and inpainting pipelines."""

    family = "flux"
    regional_processor = RegionalFluxAttnProcessor
    pipeline_output = FluxPipelineOutput

    @property
    def text_tokenizer(self):
        return self.tokenizer_2

    def encode_text(
        self, prompt: str, batch: int, max_sequence_length: int, lora_scale: float | None
    ) -> PromptEmbeds:
        embeds, pooled, _ = self.encode_prompt(
            prompt=prompt,
            prompt_2=None,
            device=self._execution_device,
            num_images_per_prompt=batch,
            max_sequence_length=max_sequence_length,
            lora_scale=lora_scale,
        )
        return PromptEmbeds(embeds=embeds, pooled=pooled)

    def regional_text_embeds(self, prompts: list[str], max_sequence_length: int, device) -> torch.Tensor:
        return self._get_t5_prompt_embeds(
            prompt=prompts, max_sequence_length=max_sequence_length, device=device
        )

    def transformer_inputs(self, prompt: PromptEmbeds, image_tokens: int, guidance_scale: float) -> dict:
        batch = prompt.embeds.shape[0]
        guidance = None
        if self.transformer.config.guidance_embeds:
            guidance = torch.full([1], guidance_scale, device=prompt.embeds.device, dtype=torch.float32)
            guidance = guidance.expand(batch)
        return {
            "encoder_hidden_states": prompt.embeds,
            "pooled_projections": prompt.pooled,
            "txt_ids": prompt.embeds.new_zeros(prompt.embeds.shape[1], 3),
            "guidance": guidance,
        }

    def classifier_free_guidance_scale(
        self, guidance_scale: float, true_cfg_scale: float, negative_prompt: str | None
    ) -> float:
        # Unlike FluxPipeline, a scale > 1 without a negative prompt guides against the empty prompt rather
        # than being ignored: the caller asked for guidance.
        if negative_prompt is not None and true_cfg_scale <= 1:
            logger.info(
                "negative_prompt takes effect only with true_cfg_scale > 1 (FLUX is guidance-distilled)"
            )
        return true_cfg_scale

    def attention_blocks_of(self, model) -> dict[str, list]:
        return flux_attention_blocks(model)


class RegionalFluxPipeline(FluxHooks, FluxPipeline):
    """FluxPipeline with a ``layout`` argument. Load it exactly like FluxPipeline (``from_pretrained``)."""


class RegionalFluxImg2ImgPipeline(RegionalImg2ImgMixin, FluxHooks, FluxImg2ImgPipeline):
    """FluxImg2ImgPipeline with a ``layout`` argument: ``pipe(layout=..., image=..., strength=0.6)``. Load it
    like FluxImg2ImgPipeline, or ``RegionalFluxImg2ImgPipeline.from_pipe(regional_flux_pipeline)``."""


class RegionalFluxInpaintPipeline(RegionalInpaintMixin, FluxHooks, FluxInpaintPipeline):
    """FluxInpaintPipeline with a ``layout`` argument: ``pipe(layout=..., image=..., mask_image=...)``. Load it
    like FluxInpaintPipeline, or ``RegionalFluxInpaintPipeline.from_pipe(regional_flux_pipeline)``."""


class RegionalFluxControlNetPipeline(RegionalControlNetMixin, FluxHooks, FluxControlNetPipeline):
    """FluxControlNetPipeline with a ``layout`` argument: ``pipe(layout=..., control_image=...)``. Build it with
    ``RegionalFluxControlNetPipeline.from_pipe(regional_flux_pipeline, controlnet=controlnet)`` (a list of
    ControlNets runs them all)."""


class RegionalFluxControlNetImg2ImgPipeline(
    RegionalControlNetMixin, RegionalImg2ImgMixin, FluxHooks, FluxControlNetImg2ImgPipeline
):
    """FluxControlNetImg2ImgPipeline with a ``layout`` argument: ``pipe(layout=..., image=..., strength=...,
    control_image=...)``; ``from_pipe(regional_flux_pipeline, controlnet=controlnet)``."""


class RegionalFluxControlNetInpaintPipeline(
    RegionalControlNetMixin, RegionalInpaintMixin, FluxHooks, FluxControlNetInpaintPipeline
):
    """FluxControlNetInpaintPipeline with a ``layout`` argument: ``pipe(layout=..., image=..., mask_image=...,
    control_image=...)``; ``from_pipe(regional_flux_pipeline, controlnet=controlnet)``."""


class RegionalFluxControlPipeline(RegionalControlMixin, FluxHooks, FluxControlPipeline):
    """FluxControlPipeline (FLUX.1 Canny / Depth [dev]) with a ``layout`` argument:
    ``pipe(layout=..., control_image=depth_map)``. Load it like FluxControlPipeline."""


class RegionalFluxControlImg2ImgPipeline(
    RegionalControlMixin, RegionalImg2ImgMixin, FluxHooks, FluxControlImg2ImgPipeline
):
    """FluxControlImg2ImgPipeline with a ``layout`` argument: ``pipe(layout=..., image=..., strength=...,
    control_image=...)``; ``from_pipe(regional_flux_control_pipeline)``."""
