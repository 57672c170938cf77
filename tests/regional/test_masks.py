"""Cell-by-cell checks of the rasteriser and the four blocks of the regional attention mask."""

import numpy as np
import pytest
import torch

from regional import Layout, Region
from regional.layout import encode_mask_png
from regional.masks import joint_attention_mask, layout_regions, text_segments
from regional.raster import box_coverage, mask_coverage, token_membership, widened_box


def test_box_coverage_is_exact_area_fraction():
    # A box from x=0.1 to x=0.6 on a 4-token-wide grid covers cells 0..2 by 0.6, 1.0, 0.4 in x.
    cov = box_coverage((0.1, 0.0, 0.6, 0.5), grid_h=2, grid_w=4)
    np.testing.assert_allclose(cov[0], [0.6, 1.0, 0.4, 0.0], atol=1e-6)
    np.testing.assert_allclose(cov[1], [0.0, 0.0, 0.0, 0.0], atol=1e-6)
    assert cov.sum() == pytest.approx(0.5 * 4 * 0.5 * 2)


def test_thin_region_survives_rasterisation():
    # A 6 px tall stripe straddling two token rows covers each by less than half, yet keeps its tokens.
    cov = box_coverage((0.0, 13 / 64, 1.0, 19 / 64), grid_h=4, grid_w=4)
    member = token_membership(cov)
    assert member.any()
    assert member[0].all() and not member[2:].any()  # row 0 holds 3 px, row 1 holds 3 px: both kept
    assert member[1].all()


def test_mask_coverage_uses_area_not_nearest_neighbour():
    mask = np.zeros((8, 8), dtype=np.float32)
    mask[:, 0] = 1.0  # a one-pixel column of an 8 px mask = 1/8 of the width
    cov = mask_coverage(mask, grid_h=2, grid_w=2)
    np.testing.assert_allclose(cov[:, 0], [0.25, 0.25], atol=1e-6)
    np.testing.assert_allclose(cov[:, 1], [0.0, 0.0], atol=1e-6)


def _layout(*boxes, width=64, height=64, background=None):
    return Layout(
        width=width,
        height=height,
        base_prompt="base",
        background_prompt=background,
        regions=[Region(prompt=f"r{i}", box=b) for i, b in enumerate(boxes)],
    )


def test_layout_regions_adds_background_for_uncovered_tokens():
    # 4x4 tokens; region 0 = left half, region 1 = top-right quarter; bottom-right is background.
    prompts, member = layout_regions(_layout((0, 0, 0.5, 1), (0.5, 0, 1, 0.5), background="bg"))
    assert prompts == ["r0", "r1", "bg"]
    grid = member.reshape(3, 4, 4)
    assert grid[0, :, :2].all() and not grid[0, :, 2:].any()
    assert grid[1, :2, 2:].all() and grid[1].sum() == 4
    assert grid[2, 2:, 2:].all() and grid[2].sum() == 4


@pytest.mark.parametrize(
    ("box", "widened"),
    [
        ((0.25, 0.25, 0.5, 0.5), (0.1875, 0.1875, 0.5625, 0.5625)),  # 2x2 of 8x8 tokens -> 3x3, same centre
        ((0.0, 0.9, 0.1, 1.0), (0.0, 0.625, 0.375, 1.0)),  # at a corner: moved inward, not cut
        ((0.0, 0.0, 0.5, 0.5), (0.0, 0.0, 0.5, 0.5)),  # 4x4 tokens: as given
        ((0.4, 0.0, 0.45, 1.0), (0.2375, 0.0, 0.6125, 1.0)),  # only the short side grows
    ],
)
def test_a_box_grows_to_the_least_token_span_about_its_centre(box, widened):
    assert widened_box(box, 8, 8, 3) == pytest.approx(widened)
    assert widened_box(box, 8, 8, 0) == box
    assert widened_box((0.4, 0.4, 0.6, 0.6), 2, 2, 3) == (0.0, 0.0, 1.0, 1.0)  # never past the canvas


