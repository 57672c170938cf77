"""What is SD3.5's own: real classifier-free guidance run as the stock pipeline runs it (one batch in plain
steps), regional prompts that keep their 77 CLIP tokens, the dual-attention blocks, LoRAs through SD3's
loader, and the CLI. The shared invariants run on SD3 in test_pipeline.py."""

import json

import pytest
import torch
from diffusers import StableDiffusion3Pipeline
from PIL import Image

from regional import Layout, Region
from regional.adapters import LoraChoice, LoraSet
from regional.cli import main
from regional.testing import tiny_sd3_components, tiny_sd3_pipeline

LAYOUT = Layout(
    width=128,
    height=64,
    base_prompt="a red circle and a blue square",
    negative_prompt="birds",
    regions=[
        Region(prompt="a red circle", box=(0.0, 0.0, 0.5, 1.0)),
        Region(prompt="a blue square", box=(0.5, 0.0, 1.0, 1.0)),
    ],
)


@pytest.fixture(scope="module")
def pipe():
    return tiny_sd3_pipeline(seed=0)


def latents(pipe, **kwargs):
    generator = torch.Generator().manual_seed(0)
    return pipe(
        layout=LAYOUT, num_inference_steps=3, generator=generator, output_type="latent", **kwargs
    ).images


@pytest.mark.parametrize("guidance_scale", [3.5, 1.0])
def test_guidance_is_sd3s_classifier_free_guidance_with_the_negative_prompt(pipe, guidance_scale):
    stock = StableDiffusion3Pipeline(**pipe.components)
    stock.set_progress_bar_config(disable=True)
    reference = stock(
        prompt=LAYOUT.base_prompt, negative_prompt=LAYOUT.negative_prompt, height=64, width=128,
        num_inference_steps=3, guidance_scale=guidance_scale, generator=torch.Generator().manual_seed(0),
        output_type="latent",
    ).images  # fmt: skip
    torch.testing.assert_close(
        latents(pipe, inject_steps=0, guidance_scale=guidance_scale), reference, atol=0, rtol=0
    )
    assert (latents(pipe, guidance_scale=guidance_scale) - reference).abs().max() > 1e-3


def test_injected_steps_run_the_negative_pass_apart_and_plain_steps_batch_it(pipe):
    calls = []

    def record(module, args, kwargs):
        state = (kwargs.get("joint_attention_kwargs") or {}).get("regional_state")
        calls.append(
            (state is not None, kwargs["hidden_states"].shape[0], kwargs["encoder_hidden_states"].shape[1])
        )

    hook = pipe.transformer.register_forward_pre_hook(record, with_kwargs=True)
    try:
        latents(pipe, inject_steps=1, max_sequence_length=32, guidance_scale=3.5)
    finally:
        hook.remove()
    regional, negative, plain = calls[0], calls[1], calls[2]
    assert regional[:2] == (True, 1) and regional[2] > 77 + 32  # [base prompt | regional prompts]
    assert negative == (False, 1, 77 + 32)
    assert plain == (False, 2, 77 + 32) and len(calls) == 4  # later steps: [negative | positive] at once


def test_dual_attention_blocks_take_the_regional_image_mask(pipe):
    """Block 1 has SD3.5 Medium's second, image-only attention; it is injected with its joint block (without
    it, isolation fails: test_pipeline.py's isolation tests run on this model)."""
    from regional.attention import RegionalAttnProcessor

    latents(pipe)  # installs the processors
    processors = [p for name, p in pipe.transformer.attn_processors.items() if "attn2" in name]
    assert [(p.block_type, p.block_index) for p in processors] == [("image", 1)]
    assert all(isinstance(p, RegionalAttnProcessor) for p in processors)


def test_true_cfg_scale_is_refused(pipe):
    with pytest.raises(ValueError, match="guidance_scale"):
        latents(pipe, true_cfg_scale=2.0)


