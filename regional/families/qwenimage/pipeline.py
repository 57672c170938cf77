"""Qwen-Image: ``RegionalQwenImagePipeline`` on diffusers' QwenImagePipeline.

Qwen-Image's transformer (MMDiT, 60 blocks) is all dual-stream blocks: each runs one attention over
``[text | image]`` with text and image weights apart, like FLUX.1's double-stream blocks; there are no
single-stream blocks. The method maps so:

- Every block is a "double" block of the schedule; its processor computes Q, K, V as FLUX's
  (``joint_qkv``) and runs the shared regional attention.
- The text is the last hidden state of Qwen2.5-VL for the prompt in a chat template, with the template's
  system prefix dropped, and no padding: the stock pipeline masks padding out, so a prompt is exactly its
  real tokens. A regional prompt is encoded the same way and keeps exactly its tokens (token margin 0).
- Rotary positions (MSRoPE): image tokens are centred on the grid, and text token k of a prompt gets the
  frequencies of index ``max(h, w) / 2 + k`` on every axis (after the image's). Each regional prompt's tokens
  keep the positions they have in their own encoding (0, 1, ...), as the stock pipeline gives a prompt alone;
  the processor takes them from the request's state (``text_positions``).
- Real classifier-free guidance (the stock ``true_cfg_scale``, here ``guidance_scale``) with the stock
  pipeline's rescaling of the guided prediction to the conditional one's norm; the negative pass runs without
  regional control.
"""

from __future__ import annotations

import torch
from diffusers import QwenImagePipeline
from diffusers.models.transformers.transformer_qwenimage import (
    QwenDoubleStreamAttnProcessor2_0,
    apply_rotary_emb_qwen,
)
from diffusers.pipelines.qwenimage.pipeline_output import QwenImagePipelineOutput

from regional.attention import RegionalAttentionState, RegionalAttnProcessor, regional_joint_attention
from regional.families.flux.pipeline import joint_qkv
from regional.pipeline import Denoising, PromptEmbeds, RegionalPipelineMixin
from regional.raster import TOKEN_PX


class RegionalQwenDoubleStreamAttnProcessor(RegionalAttnProcessor, QwenDoubleStreamAttnProcessor2_0):
    """A Qwen-Image block's joint attention with regional prompting when a ``regional_state`` is passed, else
    stock."""

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_hidden_states_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb=None,
        regional_state: RegionalAttentionState | None = None,
    ):
        regional_state = self.state(regional_state)
        if regional_state is None:
            return super().__call__(
                attn, hidden_states, encoder_hidden_states, encoder_hidden_states_mask, attention_mask,
                image_rotary_emb,
            )  # fmt: skip
        query, key, value = joint_qkv(attn, hidden_states, encoder_hidden_states)
        if image_rotary_emb is not None:
            image_freqs, text_freqs = image_rotary_emb
            if regional_state.text_positions is not None:
                text_freqs = text_freqs[regional_state.text_positions]
            freqs = torch.cat([text_freqs, image_freqs])
            query = apply_rotary_emb_qwen(query, freqs, use_real=False)
            key = apply_rotary_emb_qwen(key, freqs, use_real=False)
        if encoder_hidden_states_mask is not None:  # diffusers 0.42 passes the text mask, 0.37 the joint one
            image_mask = encoder_hidden_states_mask.new_ones(hidden_states.shape[:2])
            attention_mask = torch.cat([encoder_hidden_states_mask, image_mask], dim=1)
        if attention_mask is not None:  # a key mask (batch, L)
            attention_mask = attention_mask.bool()[:, None, None, :]
        out = regional_joint_attention(
            query, key, value, regional_state, self.injects(regional_state), attention_mask=attention_mask,
            backend=self._attention_backend,
        )  # fmt: skip
        out = out.flatten(2, 3).to(query.dtype)
        text_len = encoder_hidden_states.shape[1]
        text_out, image_out = out[:, :text_len], out[:, text_len:]
        return attn.to_out[1](attn.to_out[0](image_out)), attn.to_add_out(text_out)


