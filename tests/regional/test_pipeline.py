"""Sampler invariants on the tiny random-weight pipeline of every family (CPU, float32)."""

import functools

import diffusers
import pytest
import torch
from familykit import family_param

from regional import Layout, Region, testing
from regional.testing import (
    tiny_chroma_pipeline,
    tiny_flux2_dev_pipeline,
    tiny_flux2_klein_pipeline,
    tiny_flux_pipeline,
    tiny_qwen_image_pipeline,
    tiny_sd3_pipeline,
)

W, H = 128, 64  # 8 x 4 tokens
LEFT, RIGHT = (0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)

TINY = {
    "FluxPipeline": tiny_flux_pipeline,
    "ChromaPipeline": tiny_chroma_pipeline,
    "StableDiffusion3Pipeline": tiny_sd3_pipeline,
    "Flux2KleinPipeline": functools.partial(tiny_flux2_klein_pipeline, is_distilled=False),  # base: real CFG
    "Flux2Pipeline": tiny_flux2_dev_pipeline,
    "QwenImagePipeline": tiny_qwen_image_pipeline,
}
"""Each stock pipeline's tiny regional one."""
FAMILY = {
    "FluxPipeline": "flux",
    "ChromaPipeline": "chroma",
    "StableDiffusion3Pipeline": "sd3",
    "Flux2KleinPipeline": "flux2",
    "Flux2Pipeline": "flux2",
    "QwenImagePipeline": "qwenimage",
}
MODELS = [family_param(name, FAMILY[name]) for name in TINY]
"""Every model the installed diffusers runs (FLUX.2 and Qwen-Image need 0.37)."""
CONDITIONAL_ONLY = {"flux": {}, "chroma": {"guidance_scale": 1.0}, "sd3": {"guidance_scale": 1.0}}
CONDITIONAL_ONLY["flux2"] = CONDITIONAL_ONLY["qwenimage"] = CONDITIONAL_ONLY["sd3"]
"""Isolation is a property of the prompted prediction: a CFG negative pass (Chroma, SD3, FLUX.2 [klein] base)
is the plain model, whose attention mixes all tokens (as any base_ratio > 0 does), so the isolation tests run
without CFG."""
TEXT_PREFIX = {"flux": 0, "chroma": 0, "sd3": 77, "flux2": 0, "qwenimage": 0}
"""Tokens before the T5 tokens in a prompt's text sequence: SD3's CLIP part."""


def stock_name(pipe) -> str:
    return type(pipe).__name__.removeprefix("Regional")


def real_tokens(pipe, prompts: list[str]) -> list[int]:
    """Tokens of each prompt before padding as the family's stock pipeline tokenizes it: FLUX.2 wraps it in a
    chat ([klein]: Qwen3's, a user turn; [dev]: Mistral's, after FLUX.2's system message)."""
    if stock_name(pipe) == "Flux2KleinPipeline":
        chats = [[{"role": "user", "content": p}] for p in prompts]
        options = {"add_generation_prompt": True, "enable_thinking": False}
    elif stock_name(pipe) == "Flux2Pipeline":
        from diffusers.pipelines.flux2.pipeline_flux2 import format_input  # diffusers >= 0.36

        chats, options = format_input(prompts), {}
    if pipe.family == "flux2":
        prompts = [pipe.tokenizer.apply_chat_template(c, tokenize=False, **options) for c in chats]
    if pipe.family == "qwenimage":  # its template, less the system prefix the pipeline drops
        ids = pipe.tokenizer([pipe.prompt_template_encode.format(p) for p in prompts]).input_ids
        return [len(i) - pipe.prompt_template_encode_start_idx for i in ids]
    return [len(ids) for ids in pipe.text_tokenizer(prompts).input_ids]


@pytest.fixture(scope="module", params=MODELS)
def pipe(request):
    return TINY[request.param](seed=0)