def test_a_lora_through_sd3s_loader_and_back_to_the_base_model(tmp_path):
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    carrier = tiny_sd3_components(seed=9)["transformer"]
    torch.manual_seed(1)
    carrier.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v"], init_lora_weights=False)
    )
    StableDiffusion3Pipeline.save_lora_weights(
        tmp_path, transformer_lora_layers=get_peft_model_state_dict(carrier)
    )
    fresh = latents(tiny_sd3_pipeline(seed=0))
    pipe = tiny_sd3_pipeline(seed=0)
    loras = LoraSet(pipe)
    loras.activate([LoraChoice("style", str(tmp_path))])
    assert (latents(pipe) - fresh).abs().max() > 1e-3
    loras.activate([])
    torch.testing.assert_close(latents(pipe), fresh, atol=0, rtol=0)


def test_the_cli_generates_with_sd3(tmp_path):
    (tmp_path / "layout.json").write_text(json.dumps(LAYOUT.model_dump(mode="json", exclude_none=True)))
    out = tmp_path / "o.png"
    args = ["generate", "--layout", str(tmp_path / "layout.json"), "--model", "tiny-sd3", "--steps", "2"]
    assert main([*args, "-o", str(out)]) == 0
    assert Image.open(out).size == (128, 64)


def picture(seed: int) -> Image.Image:
    import numpy as np

    return Image.fromarray((np.random.default_rng(seed).random((64, 128, 3)) * 255).astype(np.uint8))


RIGHT_HALF = Image.new("L", (128, 64))
RIGHT_HALF.paste(255, (64, 0, 128, 64))


@pytest.mark.parametrize("task", ["img2img", "inpaint"])
@pytest.mark.parametrize("guidance_scale", [3.5, 1.0])
def test_image_to_image_and_inpainting_without_regional_control_are_the_stock_pipelines(
    pipe, task, guidance_scale
):
    from diffusers import StableDiffusion3Img2ImgPipeline, StableDiffusion3InpaintPipeline

    from regional import RegionalStableDiffusion3Img2ImgPipeline, RegionalStableDiffusion3InpaintPipeline

    regional_class, stock_class = {
        "img2img": (RegionalStableDiffusion3Img2ImgPipeline, StableDiffusion3Img2ImgPipeline),
        "inpaint": (RegionalStableDiffusion3InpaintPipeline, StableDiffusion3InpaintPipeline),
    }[task]
    images = {"image": picture(1), "strength": 0.75} | (
        {"mask_image": RIGHT_HALF} if task == "inpaint" else {}
    )
    variant = regional_class.from_pipe(pipe)
    variant.set_progress_bar_config(disable=True)
    stock = stock_class(**pipe.components)
    stock.set_progress_bar_config(disable=True)
    reference = stock(
        prompt=LAYOUT.base_prompt, negative_prompt=LAYOUT.negative_prompt, height=64, width=128,
        num_inference_steps=4, guidance_scale=guidance_scale, generator=torch.Generator().manual_seed(0),
        output_type="latent", **images,
    ).images  # fmt: skip

    def run(**kwargs):
        generator = torch.Generator().manual_seed(0)
        return variant(
            layout=LAYOUT, num_inference_steps=4, guidance_scale=guidance_scale, generator=generator,
            output_type="latent", **images, **kwargs,
        ).images  # fmt: skip

    torch.testing.assert_close(run(inject_steps=0), reference, atol=0, rtol=0)
    regional = run()
    assert (regional - reference).abs().max() > 1e-3
    if task == "inpaint":  # the kept (left) half ends as exactly what the stock pipeline keeps
        torch.testing.assert_close(regional[..., :8], reference[..., :8], atol=0, rtol=0)


