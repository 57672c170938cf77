"""Image-to-image and inpainting with regional prompting on the tiny FLUX pipeline (CPU, float32): the stock
pipelines' outputs without regional control, inpainting's kept area, strength 1, and isolation."""

import numpy as np
import pytest
import torch
from diffusers import FluxImg2ImgPipeline, FluxInpaintPipeline
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from regional import Layout, Region, RegionalFluxImg2ImgPipeline, RegionalFluxInpaintPipeline
from regional.testing import tiny_flux_pipeline, token_grid

W, H = 128, 64  # 8 x 4 tokens
LEFT, RIGHT = (0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)
EVERY = {"base_ratio": 0.0, "inject_steps": 4, "double_inject_interval": 1, "single_inject_interval": 1}
"""Regional control in every block of every step, with no base path: a region sees only its own prompt."""


def layout(left="a red circle", right="a blue square") -> Layout:
    return Layout(
        width=W,
        height=H,
        base_prompt="a red circle and a blue square",
        regions=[Region(prompt=left, box=LEFT), Region(prompt=right, box=RIGHT)],
    )


def picture(seed: int) -> Image.Image:
    return Image.fromarray((np.random.default_rng(seed).random((H, W, 3)) * 255).astype(np.uint8))


RIGHT_HALF = Image.new("L", (W, H))
RIGHT_HALF.paste(255, (W // 2, 0, W, H))
"""The inpainting mask: repaint the right half (token-aligned), keep the left."""


@pytest.fixture(scope="module")
def flux():
    return tiny_flux_pipeline(seed=0)


@pytest.fixture(scope="module")
def img2img(flux):
    pipe = RegionalFluxImg2ImgPipeline.from_pipe(flux)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def inpaint(flux):
    pipe = RegionalFluxInpaintPipeline.from_pipe(flux)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(pipe, lay=None, seed=0, **kwargs):
    kwargs.setdefault("image", picture(1))
    kwargs.setdefault("num_inference_steps", 4)
    if isinstance(pipe, RegionalFluxInpaintPipeline):
        kwargs.setdefault("mask_image", RIGHT_HALF)
    generator = torch.Generator().manual_seed(seed)
    return pipe(layout=lay or layout(), generator=generator, output_type="latent", **kwargs).images


def stock(pipe, stock_class, seed=0, **kwargs):
    plain = stock_class(**pipe.components)
    plain.set_progress_bar_config(disable=True)
    kwargs.setdefault("image", picture(1))
    if stock_class is FluxInpaintPipeline:
        kwargs.setdefault("mask_image", RIGHT_HALF)
    return plain(
        prompt=layout().base_prompt, height=H, width=W, num_inference_steps=4, guidance_scale=3.5,
        generator=torch.Generator().manual_seed(seed), output_type="latent", **kwargs,
    ).images  # fmt: skip


KINDS = [("img2img", FluxImg2ImgPipeline), ("inpaint", FluxInpaintPipeline)]


@pytest.mark.parametrize("kind, stock_class", KINDS)
@pytest.mark.parametrize("strength", [0.6, 1.0])
def test_inject_steps_zero_is_the_stock_pipeline(request, kind, stock_class, strength):
    pipe = request.getfixturevalue(kind)
    out = run(pipe, inject_steps=0, strength=strength)
    torch.testing.assert_close(out, stock(pipe, stock_class, strength=strength), atol=0, rtol=0)


@pytest.mark.parametrize("kind, stock_class", KINDS)
def test_base_ratio_one_is_the_stock_pipeline(request, kind, stock_class):
    pipe = request.getfixturevalue(kind)
    out = run(pipe, base_ratio=1.0, inject_steps=4, single_inject_interval=1, strength=0.8)
    torch.testing.assert_close(out, stock(pipe, stock_class, strength=0.8), atol=1e-5, rtol=1e-5)
    assert (run(pipe, strength=0.8) - out).abs().max() > 1e-3  # with regional control the image differs


def test_inpainting_keeps_the_image_latents_outside_the_mask(inpaint):
    """After the last step the stock blend leaves the unmasked tokens exactly the image's latents (the VAE
    encoding of the init image, sampled with the call's generator first), as FluxInpaintPipeline does."""
    image = inpaint.image_processor.preprocess(picture(1), height=H, width=W)
    encoded = inpaint._encode_vae_image(image, generator=torch.Generator().manual_seed(0))
    image_latents = token_grid(inpaint._pack_latents(encoded, 1, 4, H // 8, W // 8), W, H)
    out = token_grid(run(inpaint, strength=0.9), W, H)
    reference = token_grid(stock(inpaint, FluxInpaintPipeline, strength=0.9), W, H)
    keep, repaint = slice(0, 4), slice(4, 8)
    torch.testing.assert_close(out[:, :, keep], image_latents[:, :, keep], atol=0, rtol=0)
    torch.testing.assert_close(reference[:, :, keep], image_latents[:, :, keep], atol=0, rtol=0)
    assert (out[:, :, repaint] - image_latents[:, :, repaint]).abs().max() > 1e-2
    assert (out[:, :, repaint] - reference[:, :, repaint]).abs().max() > 1e-3  # regional control acted


def test_strength_one_starts_from_noise_and_ignores_the_image(flux, img2img):
    """strength=1 runs every step from pure noise (diffusers: "essentially ignores image"): it is the
    text-to-image regional pipeline started from the same noise, whatever the image."""
    out = run(img2img, strength=1.0)
    torch.testing.assert_close(run(img2img, strength=1.0, image=picture(2)), out, atol=0, rtol=0)
    generator = torch.Generator().manual_seed(0)
    image = img2img.image_processor.preprocess(picture(1), height=H, width=W)
    img2img._encode_vae_image(image, generator=generator)  # the call's generator samples the encoding first
    noise = randn_tensor((1, 4, H // 8, W // 8), generator=generator)
    text_to_image = flux(
        layout=layout(), latents=flux._pack_latents(noise, 1, 4, H // 8, W // 8), num_inference_steps=4,
        output_type="latent",
    ).images  # fmt: skip
    torch.testing.assert_close(out, text_to_image, atol=0, rtol=0)


def test_isolation_under_img2img(img2img):
    """A region's tokens are unaffected by another region's prompt, starting from an image as from noise."""
    a = token_grid(run(img2img, layout(right="a blue square"), strength=0.8, **EVERY), W, H)
    b = token_grid(run(img2img, layout(right="a green star on grass"), strength=0.8, **EVERY), W, H)
    left, right = slice(0, 4), slice(4, 8)
    torch.testing.assert_close(a[:, :, left], b[:, :, left], atol=1e-5, rtol=1e-5)
    assert (a[:, :, right] - b[:, :, right]).abs().max() > 1e-3


def test_a_region_outside_the_mask_changes_nothing_under_isolation(inpaint):
    """Its tokens are the image's; isolated, its prompt cannot reach the repainted region either."""
    a = run(inpaint, layout(left="a red circle"), strength=0.8, **EVERY)
    b = run(inpaint, layout(left="a yellow cat"), strength=0.8, **EVERY)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    c = run(inpaint, layout(right="a green star on grass"), strength=0.8, **EVERY)
    assert (a - c).abs().max() > 1e-3


def test_strength_cuts_the_steps_that_run(img2img):
    steps = []

    def on_step(pipe, step, timestep, kwargs):
        steps.append(step)
        return kwargs

    run(img2img, strength=0.5, callback_on_step_end=on_step)
    assert steps == [0, 1]  # the last 2 of 4 steps


def test_invalid_strength_is_refused(img2img):
    with pytest.raises(ValueError, match="strength must be in"):
        run(img2img, strength=1.5)
    with pytest.raises(ValueError, match="leaves no step"):
        run(img2img, strength=0.0)


def test_decodes_to_images_of_the_layout_size(inpaint):
    images = inpaint(layout=layout(), image=picture(1), mask_image=RIGHT_HALF, num_inference_steps=2).images
    assert images[0].size == (W, H)


def test_loads_from_a_saved_checkpoint(flux, tmp_path):
    flux.save_pretrained(tmp_path)
    loaded = RegionalFluxInpaintPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    expected = run(RegionalFluxInpaintPipeline.from_pipe(flux))
    torch.testing.assert_close(run(loaded), expected, atol=1e-5, rtol=1e-5)


def test_chroma_img2img_without_regional_control_is_the_stock_pipeline():
    from diffusers import ChromaImg2ImgPipeline

    from regional.families.chroma import RegionalChromaImg2ImgPipeline
    from regional.testing import tiny_chroma_pipeline

    pipe = RegionalChromaImg2ImgPipeline.from_pipe(tiny_chroma_pipeline(seed=0))
    pipe.set_progress_bar_config(disable=True)
    plain = ChromaImg2ImgPipeline(**pipe.components)
    plain.set_progress_bar_config(disable=True)
    guidance = pipe.sampling_defaults.guidance_scale
    reference = plain(
        prompt=layout().base_prompt, image=picture(1), strength=0.75, height=H, width=W, num_inference_steps=4,
        guidance_scale=guidance, generator=torch.Generator().manual_seed(0), output_type="latent",
    ).images  # fmt: skip
    out = run(pipe, inject_steps=0, strength=0.75)
    torch.testing.assert_close(out, reference, atol=0, rtol=0)
    assert (run(pipe, strength=0.75) - reference).abs().max() > 1e-3  # with regional control it differs