class RegionalQwenImagePipeline(RegionalPipelineMixin, QwenImagePipeline):
    """QwenImagePipeline with a ``layout`` argument. Load it exactly like QwenImagePipeline. Its
    ``guidance_scale`` is the stock pipeline's ``true_cfg_scale`` (classifier-free guidance, > 1 runs a pass
    with ``layout.negative_prompt`` or the empty prompt)."""

    family = "qwenimage"
    regional_processor = RegionalQwenDoubleStreamAttnProcessor
    pipeline_output = QwenImagePipelineOutput
    attention_kwargs_argument = "attention_kwargs"
    image_positions_argument = "img_shapes"
    max_text_tokens = 1024
    text_padded_left = False  # the stock pipeline re-pads the encoder's outputs after the real tokens

    @property
    def text_tokenizer(self):
        return self.tokenizer

    def encode_text(
        self, prompt: str, batch: int, max_sequence_length: int, lora_scale: float | None
    ) -> PromptEmbeds:
        embeds, mask = self.encode_prompt(
            prompt=prompt,
            device=self._execution_device,
            num_images_per_prompt=batch,
            max_sequence_length=max_sequence_length,
        )
        return PromptEmbeds(embeds=embeds, mask=mask)

    def regional_text_embeds(self, prompts: list[str], max_sequence_length: int, device) -> torch.Tensor:
        embeds, _ = self.encode_prompt(prompt=prompts, device=device, max_sequence_length=max_sequence_length)
        return embeds

    def real_token_counts(self, prompts: list[str], max_sequence_length: int) -> list[int]:
        """Tokens of each prompt in the stock template after its system prefix, as ``_get_qwen_prompt_embeds``
        keeps them."""
        prefix = self.prompt_template_encode_start_idx
        texts = [self.prompt_template_encode.format(prompt) for prompt in prompts]
        ids = self.tokenizer(texts, max_length=self.tokenizer_max_length + prefix, truncation=True).input_ids
        return [min(len(tokens) - prefix, max_sequence_length) for tokens in ids]

    def regional_token_lengths(
        self, prompts: list[str], max_sequence_length: int, token_margin: int | None
    ) -> list[int]:
        """Each prompt's real tokens: Qwen-Image's prompts have no padding to keep (None and 0 alike)."""
        if token_margin not in (None, 0):
            raise ValueError(
                f"region_token_margin must be 'auto', 0 or None for Qwen-Image, got {token_margin}: its "
                "prompts carry no padding tokens (the stock pipeline masks them out)"
            )
        return self.real_token_counts(prompts, max_sequence_length)

    def transformer_inputs(self, prompt: PromptEmbeds, image_tokens: int, guidance_scale: float) -> dict:
        return {
            "encoder_hidden_states": prompt.embeds,
            "encoder_hidden_states_mask": prompt.mask,
            "guidance": None,
        }

    def guided_noise(
        self, noise_pred: torch.Tensor, neg_noise_pred: torch.Tensor, scale: float
    ) -> torch.Tensor:
        """As QwenImagePipeline: the guided prediction rescaled to the conditional one's norm, per token."""
        guided = super().guided_noise(noise_pred, neg_noise_pred, scale)
        return guided * (
            torch.norm(noise_pred, dim=-1, keepdim=True) / torch.norm(guided, dim=-1, keepdim=True)
        )

    def attention_blocks_of(self, model) -> dict[str, list]:
        return {"double": [block.attn for block in model.transformer_blocks]}

    def prepare_denoising(self, steps, batch, height, width, dtype, device, generator, latents, sigmas):
        """Packed latents, the image's shape for the rotary embedding, and FLUX.1's schedule, as
        QwenImagePipeline prepares them."""
        latents = self.prepare_latents(
            batch, self.denoised_channels, height, width, dtype, device, generator, latents
        )
        image_shapes = [[(1, height // TOKEN_PX, width // TOKEN_PX)]] * batch
        return Denoising(latents, image_shapes, self.prepare_timesteps(steps, height, width, device, sigmas))

    def decode_latents(self, latents: torch.Tensor, height: int, width: int, output_type: str):
        """Packed latents -> the VAE's (one frame), de-normalised as the stock pipeline does -> images."""
        if output_type == "latent":
            return latents
        latents = self._unpack_latents(latents, height, width, self.vae_scale_factor).to(self.vae.dtype)
        config = self.vae.config
        mean = (
            torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
        )
        inverse_std = 1.0 / torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1)
        latents = latents / inverse_std.to(latents.device, latents.dtype) + mean
        image = self.vae.decode(latents, return_dict=False)[0][:, :, 0]
        return self.image_processor.postprocess(image, output_type=output_type)