@pytest.fixture(scope="module", params=[True, False], ids=["instantx-style", "sd35-style"])
def controlled(request, pipe):
    """SD3 ControlNets: with text (InstantX-style joint blocks) and without (SD3.5-style image-only blocks)."""
    from regional import RegionalStableDiffusion3ControlNetPipeline
    from regional.testing import tiny_sd3_controlnet

    variant = RegionalStableDiffusion3ControlNetPipeline.from_pipe(
        pipe, controlnet=tiny_sd3_controlnet(1, request.param)
    )
    variant.set_progress_bar_config(disable=True)
    return variant


def controlled_latents(variant, layout=LAYOUT, **kwargs):
    torch.manual_seed(
        11
    )  # the stock SD3 ControlNet pipeline samples the control image's VAE encoding globally
    generator = torch.Generator().manual_seed(0)
    kwargs.setdefault("control_image", picture(5))
    return variant(
        layout=layout, num_inference_steps=3, generator=generator, output_type="latent", **kwargs
    ).images


@pytest.mark.parametrize("guidance_scale", [3.5, 1.0])
def test_controlnet_without_regional_control_is_the_stock_pipeline(controlled, guidance_scale):
    from diffusers import StableDiffusion3ControlNetPipeline

    stock = StableDiffusion3ControlNetPipeline(**controlled.components)
    stock.set_progress_bar_config(disable=True)
    torch.manual_seed(11)
    reference = stock(
        prompt=LAYOUT.base_prompt, negative_prompt=LAYOUT.negative_prompt, control_image=picture(5), height=64,
        width=128, num_inference_steps=3, guidance_scale=guidance_scale, generator=torch.Generator().manual_seed(0),
        output_type="latent",
    ).images  # fmt: skip
    ours = controlled_latents(controlled, inject_steps=0, guidance_scale=guidance_scale)
    torch.testing.assert_close(ours, reference, atol=0, rtol=0)


def test_control_scale_zero_is_no_controlnet(pipe, controlled):
    plain = latents(pipe, guidance_scale=1.0)
    torch.testing.assert_close(
        controlled_latents(controlled, controlnet_conditioning_scale=0.0, guidance_scale=1.0),
        plain,
        atol=0,
        rtol=0,
    )
    assert (controlled_latents(controlled, guidance_scale=1.0) - plain).abs().max() > 1e-3


def test_isolation_holds_with_an_sd3_controlnet_attached(controlled):
    from regional.testing import token_grid

    every = {"base_ratio": 0.0, "inject_steps": 3, "double_inject_interval": 1, "guidance_scale": 1.0}
    changed = Layout.model_validate({**LAYOUT.model_dump(), "regions": [
        LAYOUT.regions[0].model_dump(), {**LAYOUT.regions[1].model_dump(), "prompt": "a green star on grass"}]})  # fmt: skip
    a = token_grid(controlled_latents(controlled, **every), 128, 64)
    b = token_grid(controlled_latents(controlled, changed, **every), 128, 64)
    torch.testing.assert_close(a[:, :, :4], b[:, :, :4], atol=1e-6, rtol=1e-6)
    assert (a[:, :, 4:] - b[:, :, 4:]).abs().max() > 1e-4  # small: the tiny ControlNet's residuals dominate


def test_the_cli_runs_an_sd3_controlnet(tmp_path):
    from regional.testing import tiny_sd3_controlnet

    tiny_sd3_controlnet(seed=1).save_pretrained(tmp_path / "controlnet")
    (tmp_path / "layout.json").write_text(json.dumps(LAYOUT.model_dump(mode="json", exclude_none=True)))
    picture(5).save(tmp_path / "edges.png")
    args = ["generate", "--layout", str(tmp_path / "layout.json"), "--model", "tiny-sd3", "--steps", "2"]
    args += ["--controlnet", str(tmp_path / "controlnet"), "--control-image", str(tmp_path / "edges.png")]
    assert main([*args, "-o", str(tmp_path / "o.png")]) == 0
    assert Image.open(tmp_path / "o.png").size == (128, 64)
    assert (
        main([*args, "--control-mode", "1", "-o", str(tmp_path / "x.png")]) == 2
    )  # SD3 ControlNets have none