@pytest.fixture(scope="module")
def flux():
    return tiny_flux_pipeline(seed=0)


def layout(*regions, base="a red circle and a blue square", background=None, width=W, height=H):
    return Layout(
        width=width,
        height=height,
        base_prompt=base,
        background_prompt=background,
        regions=[Region(prompt=p, box=b) for p, b in regions],
    )


def latents(pipe, lay, seed=0, **kwargs):
    kwargs.setdefault("num_inference_steps", 4)
    out = pipe(layout=lay, generator=torch.Generator().manual_seed(seed), output_type="latent", **kwargs)
    return out.images


def token_grid(packed: torch.Tensor, width=W, height=H) -> torch.Tensor:
    return testing.token_grid(packed, width, height)


def stock(pipe, prompt, seed=0, steps=4, width=W, height=H, **kwargs):
    """The family's stock diffusers pipeline on the same components, at the family's default guidance."""
    plain = getattr(diffusers, stock_name(pipe))(**pipe.components)
    plain.set_progress_bar_config(disable=True)
    kwargs.setdefault("guidance_scale", pipe.sampling_defaults.guidance_scale)
    if pipe.family == "qwenimage":  # its CFG scale is the stock true_cfg_scale, run with a negative prompt
        scale = kwargs.pop("guidance_scale")
        kwargs.update(true_cfg_scale=scale, negative_prompt="" if scale > 1 else None)
    # the text length the regional pipeline uses: its default, or a tiny tokenizer's shorter limit
    limit = min(pipe.sampling_defaults.max_sequence_length, pipe.text_tokenizer.model_max_length)
    kwargs.setdefault("max_sequence_length", limit)
    return plain(
        prompt=prompt, height=height, width=width, num_inference_steps=steps,
        generator=torch.Generator().manual_seed(seed), output_type="latent", **kwargs,
    ).images  # fmt: skip


def test_output_is_the_stock_pipelines_latents(pipe):
    """Packed (batch, tokens, channels) for FLUX.1 and Chroma, unpacked for SD3: as each stock pipeline."""
    out = latents(pipe, layout(("a red circle", LEFT)))
    assert out.shape == stock(pipe, "a red circle").shape == (1, *out.shape[1:])
    assert token_grid(out).shape[1:3] == (H // 16, W // 16)
    assert torch.isfinite(out).all()


PATHS = ["grouped", "dense"]


@pytest.mark.parametrize("path", PATHS)
def test_isolation_outside_changed_region(pipe, path):
    """base_ratio=0, every block and step injected: region 1's prompt cannot reach region 0's tokens."""
    every = {"base_ratio": 0.0, "inject_steps": 4, "double_inject_interval": 1, "single_inject_interval": 1}
    every.update(region_attention=path, **CONDITIONAL_ONLY[pipe.family])
    a = token_grid(latents(pipe, layout(("a red circle", LEFT), ("a blue square", RIGHT)), **every))
    b = token_grid(latents(pipe, layout(("a red circle", LEFT), ("a green star on grass", RIGHT)), **every))
    left, right = slice(0, 4), slice(4, 8)
    torch.testing.assert_close(a[:, :, left], b[:, :, left], atol=1e-5, rtol=1e-5)
    assert (a[:, :, right] - b[:, :, right]).abs().max() > 1e-3


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("min_tokens", "side"), [(0, 2), (None, 3)])
def test_isolation_with_background_region(pipe, path, min_tokens, side):
    """Same with a background region: changing region 0 leaves the background and region 1 untouched. Region
    0's box is 2x2 tokens; by default (``region_min_tokens``, 3) it is widened to 3x3 tokens, and exactly
    those are its own."""
    every = {"base_ratio": 0.0, "inject_steps": 4, "double_inject_interval": 1, "single_inject_interval": 1}
    every.update(region_attention=path, **CONDITIONAL_ONLY[pipe.family])
    if min_tokens is not None:
        every["region_min_tokens"] = min_tokens
    box0, box1 = (0.0, 0.0, 0.25, 0.5), (0.5, 0.5, 1.0, 1.0)
    a = token_grid(
        latents(pipe, layout(("a red circle", box0), ("a blue square", box1), background="sky"), **every)
    )
    b = token_grid(
        latents(pipe, layout(("a yellow cat", box0), ("a blue square", box1), background="sky"), **every)
    )
    inside = torch.zeros(4, 8, dtype=torch.bool)
    inside[:side, :side] = True
    torch.testing.assert_close(a[:, ~inside], b[:, ~inside], atol=1e-5, rtol=1e-5)
    assert (a[:, inside] - b[:, inside]).abs().max() > 1e-3


