"""Region-aware attention masks (paper section 3, eqs. 3-6): pure tensor code, no model needed.

Sequence order inside the regional path: ``[text of region 0 | text of region 1 | ... | image tokens]``.
``True`` means "may attend". The four quadrants of the mask:

    [ text  -> text  (M_t2t, eq. 4: each prompt sees only itself) | text  -> image (M_t2i = M_i2t^T) ]
    [ image -> text  (M_i2t, eq. 3: a token sees its regions' text) | image -> image (M_i2i, eq. 5)  ]

Overlaps are defined, not accidental: a token inside two regions attends to both prompts and to the tokens
of both regions. Every image token lies in at least one region (uncovered tokens form the background
region), so no row of the mask is fully blocked (an all-False row would give NaN).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from regional.layout import Layout
from regional.raster import TOKEN_PX, region_coverage, token_membership


def layout_regions(layout: Layout, min_tokens: int = 0) -> tuple[list[str], np.ndarray]:
    """Prompts and token membership of every region, plus the background region when tokens are uncovered;
    a box region narrower or lower than ``min_tokens`` tokens also takes the free tokens around it up to that
    span (``regional.raster.widened_box``, ``_widened``).

    Returns ``(prompts, membership)``; membership has shape (num_regions, grid_h * grid_w), dtype bool,
    tokens in row-major order. The background region, when present, is the last row.
    """
    prompts = [region.prompt for region in layout.regions]
    rows = [
        token_membership(region_coverage(r, layout.width, layout.height)).reshape(-1) for r in layout.regions
    ]
    if min_tokens:
        rows = _widened(layout, rows, min_tokens)
    grid = (layout.height // TOKEN_PX) * (layout.width // TOKEN_PX)
    covered = np.logical_or.reduce(rows) if rows else np.zeros(grid, dtype=bool)
    if not covered.all():
        prompts.append(layout.effective_background_prompt)
        rows.append(~covered)
    return prompts, np.stack(rows)


def _widened(layout: Layout, rows: list[np.ndarray], min_tokens: int) -> list[np.ndarray]:
    """Each region's tokens plus those its box widened to ``min_tokens`` adds that no other region holds:
    a small box takes room from the background, never from a neighbour (in crowded layouts a token shared
    by two prompts blurs both)."""
    held = np.sum(rows, axis=0)
    widened = []
    for region, own in zip(layout.regions, rows, strict=True):
        grown = token_membership(region_coverage(region, layout.width, layout.height, min_tokens)).reshape(-1)
        widened.append(own | grown & (held - own == 0))
    return widened


def text_segments(text_lengths: Sequence[int]) -> torch.Tensor:
    """Region index of every text token. Shape: (sum(text_lengths),)."""
    return torch.repeat_interleave(torch.arange(len(text_lengths)), torch.as_tensor(list(text_lengths)))


def token_region_bits(membership: torch.Tensor, text_lengths: Sequence[int]) -> torch.Tensor:
    """Bit r of a token is set when the token belongs to region r. Shape: (T + HW,), int64, order [texts | image].

    A text token belongs to its own prompt's region only. membership: (R, HW) bool with R <= 63.
    The whole mask follows from these bits: M[q, k] = (bits[q] & bits[k]) != 0.
    """
    regions, _ = membership.shape
    if regions != len(text_lengths):
        raise ValueError(f"{regions} regions but {len(text_lengths)} text lengths")
    if regions > 63:
        raise ValueError(f"at most 63 regions (background included), got {regions}")
    if not membership.any(dim=0).all():
        raise ValueError("every image token must belong to a region (add the background region)")
    powers = torch.pow(2, torch.arange(regions, dtype=torch.int64))
    text_bits = powers[text_segments(text_lengths)]
    image_bits = (membership.cpu().long() * powers[:, None]).sum(dim=0)
    return torch.cat([text_bits, image_bits])


def joint_attention_mask(membership: torch.Tensor, text_lengths: Sequence[int]) -> torch.Tensor:
    """The boolean mask M of the regional path, dense: (T + HW, T + HW), order [texts | image].

    Quadrants: t2t block diagonal (eq. 4); t2i and its transpose i2t (eq. 3); i2i = sum_i R_i R_i^T > 0
    (eq. 5), all as "the two tokens share a region".
    """
    bits = token_region_bits(membership, text_lengths).to(membership.device)
    return (bits[:, None] & bits[None, :]) != 0


@dataclass(frozen=True)
class MaskVariant:
    """Which of M's four blocks restrict attention, and how hard: the mask ablation (the default is the
    paper's hard mask). A block turned off lets its rows attend to every token of its columns' kind."""

    image_to_image: bool = True
    """M_i2i (eq. 5): an image token attends to the image tokens of its regions only."""
    image_to_text: bool = True
    """M_i2t (eq. 3): an image token attends to its regions' prompts only."""
    text_to_image: bool = True
    """M_t2i: a prompt's tokens attend to its region's image tokens only."""
    text_to_text: bool = True
    """M_t2t (eq. 4): a prompt's tokens attend to that prompt only."""
    bias: float | None = None
    """None: blocked pairs are excluded (-inf, the paper). b > 0: a soft mask, -b added to their logits."""
    feather: int = 0
    """With ``bias``: image tokens within this many tokens of a region (Chebyshev distance) count as half
    inside it, so their blocked pairs with it get -b/2: a softer border."""

    def __post_init__(self) -> None:
        if self.bias is not None and self.bias <= 0:
            raise ValueError(f"region_mask bias must be > 0 (or None for the hard mask), got {self.bias}")
        if self.feather < 0 or (self.feather and self.bias is None):
            raise ValueError("region_mask feather must be >= 0, and needs a bias (a soft mask)")

    @property
    def is_paper(self) -> bool:
        return self == MaskVariant()


