"""FLUX.2: ``RegionalFlux2Pipeline`` ([dev]) and ``RegionalFlux2KleinPipeline`` ([klein], distilled or base) on
diffusers' Flux2Pipeline and Flux2KleinPipeline.

FLUX.2's transformer is FLUX.1's design with fewer double-stream blocks and more single-stream ones ([dev]: 8
and 48, [klein] 4B: 5 and 20), and single-stream blocks whose attention shares one fused projection with the
MLP (a "parallel" block). The method maps so:

- Double blocks: joint attention over ``[text | image]`` with separate text and image weights, exactly FLUX.1's
  (``flux_regional_attention``). Single blocks: the fused projection is split into Q, K, V and the MLP input;
  the regional attention replaces the plain one and the MLP half is untouched.
- The text comes from an LLM (Mistral Small 3.1 for [dev], Qwen3 for [klein]): the stacked hidden states of
  three of its layers for the chat-templated prompt, padded to 512 tokens, and the transformer attends to all
  of them, as FLUX.1 does to T5's. A regional prompt is encoded the same way and keeps its templated tokens
  plus a margin of padding (``region_token_margin`` 8).
- Text tokens have rotary positions (FLUX.2's 4-axis ids put a token's index in the last axis). Each regional
  prompt's tokens keep the positions they have in their own encoding (0, 1, ...), as the stock pipeline gives
  a prompt alone; positions continued after the base prompt's 512 would lie outside what the model saw.
- No pooled embedding: the timestep (and [dev]'s distilled guidance) modulates every token alike.
- [klein] base runs real classifier-free guidance (two passes); its negative pass runs without regional
  control. Step-distilled [klein] and [dev] run one pass.
"""

from __future__ import annotations

import torch
from diffusers import Flux2KleinPipeline, Flux2Pipeline
from diffusers.models.embeddings import apply_rotary_emb
from diffusers.models.transformers.transformer_flux2 import Flux2AttnProcessor, Flux2ParallelSelfAttnProcessor
from diffusers.pipelines.flux2.pipeline_flux2 import SYSTEM_MESSAGE, compute_empirical_mu, format_input
from diffusers.pipelines.flux2.pipeline_output import Flux2PipelineOutput

from regional.attention import (
    BlockType,
    RegionalAttentionState,
    RegionalAttnProcessor,
    regional_joint_attention,
)
from regional.families.flux.pipeline import flux_attention_blocks, flux_regional_attention
from regional.pipeline import PromptEmbeds, RegionalPipelineMixin
from regional.raster import TOKEN_PX


class RegionalFlux2AttnProcessor(RegionalAttnProcessor, Flux2AttnProcessor):
    """A double-stream block's ``Flux2Attention`` with regional prompting when a ``regional_state`` is passed,
    else stock."""

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


class RegionalFlux2ParallelAttnProcessor(RegionalAttnProcessor, Flux2ParallelSelfAttnProcessor):
    """A single-stream block's ``Flux2ParallelSelfAttention`` (attention and MLP from one fused projection)
    with regional prompting when a ``regional_state`` is passed, else stock."""

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: torch.Tensor | None = None,
        regional_state: RegionalAttentionState | None = None,
    ):
        regional_state = self.state(regional_state)
        if regional_state is None:
            return super().__call__(attn, hidden_states, attention_mask, image_rotary_emb)
        projected = attn.to_qkv_mlp_proj(hidden_states)
        qkv, mlp_hidden_states = projected.split(
            [3 * attn.inner_dim, projected.shape[-1] - 3 * attn.inner_dim], -1
        )
        query, key, value = (x.unflatten(-1, (-1, attn.head_dim)) for x in qkv.chunk(3, dim=-1))
        query, key = attn.norm_q(query), attn.norm_k(key)
        if image_rotary_emb is not None:
            query = apply_rotary_emb(query, image_rotary_emb, sequence_dim=1)
            key = apply_rotary_emb(key, image_rotary_emb, sequence_dim=1)
        out = regional_joint_attention(
            query, key, value, regional_state, self.injects(regional_state), attention_mask=attention_mask,
            backend=self._attention_backend,
        )  # fmt: skip
        out = out.flatten(2, 3).to(query.dtype)
        return attn.to_out(torch.cat([out, attn.mlp_act_fn(mlp_hidden_states)], dim=-1))


def flux2_regional_processor(block_type: BlockType, block_index: int) -> RegionalAttnProcessor:
    """The regional processor for a FLUX.2 attention module: single-stream blocks have their own."""
    if block_type == "single":
        return RegionalFlux2ParallelAttnProcessor(block_type, block_index)
    return RegionalFlux2AttnProcessor(block_type, block_index)


