"""What is Chroma's own: real classifier-free guidance with a plain negative pass, and regional prompts that
keep exactly the T5 tokens Chroma attends to. The shared invariants run on Chroma in test_pipeline.py."""

import pytest
import torch
from diffusers import ChromaPipeline

from regional import Layout, Region
from regional.testing import tiny_chroma_pipeline

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
    return tiny_chroma_pipeline(seed=0)


def latents(pipe, **kwargs):
    generator = torch.Generator().manual_seed(0)
    return pipe(
        layout=LAYOUT, num_inference_steps=3, generator=generator, output_type="latent", **kwargs
    ).images


@pytest.mark.parametrize("guidance_scale", [3.0, 1.0])
def test_guidance_is_chromas_classifier_free_guidance_with_the_negative_prompt(pipe, guidance_scale):
    stock = ChromaPipeline(**pipe.components)
    stock.set_progress_bar_config(disable=True)
    reference = stock(
        prompt=LAYOUT.base_prompt, negative_prompt=LAYOUT.negative_prompt, height=64, width=128,
        num_inference_steps=3, guidance_scale=guidance_scale, generator=torch.Generator().manual_seed(0),
        output_type="latent",
    ).images  # fmt: skip
    plain = latents(pipe, inject_steps=0, guidance_scale=guidance_scale)
    torch.testing.assert_close(plain, reference, atol=0, rtol=0)


def test_the_negative_pass_runs_without_regional_control(pipe):
    calls = []

    def record(module, args, kwargs):
        state = (kwargs.get("joint_attention_kwargs") or {}).get("regional_state")
        calls.append((state is not None, kwargs["encoder_hidden_states"].shape[1]))

    hook = pipe.transformer.register_forward_pre_hook(record, with_kwargs=True)
    try:
        latents(pipe, inject_steps=2, max_sequence_length=32)
    finally:
        hook.remove()
    regional, negative, plain = calls[0], calls[1], calls[4]
    assert regional[0] and regional[1] > 32  # [base prompt | regional prompts]
    assert negative == (False, 32) and plain == (False, 32)
    assert [has_state for has_state, _ in calls] == [True, False, True, False, False, False]


def test_true_cfg_scale_is_refused(pipe):
    with pytest.raises(ValueError, match="guidance_scale"):
        latents(pipe, true_cfg_scale=2.0)


def test_regional_prompts_keep_exactly_the_tokens_chroma_attends_to(pipe):
    prompts = ["a red circle", "a blue square on the left of a house"]
    _, lengths, _ = pipe.encode_regional_prompts(prompts, 64, 1, "cpu")
    _, chroma_mask = pipe._get_t5_prompt_embeds(prompt=prompts, max_sequence_length=64, device="cpu")
    assert lengths == chroma_mask.sum(dim=1).int().tolist()  # real tokens and one padding token
    assert torch.isfinite(latents(pipe)).all()  # 'auto' margin is Chroma's 1
