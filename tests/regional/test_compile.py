"""The FlexAttention path (M as a block-sparse mask) and compiled transformers (CPU, tiny FLUX.1)."""

import pytest
import torch
import torch._dynamo

from regional import Layout, Region
from regional.attention import DenseMaskedAttention, FlexRegionalAttention, build_region_attention
from regional.masks import joint_attention_mask
from regional.testing import tiny_flux_pipeline

W, H = 128, 64
BASE = "a red circle and a blue square"


def layout(*regions) -> Layout:
    return Layout(width=W, height=H, base_prompt=BASE, regions=[Region(prompt=p, box=b) for p, b in regions])


# Prompts of four tokens each and boxes covering the canvas: the same sequence length for every layout here.
OVERLAPPING = layout(("a red circle", (0, 0, 0.7, 1)), ("a blue square", (0.3, 0.25, 1, 1)))
SIDE_BY_SIDE = layout(("a red circle", (0, 0, 0.5, 1)), ("a blue square", (0.5, 0, 1, 1)))
NARROW_WIDE = layout(("a green square", (0, 0, 0.25, 1)), ("a yellow circle", (0.25, 0, 1, 1)))


@pytest.fixture(scope="module")
def pipe():
    return tiny_flux_pipeline(seed=0)


def latents(pipe, lay, **kwargs):
    generator = torch.Generator().manual_seed(0)
    return pipe(
        layout=lay, num_inference_steps=3, single_inject_interval=1, generator=generator, output_type="latent",
        **kwargs,
    ).images  # fmt: skip


def test_flex_attention_is_the_dense_mask_on_every_part():
    """Full, text rows only, and image-only (SD3.5 Medium's second attention): the same values as SDPA with
    M, for regions that overlap, leave a token in three regions, and one that shares nothing."""
    torch.manual_seed(0)
    membership = torch.zeros(4, 80, dtype=torch.bool)
    membership[0, :50], membership[1, 30:], membership[2, 40:45], membership[3, 70:] = True, True, True, True
    lengths = [5, 7, 3, 4]
    text_len = sum(lengths)
    q, k, v = (torch.randn(1, text_len + 80, 2, 16) for _ in range(3))  # the tiny FLUX's heads: one compile
    flex = build_region_attention(membership, lengths, "cpu", "flex")
    dense = DenseMaskedAttention(joint_attention_mask(membership, lengths), text_len)
    assert isinstance(flex, FlexRegionalAttention)
    torch.testing.assert_close(flex(q, k, v), dense(q, k, v), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        flex(q, k, v, text_only=True), dense(q, k, v, text_only=True), atol=1e-5, rtol=1e-5
    )
    image = (x[:, text_len:] for x in (q, k, v))
    torch.testing.assert_close(
        flex.image_only(*image), dense.image_only(*(x[:, text_len:] for x in (q, k, v)))
    )
    assert flex.block_mask.shape[-2:] == (128, 128)  # padded to whole blocks (see FlexRegionalAttention)


def test_flex_path_samples_as_the_dense_reference_and_isolates_regions(pipe):
    torch.testing.assert_close(
        latents(pipe, OVERLAPPING, region_attention="flex"),
        latents(pipe, OVERLAPPING, region_attention="dense"),
        atol=1e-4,
        rtol=1e-4,
    )
    every = {"region_attention": "flex", "base_ratio": 0.0, "inject_steps": 3}
    a = latents(pipe, SIDE_BY_SIDE, **every)
    changed = layout(("a red circle", (0, 0, 0.5, 1)), ("a yellow circle", (0.5, 0, 1, 1)))
    b = latents(pipe, changed, **every)
    left, right = a.unflatten(1, (4, 8))[:, :, :4], b.unflatten(1, (4, 8))[:, :, :4]
    torch.testing.assert_close(left, right, atol=1e-5, rtol=1e-5)
    assert (a - b).abs().max() > 1e-3


def test_a_compiled_transformer_does_not_recompile_for_a_new_layout(path="flex"):
    """After the first request (one graph for injected steps, one for plain ones), a layout with other boxes and
    prompts but the same sequence length runs on the same graphs: torch's own recompilation guard is armed.
    (The grouped path's Python ranges make a new set of group sizes recompile; compile with "flex".)"""
    compiled = tiny_flux_pipeline(seed=0)
    compiled.transformer.compile(backend="eager")  # Dynamo's guards without Inductor's code generation
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    options = {"region_attention": path, "inject_steps": 2}  # injected steps, then a plain one
    first = latents(compiled, SIDE_BY_SIDE, **options)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 2
    assert not torch._dynamo.utils.counters["graph_break"]
    with torch._dynamo.config.patch(error_on_recompile=True):
        second = latents(compiled, NARROW_WIDE, **options)
        again = latents(compiled, SIDE_BY_SIDE, **options)
    torch.testing.assert_close(again, first, atol=0, rtol=0)
    assert (second - first).abs().max() > 1e-3
    eager = tiny_flux_pipeline(seed=0)
    torch.testing.assert_close(first, latents(eager, SIDE_BY_SIDE, **options), atol=1e-4, rtol=1e-4)