def test_layout_regions_widens_small_boxes_only_when_asked():
    small = _layout((0.25, 0.25, 0.5, 0.5), width=128, height=128)  # 2x2 of 8x8 tokens
    assert layout_regions(small)[1][0].sum() == 4
    grown = layout_regions(small, min_tokens=3)[1][0].reshape(8, 8)
    assert grown.sum() >= 9 and grown[2:4, 2:4].all()  # at least 3x3, still over the box


def test_a_widened_box_takes_free_tokens_never_a_neighbours():
    touching = _layout((0.25, 0.25, 0.5, 0.5), (0.5, 0.25, 0.75, 0.5), width=128, height=128)
    own = layout_regions(touching)[1][:2]
    grown = layout_regions(touching, min_tokens=3)[1][:2]
    assert (grown >= own).all() and grown[0].sum() > own[0].sum() and grown[1].sum() > own[1].sum()
    assert not (grown[0] & own[1]).any() and not (grown[1] & own[0]).any()


def test_layout_regions_without_uncovered_tokens_has_no_background():
    prompts, member = layout_regions(_layout((0, 0, 0.5, 1), (0.5, 0, 1, 1)))
    assert prompts == ["r0", "r1"] and member.shape == (2, 16)


def test_background_prompt_defaults_to_base_prompt():
    prompts, _ = layout_regions(_layout((0, 0, 0.5, 1)))
    assert prompts[-1] == "base"


def test_mask_region_from_png():
    pixels = np.zeros((10, 10))
    pixels[:, 5:] = 1.0  # right half, at a different resolution than the canvas
    layout = Layout(
        width=64, height=64, base_prompt="b", regions=[Region(prompt="m", mask=encode_mask_png(pixels))]
    )
    _, member = layout_regions(layout)
    assert member[0].reshape(4, 4)[:, 2:].all() and not member[0].reshape(4, 4)[:, :2].any()


def test_joint_mask_blocks_cell_by_cell():
    # 3 image tokens: token 0 in region A, token 1 in A and B (overlap), token 2 in B.
    membership = torch.tensor([[1, 1, 0], [0, 1, 1]], dtype=torch.bool)
    mask = joint_attention_mask(membership, text_lengths=[2, 1])  # texts: A, A, B
    t2t, t2i = mask[:3, :3], mask[:3, 3:]
    i2t, i2i = mask[3:, :3], mask[3:, 3:]
    assert t2t.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]  # eq. 4: each prompt sees itself
    assert t2i.tolist() == [[1, 1, 0], [1, 1, 0], [0, 1, 1]]  # a prompt sees its region
    assert i2t.tolist() == [[1, 1, 0], [1, 1, 1], [0, 0, 1]]  # eq. 3: overlap token sees both prompts
    assert i2i.tolist() == [[1, 1, 0], [1, 1, 1], [0, 1, 1]]  # eq. 5: overlap token sees both regions
    assert torch.equal(mask, mask.T)
    assert mask.any(dim=1).all(), "no row may be fully blocked"


def test_joint_mask_odd_sizes_and_no_empty_rows():
    layout = _layout((0.0, 0.0, 0.37, 0.8), (0.3, 0.5, 1.0, 1.0), width=80, height=48)
    prompts, member = layout_regions(layout)
    lengths = [3, 5, 2][: len(prompts)]
    mask = joint_attention_mask(torch.from_numpy(member), lengths)
    hw = (48 // 16) * (80 // 16)
    assert mask.shape == (sum(lengths) + hw, sum(lengths) + hw)
    assert mask.any(dim=1).all()
    owner = text_segments(lengths)
    for p in range(hw):
        for t in range(sum(lengths)):
            assert mask[sum(lengths) + p, t] == bool(member[owner[t], p])


def test_joint_mask_rejects_uncovered_tokens():
    with pytest.raises(ValueError, match="background"):
        joint_attention_mask(torch.tensor([[1, 0]], dtype=torch.bool), [1])
