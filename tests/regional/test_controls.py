"""ControlNets and Control models with regional prompting on tiny random-weight models (CPU, float32): the
stock pipelines' outputs without regional control (bit for bit), scale 0 equals no ControlNet, isolation with
a ControlNet attached, inpainting's kept area, and refused inputs."""

import numpy as np
import pytest
import torch
from diffusers import (
    FluxControlImg2ImgPipeline,
    FluxControlNetImg2ImgPipeline,
    FluxControlNetInpaintPipeline,
    FluxControlNetPipeline,
    FluxControlPipeline,
)
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from regional import (
    Layout,
    Region,
    RegionalFluxControlImg2ImgPipeline,
    RegionalFluxControlNetImg2ImgPipeline,
    RegionalFluxControlNetInpaintPipeline,
    RegionalFluxControlNetPipeline,
)
from regional.testing import tiny_flux_control_pipeline, tiny_flux_controlnet, tiny_flux_pipeline, token_grid

W, H = 128, 64  # 8 x 4 tokens
LEFT, RIGHT = slice(0, 4), slice(4, 8)
EVERY = {"base_ratio": 0.0, "inject_steps": 4, "double_inject_interval": 1, "single_inject_interval": 1}
"""Regional control in every block of every step, with no base path: a region sees only its own prompt."""


def layout(left="a red circle", right="a blue square") -> Layout:
    return Layout(
        width=W,
        height=H,
        base_prompt="a red circle and a blue square",
        regions=[Region(prompt=left, box=(0, 0, 0.5, 1)), Region(prompt=right, box=(0.5, 0, 1, 1))],
    )


def picture(seed: int) -> Image.Image:
    return Image.fromarray((np.random.default_rng(seed).random((H, W, 3)) * 255).astype(np.uint8))


