"""Region-aware joint attention (paper section 3), shared by every model family.

One transformer forward per step carries one text sequence, ``[base prompt | regional prompts]``, followed
by the image tokens, which are processed once. Inside an injected block the image tokens' attention is

    z = beta * z_base + (1 - beta) * z_region                                    (eq. 7)

where ``z_base`` is the model's plain attention over ``[base prompt | image]`` and ``z_region`` is the
masked attention over ``[regional prompts | image]`` with the mask M of ``regional.masks`` (eqs. 3-6). The
base prompt's tokens attend as in the plain model; the regional prompts' tokens attend through M. In a
block that is not injected the image tokens take ``z_base`` alone (beta = 1) and the regional prompts'
tokens still attend through M, so they keep evolving as in the authors' method.

The regional path's masked attention has three exact implementations: ``GroupedAttention`` (default: one
unmasked attention per group of tokens that share their regions, no L x L mask), ``FlexRegionalAttention``
(one FlexAttention call with M as a block-sparse mask: tensors only, for compiled transformers) and
``DenseMaskedAttention`` (SDPA with the boolean mask M; the reference).

A family hooks this into its attention modules with a ``RegionalAttnProcessor`` subclass
(``regional.families``). Nothing here is cached between calls: all per-request state arrives in
``RegionalAttentionState`` through ``joint_attention_kwargs``, so one pipeline can serve any sequence of
layouts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from diffusers.models.attention_dispatch import dispatch_attention_fn

from regional.masks import (
    AttentionGroups,
    MaskVariant,
    attention_groups,
    joint_attention_mask,
    token_region_bits,
    variant_attention_mask,
)

BlockType = Literal["double", "single", "image"]
"""Joint attention in double-stream blocks, over the whole sequence in single-stream blocks, and the extra
image-only attention of double block k (SD3.5's dual-attention blocks), injected when block k is."""


class DenseMaskedAttention:
    """The regional path with M as a dense boolean mask in SDPA: the reference, and the authors' formulation."""

    def __init__(self, mask: torch.Tensor, text_len: int):
        self.mask = mask
        """M, shape (T + HW, T + HW): bool ("may attend"), or a float bias added to the logits (soft variants)."""
        self.text_len = text_len

    def __call__(self, query, key, value, text_only: bool = False) -> torch.Tensor:
        """Tensors (batch, seq, heads, head_dim) over [regional texts | image]; ``text_only`` returns the
        rows of the T text tokens only."""
        rows = _as_attention_mask(self.mask[: self.text_len] if text_only else self.mask, query)
        query = query[:, : self.text_len] if text_only else query
        out = F.scaled_dot_product_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_mask=rows
        )
        return out.transpose(1, 2)

    def image_only(self, query, key, value) -> torch.Tensor:
        """Image-only attention (batch, HW, heads, head_dim) with M's image-to-image block."""
        rows = _as_attention_mask(self.mask[self.text_len :, self.text_len :], query)
        out = F.scaled_dot_product_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_mask=rows
        )
        return out.transpose(1, 2)


