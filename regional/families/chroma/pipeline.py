"""Chroma: ``RegionalChromaPipeline`` on diffusers' ChromaPipeline, and its image-to-image pipeline
(``RegionalChromaImg2ImgPipeline``). Not inpainting: diffusers' ChromaInpaintPipeline (0.42) reads
``guidance_embeds`` from Chroma's transformer config, which has none, and fails.

Chroma's transformer is FLUX.1's layout (double-stream then single-stream blocks of ``FluxAttention``, joint
attention over ``[text | image]``), so the attention hook and the block list are FLUX.1's
(``regional.families.flux``). It differs in three ways, mapped onto the method so:

- T5 only, no CLIP pooled embedding: nothing to choose; the base and regional prompts are T5 embeddings.
- T5 padding is masked in the transformer except one padding token. The base path (``z_base``) gets the mask
  exactly as ChromaPipeline passes it; each regional prompt keeps its real tokens plus that one padding token
  (``region_token_margin`` 1), which are exactly the tokens Chroma attends to, so M needs no padding mask.
- Real classifier-free guidance (``guidance_scale`` > 1) with a negative prompt: the negative pass runs
  without regional control, as the method has no regional negative prompts (``regional.pipeline``).
"""

from __future__ import annotations

import torch
from diffusers import ChromaImg2ImgPipeline, ChromaPipeline
from diffusers.pipelines.chroma.pipeline_output import ChromaPipelineOutput

from regional.families.flux.pipeline import RegionalFluxAttnProcessor, flux_attention_blocks
from regional.image_to_image import RegionalImg2ImgMixin
from regional.pipeline import PromptEmbeds, RegionalPipelineMixin


class ChromaHooks(RegionalPipelineMixin):
    """Chroma's family hooks, shared by its text-to-image and image-to-image pipelines."""

    family = "chroma"
    regional_processor = RegionalFluxAttnProcessor
    pipeline_output = ChromaPipelineOutput

    @property
    def text_tokenizer(self):
        return self.tokenizer

    def encode_text(
        self, prompt: str, batch: int, max_sequence_length: int, lora_scale: float | None
    ) -> PromptEmbeds:
        embeds, _, mask, *_ = self.encode_prompt(
            prompt=prompt,
            device=self._execution_device,
            num_images_per_prompt=batch,
            do_classifier_free_guidance=False,
            max_sequence_length=max_sequence_length,
            lora_scale=lora_scale,
        )
        return PromptEmbeds(embeds=embeds, mask=mask)

    def regional_text_embeds(self, prompts: list[str], max_sequence_length: int, device) -> torch.Tensor:
        embeds, _ = self._get_t5_prompt_embeds(
            prompt=prompts, max_sequence_length=max_sequence_length, device=device
        )
        return embeds

    def transformer_inputs(self, prompt: PromptEmbeds, image_tokens: int, guidance_scale: float) -> dict:
        batch, text_len, _ = prompt.embeds.shape
        return {
            "encoder_hidden_states": prompt.embeds,
            "txt_ids": prompt.embeds.new_zeros(text_len, 3),
            "attention_mask": self._prepare_attention_mask(
                batch_size=batch,
                sequence_length=image_tokens,
                dtype=prompt.embeds.dtype,
                attention_mask=prompt.mask,
            ),
        }

    def attention_blocks_of(self, model) -> dict[str, list]:
        return flux_attention_blocks(model)


class RegionalChromaPipeline(ChromaHooks, ChromaPipeline):
    """ChromaPipeline with a ``layout`` argument. Load it exactly like ChromaPipeline (``from_pretrained``)."""


class RegionalChromaImg2ImgPipeline(RegionalImg2ImgMixin, ChromaHooks, ChromaImg2ImgPipeline):
    """ChromaImg2ImgPipeline with a ``layout`` argument; ``from_pipe(regional_chroma_pipeline)``."""