class Flux2Hooks(RegionalPipelineMixin):
    """FLUX.2's family hooks, shared by [dev] and [klein]; each supplies its own chat template's token count
    (``real_token_counts``) and guidance."""

    family = "flux2"
    regional_processor = staticmethod(flux2_regional_processor)
    pipeline_output = Flux2PipelineOutput

    @property
    def text_tokenizer(self):
        return self.tokenizer

    def encode_text(
        self, prompt: str, batch: int, max_sequence_length: int, lora_scale: float | None
    ) -> PromptEmbeds:
        embeds, _ = self.encode_prompt(
            prompt=prompt,
            device=self._execution_device,
            num_images_per_prompt=batch,
            max_sequence_length=max_sequence_length,
        )
        return PromptEmbeds(embeds=embeds)

    def regional_text_embeds(self, prompts: list[str], max_sequence_length: int, device) -> torch.Tensor:
        embeds, _ = self.encode_prompt(prompt=prompts, device=device, max_sequence_length=max_sequence_length)
        return embeds

    def transformer_inputs(self, prompt: PromptEmbeds, image_tokens: int, guidance_scale: float) -> dict:
        batch, text_len, _ = prompt.embeds.shape
        # ids (t, h, w, l): a text token is (0, 0, 0, its position), as Flux2Pipeline._prepare_text_ids
        text_ids = torch.zeros(text_len, 4, dtype=torch.long, device=prompt.embeds.device)
        text_ids[:, 3] = prompt.text_positions()
        guidance = None
        if self.transformer.config.guidance_embeds:
            guidance = torch.full([1], guidance_scale, device=prompt.embeds.device, dtype=torch.float32)
            guidance = guidance.expand(batch)
        return {"encoder_hidden_states": prompt.embeds, "txt_ids": text_ids, "guidance": guidance}

    def timestep_shift(self, image_tokens: int, steps: int) -> float:
        return compute_empirical_mu(image_seq_len=image_tokens, num_steps=steps)

    def attention_blocks_of(self, model) -> dict[str, list]:
        return flux_attention_blocks(model)

    def decode_latents(self, latents: torch.Tensor, height: int, width: int, output_type: str):
        """Token latents -> the VAE's latents (un-normalised by its batch norm, 2 x 2 patches unfolded), as
        Flux2KleinPipeline returns for ``output_type="latent"``, -> images."""
        latents = latents.unflatten(1, (height // TOKEN_PX, width // TOKEN_PX)).permute(0, 3, 1, 2)
        bn = self.vae.bn
        mean = bn.running_mean.view(1, -1, 1, 1).to(latents.device, latents.dtype)
        std = torch.sqrt(bn.running_var.view(1, -1, 1, 1) + self.vae.config.batch_norm_eps)
        latents = self._unpatchify_latents(latents * std.to(latents.device, latents.dtype) + mean)
        if output_type == "latent":
            return latents
        image = self.vae.decode(latents.to(self.vae.device), return_dict=False)[0]
        return self.image_processor.postprocess(image, output_type=output_type)


class RegionalFlux2KleinPipeline(Flux2Hooks, Flux2KleinPipeline):
    """Flux2KleinPipeline with a ``layout`` argument. Load it exactly like Flux2KleinPipeline."""

    def real_token_counts(self, prompts: list[str], max_sequence_length: int) -> list[int]:
        """Tokens of each prompt in Qwen3's chat template, as ``_get_qwen3_prompt_embeds`` builds it."""
        texts = [
            self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}],
                tokenize=False,
                add_generation_prompt=True,
                enable_thinking=False,
            )
            for prompt in prompts
        ]
        real = self.tokenizer(texts, truncation=True, max_length=max_sequence_length).input_ids
        return [len(ids) for ids in real]

    def classifier_free_guidance_scale(
        self, guidance_scale: float, true_cfg_scale: float, negative_prompt: str | None
    ) -> float:
        scale = super().classifier_free_guidance_scale(guidance_scale, true_cfg_scale, negative_prompt)
        return 1.0 if self.config.is_distilled else scale  # as the stock pipeline: step-distilled ignores it


class RegionalFlux2Pipeline(Flux2Hooks, Flux2Pipeline):
    """Flux2Pipeline (FLUX.2 [dev]) with a ``layout`` argument. Load it exactly like Flux2Pipeline."""

    @property
    def text_tokenizer(self):
        return getattr(self.tokenizer, "tokenizer", self.tokenizer)  # the Pixtral processor's tokenizer

    def real_token_counts(self, prompts: list[str], max_sequence_length: int) -> list[int]:
        """Tokens of each prompt in Mistral's chat template with FLUX.2's system message, as
        ``_get_mistral_3_small_prompt_embeds`` builds it."""
        inputs = self.tokenizer.apply_chat_template(
            format_input(prompts=prompts, system_message=SYSTEM_MESSAGE),
            add_generation_prompt=False,
            tokenize=True,
            return_dict=True,
            truncation=True,
            max_length=max_sequence_length,
        )
        return [len(ids) for ids in inputs["input_ids"]]

    def classifier_free_guidance_scale(
        self, guidance_scale: float, true_cfg_scale: float, negative_prompt: str | None
    ) -> float:
        return true_cfg_scale  # [dev] is guidance-distilled; true CFG as for FLUX.1-dev, on request

    def decode_latents(self, latents: torch.Tensor, height: int, width: int, output_type: str):
        if output_type == "latent":  # Flux2Pipeline returns its token latents, unlike Flux2KleinPipeline
            return latents
        return super().decode_latents(latents, height, width, output_type)