def test_inject_steps_zero_is_the_stock_pipeline(pipe):
    lay = layout(("a red circle", LEFT), ("a blue square", RIGHT))
    torch.testing.assert_close(
        latents(pipe, lay, inject_steps=0), stock(pipe, lay.base_prompt), atol=0, rtol=0
    )


def test_whole_canvas_region_with_base_prompt_is_the_stock_pipeline(pipe):
    """The region's prompt must carry exactly the base prompt's tokens. FLUX: region_token_margin=None pads
    it like the base prompt (512 tokens). Chroma: it keeps its real tokens and one padding token, while the
    base path masks the base prompt's padding (in diffusers 0.42 only as an additive bias, see README); so
    the base prompt is given exactly those tokens (max_sequence_length = real + 1) and has no other padding."""
    lay = layout(("a red circle and a blue square", (0.0, 0.0, 1.0, 1.0)))
    if pipe.family in ("flux", "sd3", "flux2", "qwenimage"):
        options, stock_options = {"region_token_margin": None}, {}
    else:
        tokens = len(pipe.text_tokenizer(lay.base_prompt).input_ids) + 1
        options = stock_options = {"max_sequence_length": tokens}
    out = latents(pipe, lay, inject_steps=4, base_ratio=0.3, single_inject_interval=1, **options)
    torch.testing.assert_close(out, stock(pipe, lay.base_prompt, **stock_options), atol=1e-4, rtol=1e-4)


def test_base_ratio_one_is_the_stock_pipeline(pipe):
    """beta = 1 in every block of every step: the image tokens take z_base alone, which is the stock model's
    attention on the base prompt (with Chroma's padding mask), so the regional prompts cannot reach them."""
    lay = layout(("a red circle", LEFT), ("a blue square", RIGHT))
    out = latents(pipe, lay, base_ratio=1.0, inject_steps=4, single_inject_interval=1)
    torch.testing.assert_close(out, stock(pipe, lay.base_prompt), atol=1e-5, rtol=1e-5)


def test_regional_control_changes_the_output(pipe):
    lay = layout(("a red circle", LEFT), ("a blue square", RIGHT))
    assert (latents(pipe, lay) - stock(pipe, lay.base_prompt)).abs().max() > 1e-3


def test_consecutive_calls_are_independent(pipe):
    first = layout(("a red circle", LEFT), ("a blue square", RIGHT))
    second = layout(
        ("a cat", (0.0, 0.0, 1.0, 0.5)), ("a dog", (0.25, 0.5, 0.75, 1.0)), ("a cup", (0.0, 0.5, 0.25, 1.0))
    )
    a1 = latents(pipe, first)
    b = latents(pipe, second)
    a2 = latents(pipe, first)
    torch.testing.assert_close(a1, a2, atol=0, rtol=0)
    fresh_b = latents(TINY[stock_name(pipe)](seed=0), second)
    torch.testing.assert_close(b, fresh_b, atol=0, rtol=0)


