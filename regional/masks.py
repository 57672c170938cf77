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

from collections.abc import Sequence

import numpy as np
import torch

from regional.layout import Layout
from regional.raster import TOKEN_PX, region_coverage, token_membership


def layout_regions(layout: Layout) -> tuple[list[str], np.ndarray]:
    """Prompts and token membership of every region, plus the background region when tokens are uncovered.

    Returns ``(prompts, membership)``; membership has shape (num_regions, grid_h * grid_w), dtype bool,
    tokens in row-major order. The background region, when present, is the last row.
    """
    prompts = [region.prompt for region in layout.regions]
    rows = [
        token_membership(region_coverage(r, layout.width, layout.height)).reshape(-1) for r in layout.regions
    ]
    grid = (layout.height // TOKEN_PX) * (layout.width // TOKEN_PX)
    covered = np.logical_or.reduce(rows) if rows else np.zeros(grid, dtype=bool)
    if not covered.all():
        prompts.append(layout.effective_background_prompt)
        rows.append(~covered)
    return prompts, np.stack(rows)


def text_segments(text_lengths: Sequence[int]) -> torch.Tensor:
    """Region index of every text token. Shape: (sum(text_lengths),)."""
    return torch.repeat_interleave(torch.arange(len(text_lengths)), torch.as_tensor(list(text_lengths)))


def joint_attention_mask(membership: torch.Tensor, text_lengths: Sequence[int]) -> torch.Tensor:
    """The boolean mask M of the regional path.

    membership: (R, HW) bool, region r contains image token p. text_lengths: tokens of each region's prompt.
    Returns: (T + HW, T + HW) bool with T = sum(text_lengths), order [texts | image].
    """
    membership = membership.bool()
    regions, _ = membership.shape
    if regions != len(text_lengths):
        raise ValueError(f"{regions} regions but {len(text_lengths)} text lengths")
    if not membership.any(dim=0).all():
        raise ValueError("every image token must belong to a region (add the background region)")
    text_owner = (
        torch.nn.functional.one_hot(text_segments(text_lengths), regions).bool().to(membership.device)
    )
    t2t = (text_owner.float() @ text_owner.float().T) > 0  # eq. 4: block diagonal
    t2i = (text_owner.float() @ membership.float()) > 0  # a prompt sees its region's image tokens
    i2t = t2i.T  # eq. 3: an image token sees the prompts of the regions containing it
    i2i = (membership.T.float() @ membership.float()) > 0  # eq. 5: sum_i R_i R_i^T > 0
    return torch.cat([torch.cat([t2t, t2i], dim=1), torch.cat([i2t, i2i], dim=1)], dim=0)
