"""Region-aware joint attention for FLUX (paper section 3), as a stock-diffusers attention processor.

One transformer forward per step carries one text sequence, ``[base prompt | regional prompts]``, followed
by the image tokens, which are processed once. Inside an injected block the image tokens' attention is

    z = beta * z_base + (1 - beta) * z_region                                    (eq. 7)

where ``z_base`` is plain FLUX attention over ``[base prompt | image]`` (no mask) and ``z_region`` is the
masked attention over ``[regional prompts | image]`` with the mask M of ``regional.masks`` (eqs. 3-6). The
base prompt's tokens attend as in plain FLUX; the regional prompts' tokens attend through M. In a block
that is not injected the image tokens take ``z_base`` alone (beta = 1) and the regional prompts' tokens
still attend through M, so they keep evolving as in the authors' method.

The regional path's masked attention has two exact implementations: ``GroupedAttention`` (default: one
unmasked attention per group of tokens that share their regions, no L x L mask) and
``DenseMaskedAttention`` (SDPA with the boolean mask M; the reference).

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

from regional.masks import AttentionGroups, attention_groups, joint_attention_mask, token_region_bits

BlockType = Literal["double", "single"]


class DenseMaskedAttention:
    """The regional path with M as a dense boolean mask in SDPA: the reference, and the authors' formulation."""

    def __init__(self, mask: torch.Tensor, text_len: int):
        self.mask = mask
        """M, shape (T + HW, T + HW), bool."""
        self.text_len = text_len

    def __call__(self, query, key, value, text_only: bool = False) -> torch.Tensor:
        """Tensors (batch, seq, heads, head_dim) over [regional texts | image]; ``text_only`` returns the
        rows of the T text tokens only."""
        rows = self.mask[: self.text_len] if text_only else self.mask
        query = query[:, : self.text_len] if text_only else query
        out = F.scaled_dot_product_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_mask=rows
        )
        return out.transpose(1, 2)


class GroupedAttention:
    """The regional path as one unmasked SDPA per group of tokens sharing their regions (see AttentionGroups).

    Exactly the rows of M (same keys per query), without building M: the cost is sum over groups of
    |queries| x |keys|, and each call can use the fastest SDPA kernel (flash on GPU).
    """

    def __init__(self, groups: AttentionGroups, text_len: int):
        self.groups = groups
        self.text_len = text_len

    def __call__(self, query, key, value, text_only: bool = False) -> torch.Tensor:
        groups = self.groups
        key, value = key.index_select(1, groups.order), value.index_select(1, groups.order)
        if text_only:
            out = query.new_empty(query.shape[0], self.text_len, *query.shape[2:])
            for keys, (t0, t1) in zip(groups.key_ranges, groups.text_ranges, strict=True):
                if t1 > t0:  # a group's text tokens lead its query range
                    out[:, t0:t1] = _sdpa(query[:, t0:t1], _take(key, keys), _take(value, keys))
            return out
        query = query.index_select(1, groups.order)
        out = torch.empty_like(query)
        for (q0, q1), keys in zip(groups.query_ranges, groups.key_ranges, strict=True):
            out[:, q0:q1] = _sdpa(query[:, q0:q1], _take(key, keys), _take(value, keys))
        return out.index_select(1, groups.inverse)


def _take(x: torch.Tensor, ranges: tuple[tuple[int, int], ...]) -> torch.Tensor:
    """Concatenate sequence ranges of x (batch, seq, heads, head_dim); a single range is a view."""
    if len(ranges) == 1:
        return x[:, ranges[0][0] : ranges[0][1]]
    return torch.cat([x[:, a:b] for a, b in ranges], dim=1)


def _sdpa(query, key, value) -> torch.Tensor:
    out = F.scaled_dot_product_attention(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2))
    return out.transpose(1, 2)


RegionalPathAttention = DenseMaskedAttention | GroupedAttention


def build_region_attention(
    membership: torch.Tensor, text_lengths: list[int], device: torch.device | str, kind: str = "grouped"
) -> RegionalPathAttention:
    """The regional path's attention for one request, built once and reused by every step and block.

    kind: "grouped" (default, exact and cheap) or "dense" (boolean mask, the reference).
    """
    text_len = sum(text_lengths)
    if kind == "dense":
        return DenseMaskedAttention(joint_attention_mask(membership, text_lengths).to(device), text_len)
    if kind == "grouped":
        return GroupedAttention(
            attention_groups(token_region_bits(membership, text_lengths), text_len).to(device), text_len
        )
    raise ValueError(f"region attention must be 'grouped' or 'dense', got {kind!r}")


@dataclass(frozen=True)
class RegionalAttentionState:
    """Everything the processors need for one denoising step of one request.

    Sequence seen by the transformer: ``[base text (base_text_len) | regional texts (region_text_len) | image]``.
    """

    base_text_len: int
    region_text_len: int
    region_attention: RegionalPathAttention
    """Masked attention over [regional texts | image] with M (eqs. 3-6)."""
    base_ratio: float
    """beta of eq. 7: weight of the base path in the image tokens' attention output."""
    double_blocks: frozenset[int]
    single_blocks: frozenset[int]

    def injects(self, block_type: BlockType, index: int) -> bool:
        return index in (self.double_blocks if block_type == "double" else self.single_blocks)


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

    def base_part(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, :nb], x[:, nb + nr :]], dim=1)

    # z_base: exactly plain FLUX attention, through diffusers' dispatcher (honours set_attention_backend).
    z_base = dispatch_attention_fn(base_part(query), base_part(key), base_part(value), backend=backend)
    regional_qkv = query[:, nb:], key[:, nb:], value[:, nb:]
    if injected:
        z_region = state.region_attention(*regional_qkv)
        beta = state.base_ratio
        image = beta * z_base[:, nb:] + (1.0 - beta) * z_region[:, nr:]  # eq. 7
        region_text = z_region[:, :nr]
    else:
        region_text = state.region_attention(*regional_qkv, text_only=True)
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