def dilate_membership(membership: torch.Tensor, grid_width: int, radius: int) -> torch.Tensor:
    """Each region's tokens grown by ``radius`` tokens in every direction (a square neighbourhood)."""
    regions, tokens = membership.shape
    grid = membership.reshape(regions, 1, tokens // grid_width, grid_width).float()
    grown = torch.nn.functional.max_pool2d(grid, 2 * radius + 1, stride=1, padding=radius)
    return grown.reshape(regions, tokens) > 0


def variant_attention_mask(
    membership: torch.Tensor, text_lengths: Sequence[int], variant: MaskVariant, grid_width: int
) -> torch.Tensor:
    """M for ``variant``, dense, order [texts | image]: bool ("may attend") for hard masks, else the float
    bias to add to the attention logits (0 where M allows)."""
    text_len = sum(text_lengths)
    allowed = joint_attention_mask(membership, text_lengths).clone()
    blocks = {
        "image_to_image": (slice(text_len, None), slice(text_len, None)),
        "image_to_text": (slice(text_len, None), slice(None, text_len)),
        "text_to_image": (slice(None, text_len), slice(text_len, None)),
        "text_to_text": (slice(None, text_len), slice(None, text_len)),
    }
    for name, (rows, columns) in blocks.items():
        if not getattr(variant, name):
            allowed[rows, columns] = True
    if variant.bias is None:
        return allowed
    bias = (~allowed).float() * -variant.bias
    if variant.feather:
        near = joint_attention_mask(dilate_membership(membership, grid_width, variant.feather), text_lengths)
        bias[near & ~allowed] = -variant.bias / 2
    return bias


@dataclass(frozen=True)
class AttentionGroups:
    """M as a few dense blocks: tokens with the same region bits attend to the same keys.

    Tokens are reordered once so every group's queries are one contiguous range, and its keys a few ranges.
    With non-overlapping regions each group is one region (its prompt and its image tokens), and its keys
    are that same range: the masked attention becomes one unmasked attention per region, costing
    sum_r |R_r|^2 instead of (T + HW)^2.
    """

    order: torch.Tensor
    """Permutation, shape (T + HW,): position i of the reordered sequence holds token order[i]."""
    inverse: torch.Tensor
    """Inverse permutation, shape (T + HW,)."""
    query_ranges: tuple[tuple[int, int], ...]
    """Per group, [start, end) of its queries in the reordered sequence."""
    key_ranges: tuple[tuple[tuple[int, int], ...], ...]
    """Per group, the merged [start, end) ranges of its keys in the reordered sequence."""
    text_ranges: tuple[tuple[int, int], ...]
    """Per group, [start, end) of its text tokens in the original order (empty when it has none)."""

    def to(self, device: torch.device | str) -> AttentionGroups:
        return replace(self, order=self.order.to(device), inverse=self.inverse.to(device))


def _merge_adjacent(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Join sorted [start, end) ranges that touch, so a group's keys are as few slices as possible."""
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def attention_groups(bits: torch.Tensor, text_len: int) -> AttentionGroups:
    """Group tokens by their region bits (see ``token_region_bits``); the first ``text_len`` are text tokens,
    which come first within their group."""
    bits = bits.cpu()
    signatures, group_of = torch.unique(bits, return_inverse=True)
    is_image = (torch.arange(len(bits)) >= text_len).long()
    order = torch.argsort(group_of * 2 + is_image, stable=True)
    ends = list(itertools.accumulate(torch.bincount(group_of, minlength=len(signatures)).tolist()))
    query_ranges = tuple(zip([0, *ends[:-1]], ends, strict=True))
    signature_list = signatures.tolist()
    key_ranges = tuple(
        _merge_adjacent([query_ranges[g] for g, other in enumerate(signature_list) if other & signature])
        for signature in signature_list
    )
    text_ranges = []
    for g in range(len(signatures)):
        text_positions = order[query_ranges[g][0] : query_ranges[g][1]]
        text_positions = text_positions[is_image[text_positions] == 0]
        text_ranges.append(
            (int(text_positions[0]), int(text_positions[-1]) + 1) if len(text_positions) else (0, 0)
        )
    return AttentionGroups(
        order=order,
        inverse=torch.argsort(order),
        query_ranges=query_ranges,
        key_ranges=key_ranges,
        text_ranges=tuple(text_ranges),
    )