def _as_attention_mask(mask: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """A float bias in the query's dtype, as SDPA's CUDA kernels require (a boolean mask as it is)."""
    return mask.to(query.dtype) if mask.is_floating_point() else mask


class GroupedAttention:
    """The regional path as one unmasked SDPA per group of tokens sharing their regions (see AttentionGroups).

    Exactly the rows of M (same keys per query), without building M: the cost is sum over groups of
    |queries| x |keys|, and each call can use the fastest SDPA kernel (flash on GPU).
    """

    def __init__(self, groups: AttentionGroups, text_len: int, image_groups: AttentionGroups):
        self.groups = groups
        self.text_len = text_len
        self.image_groups = image_groups
        """The groups of the image tokens alone: M's image-to-image block."""

    def image_only(self, query, key, value) -> torch.Tensor:
        """Image-only attention (batch, HW, heads, head_dim) with M's image-to-image block."""
        groups = self.image_groups
        key, value = key.index_select(1, groups.order), value.index_select(1, groups.order)
        return _attend_groups(groups, query, key, value)

    def __call__(self, query, key, value, text_only: bool = False) -> torch.Tensor:
        groups = self.groups
        key, value = key.index_select(1, groups.order), value.index_select(1, groups.order)
        if text_only:
            out = query.new_empty(query.shape[0], self.text_len, *query.shape[2:])
            for keys, (t0, t1) in zip(groups.key_ranges, groups.text_ranges, strict=True):
                if t1 > t0:  # a group's text tokens lead its query range
                    out[:, t0:t1] = _sdpa(query[:, t0:t1], _take(key, keys), _take(value, keys))
            return out
        return _attend_groups(groups, query, key, value)


def _attend_groups(groups: AttentionGroups, query, key, value) -> torch.Tensor:
    """Every group's queries against its keys; ``key`` and ``value`` already in the groups' order."""
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


class FlexRegionalAttention:
    """The regional path as one FlexAttention call per attention, M given as a block-sparse mask.

    M[q, k] = (bits[q] & bits[k]) != 0 (``token_region_bits``), evaluated by the kernel where a block of
    queries and keys is partly masked; blocks that M leaves empty (tokens of regions that share nothing) are
    skipped, so the cost follows M's density as the grouped path's does, in one kernel call with no token
    reordering. Its state is tensors only (the bits and the block masks, built once per request), so a compiled
    transformer reuses its graph for any layout of the same sequence length, where the grouped path's Python
    ranges make it recompile for every new set of group sizes. FlexAttention is fast only compiled: this path
    compiles it on first use for each sequence length (tens of seconds on a CPU, once per process).

    Sequences are padded to whole blocks of 128 tokens with zero bits (no region: masked): torch 2.13's CPU
    kernel returns wrong values for a partial last block.
    """

    def __init__(self, bits: torch.Tensor, text_len: int, device: torch.device | str):
        from torch.nn.attention.flex_attention import create_block_mask

        bits = bits.to(device)
        self.text_len, self.length = text_len, len(bits)
        padded_bits = _padded(bits, 0)
        image_bits = _padded(bits[text_len:], 0)

        def shares_a_region(batch, head, query, key):
            return (padded_bits[query] & padded_bits[key]) != 0

        def image_shares_a_region(batch, head, query, key):
            return (image_bits[query] & image_bits[key]) != 0

        full, text, image = len(padded_bits), _padded_length(text_len), len(image_bits)
        self.block_mask = create_block_mask(shares_a_region, None, None, full, full, device=device)
        self.text_block_mask = create_block_mask(shares_a_region, None, None, text, full, device=device)
        self.image_block_mask = create_block_mask(
            image_shares_a_region, None, None, image, image, device=device
        )

    def __call__(self, query, key, value, text_only: bool = False) -> torch.Tensor:
        key, value = _padded(key, 1), _padded(value, 1)
        if text_only:
            return _flex(_padded(query[:, : self.text_len], 1), key, value, self.text_block_mask)[
                :, : self.text_len
            ]
        return _flex(_padded(query, 1), key, value, self.block_mask)[:, : self.length]

    def image_only(self, query, key, value) -> torch.Tensor:
        out = _flex(*(_padded(x, 1) for x in (query, key, value)), self.image_block_mask)
        return out[:, : query.shape[1]]


FLEX_BLOCK = 128
"""FlexAttention's block size (``create_block_mask``'s default)."""


def _padded_length(length: int) -> int:
    return length + -length % FLEX_BLOCK


def _padded(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``x`` padded with zeros along ``dim`` to a whole number of FlexAttention blocks."""
    pad = [0, 0] * (x.dim() - 1 - dim) + [0, _padded_length(x.shape[dim]) - x.shape[dim]]
    return torch.nn.functional.pad(x, pad)


def _flex(query, key, value, block_mask) -> torch.Tensor:
    """FlexAttention, compiled once per process, on tensors (batch, seq, heads, head_dim)."""
    global _compiled_flex_attention
    if _compiled_flex_attention is None:
        from torch.nn.attention.flex_attention import flex_attention

        _compiled_flex_attention = torch.compile(flex_attention, dynamic=False)
    out = _compiled_flex_attention(*(x.transpose(1, 2) for x in (query, key, value)), block_mask=block_mask)
    return out.transpose(1, 2)


_compiled_flex_attention = None

RegionalPathAttention = DenseMaskedAttention | GroupedAttention | FlexRegionalAttention


def build_region_attention(
    membership: torch.Tensor,
    text_lengths: list[int],
    device: torch.device | str,
    kind: str = "grouped",
    variant: MaskVariant | None = None,
    grid_width: int | None = None,
) -> RegionalPathAttention:
    """The regional path's attention for one request, built once and reused by every step and block.

    kind: "grouped" (default, exact and cheap), "flex" (one FlexAttention call, block-sparse; for compiled
    transformers) or "dense" (boolean mask, the reference). A ``variant`` of the mask other than the paper's
    (``regional.masks.MaskVariant``: blocks off, soft, feathered) runs dense, its mask built on a grid
    ``grid_width`` tokens wide.
    """
    text_len = sum(text_lengths)
    if variant is not None and not variant.is_paper:
        mask = variant_attention_mask(membership, text_lengths, variant, grid_width)
        return DenseMaskedAttention(mask.to(device), text_len)
    if kind == "dense":
        return DenseMaskedAttention(joint_attention_mask(membership, text_lengths).to(device), text_len)
    if kind == "grouped":
        bits = token_region_bits(membership, text_lengths)
        return GroupedAttention(
            attention_groups(bits, text_len).to(device),
            text_len,
            attention_groups(bits[text_len:], 0).to(device),
        )
    if kind == "flex":
        return FlexRegionalAttention(token_region_bits(membership, text_lengths), text_len, device)
    raise ValueError(f"region attention must be 'grouped', 'flex' or 'dense', got {kind!r}")


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
    text_positions: torch.Tensor | None = None
    """Shape (base_text_len + region_text_len,): each text token's position in its own prompt's encoding, for
    processors that rotate the text tokens themselves (Qwen-Image); a regional prompt's tokens keep the
    positions the stock pipeline gives them alone. None where the transformer takes text ids (FLUX.2)."""

    def injects(self, block_type: BlockType, index: int) -> bool:
        return (
            index
            in {"double": self.double_blocks, "single": self.single_blocks, "image": self.double_blocks}[
                block_type
            ]
        )


def regional_joint_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    state: RegionalAttentionState,
    injected: bool,
    attention_mask: torch.Tensor | None = None,
    backend=None,
) -> torch.Tensor:
    """Attention over ``[base text | regional texts | image]``; all tensors (batch, seq, heads, head_dim).

    ``attention_mask``: the mask the model's block passes for the whole sequence, shape (batch, 1, L, L) or a
    key mask (batch, 1, 1, L), or None (FLUX.1 has none). ``z_base`` uses its ``[base text | image]`` rows and columns, exactly as the
    plain model would on the base prompt alone (Chroma's T5 padding mask). The regional path uses M alone:
    each regional prompt carries only the tokens its model attends to (``region_token_margin``).
    Returns the output in the same order and shape as ``query``.
    """
    nb, nr = state.base_text_len, state.region_text_len

    def base_part(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
        return torch.cat([x.narrow(dim, 0, nb), x.narrow(dim, nb + nr, x.shape[dim] - nb - nr)], dim=dim)

    base_mask = None
    if attention_mask is not None:
        base_mask = base_part(attention_mask, -1)
        if base_mask.shape[-2] > 1:  # a mask per query, not only per key
            base_mask = base_part(base_mask, -2)
    # z_base: exactly plain attention, through diffusers' dispatcher (honours set_attention_backend).
    z_base = dispatch_attention_fn(
        base_part(query), base_part(key), base_part(value), attn_mask=base_mask, backend=backend
    )
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


def regional_image_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, state: RegionalAttentionState, injected: bool
) -> torch.Tensor:
    """An image-only attention (SD3.5's second attention in dual-attention blocks) in an injected block: eq. 7
    with the plain attention as ``z_base`` and M's image-to-image block as ``z_region`` (a region's tokens
    attend to their region's tokens). Tensors (batch, HW, heads, head_dim)."""
    z_base = _sdpa(query, key, value)
    if not injected:
        return z_base
    beta = state.base_ratio
    return beta * z_base + (1.0 - beta) * state.region_attention.image_only(query, key, value).to(
        z_base.dtype
    )


class RegionalAttnProcessor:
    """Base of the families' regional attention processors: one instance per attention module, so it knows
    which block it serves. The request's state comes in the attention kwargs; ``bound_state`` only serves
    models whose forward passes no attention kwargs to their blocks (``bound_regional_state``)."""

    bound_state: RegionalAttentionState | None = None

    def __init__(self, block_type: BlockType, block_index: int):
        super().__init__()
        self.block_type = block_type
        self.block_index = block_index

    def injects(self, state: RegionalAttentionState) -> bool:
        return state.injects(self.block_type, self.block_index)

    def state(self, regional_state: RegionalAttentionState | None) -> RegionalAttentionState | None:
        """The call's state: passed in the attention kwargs, or bound to this processor."""
        return self.bound_state if regional_state is None else regional_state


def install_regional_processors(
    attention_blocks: Mapping[BlockType, Sequence], processor_class: type[RegionalAttnProcessor]
) -> None:
    """Give every attention module its own ``processor_class(block type, index in its block list)``; a list
    may hold None where a block has no module of that type ("image": SD3.5's blocks without dual attention)."""
    for block_type, modules in attention_blocks.items():
        for index, module in enumerate(modules):
            if module is not None:
                module.set_processor(processor_class(block_type, index))


def has_regional_processors(transformer) -> bool:
    return all(isinstance(p, RegionalAttnProcessor) for p in transformer.attn_processors.values())


@contextmanager
def bound_regional_state(model, state: RegionalAttentionState | None) -> Iterator[None]:
    """Give ``model``'s regional processors ``state`` for the calls inside the block: for models whose
    forward drops the attention kwargs (diffusers' ``FluxControlNetModel``)."""
    processors = [p for p in model.attn_processors.values() if isinstance(p, RegionalAttnProcessor)]
    for processor in processors:
        processor.bound_state = state
    try:
        yield
    finally:
        for processor in processors:
            processor.bound_state = None