def test_batches_match_single_images(pipe):
    lay = layout(("a red circle", LEFT), ("a blue square", RIGHT))
    gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
    batch = pipe(
        layout=lay, num_inference_steps=3, num_images_per_prompt=2, generator=gens, output_type="latent"
    ).images
    assert batch.shape[0] == 2
    for index, seed in enumerate((1, 2)):
        single = latents(pipe, lay, seed=seed, num_inference_steps=3)
        torch.testing.assert_close(batch[index : index + 1], single, atol=1e-5, rtol=1e-5)


def test_callback_sees_every_step_and_can_stop(pipe):
    seen = []

    def on_step(p, step, timestep, kwargs):
        seen.append((step, kwargs["latents"].shape))
        if step == 1:
            p._interrupt = True
        return kwargs

    pipe(
        layout=layout(("a red circle", LEFT)),
        num_inference_steps=4,
        callback_on_step_end=on_step,
        output_type="latent",
    )
    assert [s for s, _ in seen] == [0, 1]


def test_attention_paths_agree_on_overlapping_regions(pipe):
    lay = layout(
        ("a cat", (0.0, 0.0, 0.7, 1.0)), ("a sofa", (0.3, 0.3, 1.0, 1.0)), ("a lamp", (0.6, 0.0, 1.0, 0.5))
    )
    grouped = latents(pipe, lay, region_attention="grouped", single_inject_interval=1)
    dense = latents(pipe, lay, region_attention="dense", single_inject_interval=1)
    assert torch.isfinite(grouped).all()
    torch.testing.assert_close(grouped, dense, atol=1e-5, rtol=1e-5)


def test_explicit_block_lists_and_invalid_arguments(pipe):
    lay = layout(("a red circle", LEFT))
    singles = [0, 2] if pipe.regional_attention_blocks().get("single") else []
    a = latents(pipe, lay, double_inject_blocks=[1], single_inject_blocks=[])
    b = latents(pipe, lay, double_inject_blocks=[0, 1], single_inject_blocks=singles)
    assert (a - b).abs().max() > 1e-4
    with pytest.raises(ValueError, match="double_inject_blocks"):
        latents(pipe, lay, double_inject_blocks=[7])
    with pytest.raises(ValueError, match="base_ratio"):
        latents(pipe, lay, base_ratio=1.5)
    with pytest.raises(ValueError, match="inject_steps"):
        latents(pipe, lay, inject_steps=9)
    with pytest.raises(ValueError, match="max_sequence_length"):
        latents(pipe, lay, max_sequence_length=pipe.max_text_tokens + 1)
    with pytest.raises(ValueError, match="region_token_margin"):
        latents(pipe, lay, region_token_margin=-1)
    with pytest.raises(ValueError, match="region_min_tokens must be >= 0"):
        latents(pipe, lay, region_min_tokens=-1)
    with pytest.raises(ValueError, match="width"):
        latents(pipe, {"width": 13, "height": 64, "base_prompt": "x"})


def test_region_tokens_are_real_tokens_plus_margin(pipe):
    """A regional prompt keeps its real tokens and ``margin`` padding tokens; Qwen-Image's prompts have no
    padding (the stock pipeline masks it out), so they keep exactly their tokens and refuse a margin."""
    margin = 0 if pipe.family == "qwenimage" else 8
    prompts = ["a red circle", "a blue square on the left"]
    embeds, lengths, positions = pipe.encode_regional_prompts(prompts, 512, margin, "cpu")
    real = real_tokens(pipe, prompts)
    prefix = TEXT_PREFIX[pipe.family]
    assert lengths == [prefix + real[0] + margin, prefix + real[1] + margin]
    assert embeds.shape[1] == sum(lengths)
    # each prompt's tokens keep their positions in its own encoding (FLUX.2's and Qwen-Image's text rotary)
    assert positions.tolist() == [*range(lengths[0]), *range(lengths[1])]
    padded, padded_lengths, _ = pipe.encode_regional_prompts(["a red circle"], 512, None, "cpu")
    if pipe.family == "qwenimage":
        assert padded_lengths == [real[0]]
        with pytest.raises(ValueError, match="region_token_margin"):
            pipe.encode_regional_prompts(prompts, 512, 8, "cpu")
    else:
        assert padded_lengths == [prefix + 512]
    torch.testing.assert_close(padded[:, : lengths[0]], embeds[:, : lengths[0]])