RIGHT_HALF = Image.new("L", (W, H))
RIGHT_HALF.paste(255, (W // 2, 0, W, H))


@pytest.fixture(scope="module")
def flux():
    return tiny_flux_pipeline(seed=0)


@pytest.fixture(scope="module")
def canny():
    return tiny_flux_controlnet(seed=1)


@pytest.fixture(scope="module")
def union():
    return tiny_flux_controlnet(seed=2, num_mode=3)


def regional(pipe_class, flux, controlnet):
    pipe = pipe_class.from_pipe(flux, controlnet=controlnet)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(pipe, lay=None, seed=0, **kwargs):
    kwargs.setdefault("num_inference_steps", 4)
    generator = torch.Generator().manual_seed(seed)
    return pipe(layout=lay or layout(), generator=generator, output_type="latent", **kwargs).images


def stock(pipe, stock_class, seed=0, **kwargs):
    plain = stock_class(**pipe.components)
    plain.set_progress_bar_config(disable=True)
    return plain(
        prompt=layout().base_prompt, height=H, width=W, num_inference_steps=4, guidance_scale=3.5,
        generator=torch.Generator().manual_seed(seed), output_type="latent", **kwargs,
    ).images  # fmt: skip


def exact(a, b):
    torch.testing.assert_close(a, b, atol=0, rtol=0)


CONTROLNET_CASES = {
    "one": ({"control_image": picture(5)}, "canny"),
    "union": ({"control_image": picture(5), "control_mode": 2}, "union"),
    "span": (
        {"control_image": picture(5), "control_guidance_start": 0.25, "control_guidance_end": 0.75},
        "canny",
    ),
    "several": (
        {"control_image": [picture(5), picture(6)], "control_mode": [None, 1], "controlnet_conditioning_scale": [0.7, 1.2]},
        "canny+union",
    ),
}  # fmt: skip


def controlnet_of(name: str, request):
    nets = [request.getfixturevalue(part) for part in name.split("+")]
    return nets if len(nets) > 1 else nets[0]


@pytest.mark.parametrize("case", sorted(CONTROLNET_CASES))
def test_controlnet_inject_steps_zero_is_the_stock_pipeline(request, flux, case):
    control, nets = CONTROLNET_CASES[case]
    pipe = regional(RegionalFluxControlNetPipeline, flux, controlnet_of(nets, request))
    exact(run(pipe, inject_steps=0, **control), stock(pipe, FluxControlNetPipeline, **control))


@pytest.mark.parametrize(
    "pipe_class, stock_class, image_inputs",
    [
        (RegionalFluxControlNetImg2ImgPipeline, FluxControlNetImg2ImgPipeline, {"strength": 0.75}),
        (RegionalFluxControlNetInpaintPipeline, FluxControlNetInpaintPipeline, {"mask_image": RIGHT_HALF}),
    ],
)
def test_controlnet_with_an_image_is_the_stock_pipeline_without_regional_control(
    flux, union, pipe_class, stock_class, image_inputs
):
    pipe = regional(pipe_class, flux, union)
    inputs = {
        "control_image": picture(5),
        "control_mode": 1,
        "image": picture(1),
        "strength": 0.75,
        **image_inputs,
    }
    exact(run(pipe, inject_steps=0, **inputs), stock(pipe, stock_class, **inputs))


def test_control_scale_zero_is_no_controlnet(flux, canny, union):
    """With the same starting noise (the ControlNet's VAE encoding draws from the generator first), scale 0
    adds zero residuals: the regional pipeline without a ControlNet, bit for bit."""
    latents = randn_tensor((1, 32, 16), generator=torch.Generator().manual_seed(7))
    plain = run(flux, latents=latents, **EVERY)
    for net, mode in ((canny, None), (union, 0)):
        pipe = regional(RegionalFluxControlNetPipeline, flux, net)
        controls = {"control_image": picture(5), "control_mode": mode}
        exact(run(pipe, latents=latents, controlnet_conditioning_scale=0.0, **controls, **EVERY), plain)
        assert (run(pipe, latents=latents, **controls, **EVERY) - plain).abs().max() > 1e-3  # it acts at 1


@pytest.mark.parametrize("nets, mode", [("canny", None), ("union", 2), ("canny+union", [None, 2])])
def test_isolation_holds_with_a_controlnet_attached(request, flux, nets, mode):
    """The ControlNet gets the same regional attention as the transformer in injected steps, so a region's
    tokens do not see another region's prompt through it either."""
    pipe = regional(RegionalFluxControlNetPipeline, flux, controlnet_of(nets, request))
    images = [picture(5), picture(6)] if "+" in nets else picture(5)
    controls = {"control_image": images, "control_mode": mode, **EVERY}
    a = token_grid(run(pipe, layout(right="a blue square"), **controls), W, H)
    b = token_grid(run(pipe, layout(right="a green star on grass"), **controls), W, H)
    torch.testing.assert_close(a[:, :, LEFT], b[:, :, LEFT], atol=1e-5, rtol=1e-5)
    assert (a[:, :, RIGHT] - b[:, :, RIGHT]).abs().max() > 1e-3


def test_controlnet_inpainting_keeps_the_image_latents_outside_the_mask(flux, canny):
    pipe = regional(RegionalFluxControlNetInpaintPipeline, flux, canny)
    inputs = {"control_image": picture(5), "image": picture(1), "mask_image": RIGHT_HALF, "strength": 0.9}
    generator = torch.Generator().manual_seed(0)
    control = pipe.image_processor.preprocess(picture(5), height=H, width=W)
    pipe.vae.encode(control).latent_dist.sample(generator=generator)  # the control image's draw comes first
    image = pipe.image_processor.preprocess(picture(1), height=H, width=W)
    encoded = pipe._encode_vae_image(image, generator=generator)
    image_latents = token_grid(pipe._pack_latents(encoded, 1, 4, H // 8, W // 8), W, H)
    out = token_grid(run(pipe, **inputs), W, H)
    exact(out[:, :, LEFT], image_latents[:, :, LEFT])
    assert (out[:, :, RIGHT] - image_latents[:, :, RIGHT]).abs().max() > 1e-2


@pytest.fixture(scope="module")
def control_model():
    return tiny_flux_control_pipeline(seed=3)


def test_control_model_inject_steps_zero_is_the_stock_pipeline(control_model):
    exact(
        run(control_model, inject_steps=0, control_image=picture(5)),
        stock(control_model, FluxControlPipeline, control_image=picture(5)),
    )
    img2img = RegionalFluxControlImg2ImgPipeline.from_pipe(control_model)
    img2img.set_progress_bar_config(disable=True)
    inputs = {"control_image": picture(5), "image": picture(1), "strength": 0.75}
    exact(run(img2img, inject_steps=0, **inputs), stock(img2img, FluxControlImg2ImgPipeline, **inputs))


def test_control_model_follows_the_control_image_and_keeps_isolation(control_model):
    a = token_grid(run(control_model, control_image=picture(5), **EVERY), W, H)
    assert (token_grid(run(control_model, control_image=picture(6), **EVERY), W, H) - a).abs().max() > 1e-3
    b = token_grid(
        run(control_model, layout(right="a green star on grass"), control_image=picture(5), **EVERY), W, H
    )
    torch.testing.assert_close(a[:, :, LEFT], b[:, :, LEFT], atol=1e-5, rtol=1e-5)
    assert (a[:, :, RIGHT] - b[:, :, RIGHT]).abs().max() > 1e-3


@pytest.mark.parametrize(
    "nets, inputs, message",
    [
        ("canny", {"control_image": [picture(5), picture(6)]}, "2 control images for 1 ControlNets"),
        ("union", {"control_image": picture(5)}, r"needs a control_mode in \[0, 3\)"),
        ("union", {"control_image": picture(5), "control_mode": 3}, r"needs a control_mode in \[0, 3\)"),
        ("canny", {"control_image": picture(5), "control_mode": 1}, "without modes"),
        ("canny", {"control_image": picture(5), "control_guidance_start": 0.8, "control_guidance_end": 0.2}, "start"),
        ("canny+union", {"control_image": [picture(5)] * 2, "controlnet_conditioning_scale": [1.0]}, "1 values for 2"),
    ],
)  # fmt: skip
def test_refuses_inconsistent_control_inputs(request, flux, nets, inputs, message):
    pipe = regional(RegionalFluxControlNetPipeline, flux, controlnet_of(nets, request))
    with pytest.raises(ValueError, match=message):
        run(pipe, **inputs)
