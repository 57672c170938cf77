"""Variants of the mask M for the ablation (issue 20): blocks turned off, soft and feathered masks, as pure
tensor code and through the pipeline (the paper's hard mask stays the default and exactly as before)."""

import pytest
import torch

from regional import Layout, Region
from regional.masks import MaskVariant, joint_attention_mask, variant_attention_mask
from regional.testing import tiny_flux_pipeline, token_grid

# Two regions on a 4 x 2 token grid: left column pair and right column pair, prompts of 2 and 3 tokens.
MEMBERSHIP = torch.tensor([[1, 1, 0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0, 1, 1]], dtype=torch.bool)
LENGTHS = [2, 3]
T = 5


def test_the_paper_variant_is_m():
    assert MaskVariant().is_paper
    torch.testing.assert_close(
        variant_attention_mask(MEMBERSHIP, LENGTHS, MaskVariant(), 4),
        joint_attention_mask(MEMBERSHIP, LENGTHS),
    )


@pytest.mark.parametrize(
    "block, rows, columns",
    [
        ("image_to_image", slice(T, None), slice(T, None)),
        ("image_to_text", slice(T, None), slice(None, T)),
        ("text_to_image", slice(None, T), slice(T, None)),
        ("text_to_text", slice(None, T), slice(None, T)),
    ],
)
def test_a_block_turned_off_opens_exactly_its_quadrant(block, rows, columns):
    paper = joint_attention_mask(MEMBERSHIP, LENGTHS)
    opened = variant_attention_mask(MEMBERSHIP, LENGTHS, MaskVariant(**{block: False}), 4)
    assert opened[rows, columns].all() and not paper[rows, columns].all()
    outside = torch.ones_like(paper)
    outside[rows, columns] = False
    torch.testing.assert_close(opened[outside], paper[outside])


def test_a_soft_mask_is_a_finite_bias_and_feathering_halves_it_near_a_region():
    paper = joint_attention_mask(MEMBERSHIP, LENGTHS)
    soft = variant_attention_mask(MEMBERSHIP, LENGTHS, MaskVariant(bias=6.0), 4)
    assert soft.dtype == torch.float32
    assert (soft[paper] == 0).all() and (soft[~paper] == -6.0).all()
    feathered = variant_attention_mask(MEMBERSHIP, LENGTHS, MaskVariant(bias=6.0, feather=1), 4)
    # Image token 1 (left region, next to the right one) is within one token of the right region: half bias.
    assert feathered[T + 1, T + 2] == -3.0 and feathered[T + 1, 2] == -3.0
    assert (feathered[paper] == 0).all() and (feathered <= 0).all() and (feathered >= -6.0).all()


def test_invalid_variants_are_refused():
    with pytest.raises(ValueError, match="bias must be > 0"):
        MaskVariant(bias=0.0)
    with pytest.raises(ValueError, match="needs a bias"):
        MaskVariant(feather=1)


W, H = 128, 64
EVERY = {"base_ratio": 0.0, "inject_steps": 4, "double_inject_interval": 1, "single_inject_interval": 1}


def layout(right: str = "a blue square") -> Layout:
    return Layout(
        width=W, height=H, base_prompt="a red circle and a blue square",
        regions=[Region(prompt="a red circle", box=(0, 0, 0.5, 1)), Region(prompt=right, box=(0.5, 0, 1, 1))],
    )  # fmt: skip


@pytest.fixture(scope="module")
def pipe():
    return tiny_flux_pipeline(seed=0)


def latents(pipe, lay=None, **kwargs):
    generator = torch.Generator().manual_seed(0)
    return pipe(
        layout=lay or layout(), num_inference_steps=4, generator=generator, output_type="latent", **kwargs
    ).images


def test_the_paper_variant_is_the_default_and_a_strong_soft_mask_is_close_to_it(pipe):
    default = latents(pipe, **EVERY)
    torch.testing.assert_close(latents(pipe, region_mask=MaskVariant(), **EVERY), default, atol=0, rtol=0)
    hard_dense = latents(pipe, region_attention="dense", **EVERY)
    strong = latents(pipe, region_mask={"bias": 1e4}, **EVERY)  # the dict form, as JSON gives it
    torch.testing.assert_close(strong, hard_dense, atol=1e-5, rtol=1e-5)
    weak = latents(pipe, region_mask={"bias": 1.0}, **EVERY)
    assert (weak - hard_dense).abs().max() > 1e-3


def test_opening_image_to_image_lets_a_prompt_reach_the_other_region(pipe):
    """The ablation's point: with M_i2i off, the right region's prompt reaches the left region's tokens
    through the image tokens, which the paper's mask prevents."""
    for variant, isolated in ((MaskVariant(), True), (MaskVariant(image_to_image=False), False)):
        a = token_grid(latents(pipe, layout(), region_mask=variant, **EVERY), W, H)
        b = token_grid(latents(pipe, layout("a green star on grass"), region_mask=variant, **EVERY), W, H)
        left_change = (a[:, :, :4] - b[:, :, :4]).abs().max()
        assert (left_change < 1e-5) == isolated, (variant, left_change)


def test_unknown_region_mask_fields_are_named(pipe):
    with pytest.raises(ValueError, match=r"unknown fields \['strength'\]"):
        latents(pipe, region_mask={"strength": 2.0})


def test_a_soft_mask_takes_the_querys_dtype():
    """SDPA's CUDA kernels need a float bias in the query's dtype (bf16 models)."""
    from regional.attention import build_region_attention

    attention = build_region_attention(
        MEMBERSHIP, LENGTHS, "cpu", variant=MaskVariant(bias=4.0), grid_width=4
    )
    query = torch.randn(1, T + 8, 2, 8, dtype=torch.bfloat16)
    assert attention(query, query, query).dtype == torch.bfloat16
    assert attention.image_only(query[:, T:], query[:, T:], query[:, T:]).dtype == torch.bfloat16