def test_schnell_like_model_uses_schnell_defaults():
    schnell = tiny_flux_pipeline(seed=0, guidance_embeds=False)
    defaults = schnell.sampling_defaults
    assert (defaults.num_inference_steps, defaults.inject_steps, defaults.max_sequence_length) == (4, 2, 256)
    out = schnell(layout=layout(("a red circle", LEFT)), output_type="latent").images
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_runs(model, dtype):
    half = TINY[model](seed=0).to(dtype=dtype)
    out = latents(half, layout(("a red circle", LEFT), ("a blue square", RIGHT)), num_inference_steps=2)
    assert out.dtype == dtype and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("negative", ["birds", None])
def test_true_cfg_matches_flux_with_the_negative_or_empty_prompt(flux, negative):
    lay = Layout.model_validate({**layout(("a red circle", LEFT)).model_dump(), "negative_prompt": negative})
    plain = latents(flux, lay, inject_steps=0, true_cfg_scale=2.0)
    reference = stock(flux, lay.base_prompt, negative_prompt=negative or "", true_cfg_scale=2.0)
    assert torch.allclose(plain, reference, atol=1e-5)
    assert (plain - latents(flux, lay, inject_steps=0)).abs().max() > 1e-3  # guidance changed the image
    regional = flux(layout=lay, num_inference_steps=2, true_cfg_scale=2.0, num_images_per_prompt=2).images
    assert len(regional) == 2 and regional[0].size == (W, H)


def test_true_cfg_scale_is_refused_where_guidance_scale_is_the_cfg_scale(pipe):
    """FLUX.1's true_cfg_scale would be silently ignored by a family whose guidance_scale is already its
    classifier-free guidance scale; it is refused, naming the pipeline."""
    lay = layout(("a red circle", LEFT))
    if (
        pipe.family == "flux" or stock_name(pipe) == "Flux2Pipeline"
    ):  # guidance-distilled: true CFG on request
        assert latents(pipe, lay, true_cfg_scale=2.0, num_inference_steps=1).shape[0] == 1
        return
    with pytest.raises(ValueError, match=f"true_cfg_scale is for FLUX.1, got 2.0: {type(pipe).__name__}'s"):
        latents(pipe, lay, true_cfg_scale=2.0)


def test_processors_are_reinstalled_after_being_replaced(pipe):
    from diffusers.models.transformers.transformer_flux import FluxAttnProcessor

    from regional.attention import has_regional_processors

    pipe.transformer.set_attn_processor(FluxAttnProcessor())
    lay = layout(("a red circle", LEFT), ("a blue square", RIGHT))
    out = latents(pipe, lay)
    assert has_regional_processors(pipe.transformer)
    assert (out - stock(pipe, lay.base_prompt)).abs().max() > 1e-3


@pytest.mark.parametrize("model", MODELS)
def test_text_length_follows_a_shorter_tokenizer_limit(model):
    short = TINY[model](seed=0)
    short.text_tokenizer.model_max_length = 64
    seen = {}

    def on_step(p, step, timestep, kwargs):
        seen["text_tokens"] = kwargs["prompt_embeds"].shape[1]
        return kwargs

    short(
        layout=layout(("a red circle", LEFT), base=" ".join(["a red circle"] * 30)),  # over 64 tokens: cut
        num_inference_steps=1,
        output_type="latent",
        callback_on_step_end=on_step,
        callback_on_step_end_tensor_inputs=["prompt_embeds"],
    )
    assert seen["text_tokens"] == TEXT_PREFIX[FAMILY[model]] + 64
