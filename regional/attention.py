"""Region-aware joint attention for FLUX (paper section 3), as a stock-diffusers attention processor.

One transformer forward per step carries one text sequence, ``[base prompt | regional prompts]``, followed
by the image tokens, which are processed once. Inside an injected block the image tokens' attention is

    z = beta * z_base + (1 - beta) * z_region                                    (eq. 7)

where ``z_base`` is plain FLUX attention over ``[base prompt | image]`` (no mask) and ``z_region`` is the
masked attention over ``[regional prompts | image]`` with the mask M of ``regional.masks`` (eqs. 3-6). The
base prompt's tokens attend as in plain FLUX; the regional prompts' tokens attend through M. In a block
that is not injected the image tokens take ``z_base`` alone (beta = 1) and the regional prompts' tokens
still attend through M, so they keep evolving as in the authors' method.

Nothing here is cached between calls: all per-request state arrives in ``RegionalAttentionState`` through
``joint_attention_kwargs``, so one pipeline can serve any sequence of layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.embeddings import apply_rotary_emb
from diffusers.models.transformers.transformer_flux import FluxAttnProcessor

BlockType = Literal["double", "single"]


@dataclass(frozen=True)
class RegionalAttentionState:
    """Everything the processors need for one denoising step of one request.

    Sequence seen by the transformer: ``[base text (base_text_len) | regional texts (region_text_len) | image]``.
    """

    base_text_len: int
    region_text_len: int
    mask: torch.Tensor
    """M of the regional path, shape (region_text_len + image_len, same), bool, True = may attend."""
    base_ratio: float
    """beta of eq. 7: weight of the base path in the image tokens' attention output."""
    double_blocks: frozenset[int]
    single_blocks: frozenset[int]

    def injects(self, block_type: BlockType, index: int) -> bool:
        return index in (self.double_blocks if block_type == "double" else self.single_blocks)


def masked_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor):
    """SDPA with a boolean mask. Tensors are (batch, seq, heads, head_dim); mask is (q_len, k_len)."""
    out = F.scaled_dot_product_attention(
        query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_mask=mask
    )
    return out.transpose(1, 2)


def regional_joint_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    state: RegionalAttentionState,
    injected: bool,
    backend=None,
) -> torch.Tensor:
    """Attention over ``[base text | regional texts | image]``; all tensors (batch, seq, heads, head_dim).

    Returns the output in the same order and shape as ``query``.
    """
    nb, nr = state.base_text_len, state.region_text_len
    base = (
        torch.cat([query[:, :nb], query[:, nb + nr :]], dim=1),
        torch.cat([key[:, :nb], key[:, nb + nr :]], dim=1),
        torch.cat([value[:, :nb], value[:, nb + nr :]], dim=1),
    )
    # z_base: exactly plain FLUX attention, through diffusers' dispatcher (honours set_attention_backend).
    z_base = dispatch_attention_fn(*base, backend=backend)
    region_key, region_value = key[:, nb:], value[:, nb:]
    if injected:
        z_region = masked_attention(query[:, nb:], region_key, region_value, state.mask)
        beta = state.base_ratio
        image = beta * z_base[:, nb:] + (1.0 - beta) * z_region[:, nr:]  # eq. 7
        region_text = z_region[:, :nr]
    else:
        region_text = masked_attention(query[:, nb : nb + nr], region_key, region_value, state.mask[:nr])
        image = z_base[:, nb:]
    return torch.cat([z_base[:, :nb], region_text.to(z_base.dtype), image.to(z_base.dtype)], dim=1)


class RegionalFluxAttnProcessor(FluxAttnProcessor):
    """FLUX attention that applies regional prompting when a ``regional_state`` is passed, else stock FLUX.

    One instance per attention module, so it knows which block it serves; it holds no per-request data.
    """

    def __init__(self, block_type: BlockType, block_index: int):
        super().__init__()
        self.block_type = block_type
        self.block_index = block_index

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb: torch.Tensor | None = None,
        regional_state: RegionalAttentionState | None = None,
    ):
        if regional_state is None:
            return super().__call__(
                attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb
            )
        if attention_mask is not None:
            raise ValueError("regional prompting builds its own attention mask; do not pass attention_mask")

        query, key, value = _joint_qkv(attn, hidden_states, encoder_hidden_states)
        if image_rotary_emb is not None:
            query = apply_rotary_emb(query, image_rotary_emb, sequence_dim=1)
            key = apply_rotary_emb(key, image_rotary_emb, sequence_dim=1)
        injected = regional_state.injects(self.block_type, self.block_index)
        out = regional_joint_attention(query, key, value, regional_state, injected, self._attention_backend)
        out = out.flatten(2, 3).to(query.dtype)

        if encoder_hidden_states is None:  # single-stream block: the caller applies the output projection
            return out
        text_len = encoder_hidden_states.shape[1]
        text_out, image_out = out[:, :text_len], out[:, text_len:]
        image_out = attn.to_out[1](attn.to_out[0](image_out.contiguous()))
        text_out = attn.to_add_out(text_out.contiguous())
        return image_out, text_out


def _joint_qkv(attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None):
    """Q, K, V of ``[text | image]`` after the QK norms, each (batch, seq, heads, head_dim)."""
    if getattr(attn, "fused_projections", False):
        raise ValueError(
            "regional prompting does not support fused QKV projections; call unfuse_qkv_projections()"
        )

    def heads(x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (-1, attn.head_dim))

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


def install_regional_processors(transformer) -> None:
    """Give every attention module of a FluxTransformer2DModel its own RegionalFluxAttnProcessor."""
    for index, block in enumerate(transformer.transformer_blocks):
        block.attn.set_processor(RegionalFluxAttnProcessor("double", index))
    for index, block in enumerate(transformer.single_transformer_blocks):
        block.attn.set_processor(RegionalFluxAttnProcessor("single", index))


def has_regional_processors(transformer) -> bool:
    blocks = [*transformer.transformer_blocks, *transformer.single_transformer_blocks]
    return all(isinstance(block.attn.processor, RegionalFluxAttnProcessor) for block in blocks)
