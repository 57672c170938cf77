"""What is Qwen-Image's own (the shared invariants run in test_pipeline): prompts without padding, the text
rotary positions each regional prompt keeps, the stock pipeline's text mask as a key mask, its guidance with
rescaling, and LoRAs through its loader."""

from dataclasses import replace

import diffusers
import pytest
import torch
from familykit import needs

from regional import Layout, Region
from regional.adapters import LoraChoice, LoraSet
from regional.testing import tiny_qwen_image_pipeline

pytestmark = needs("qwenimage")

LAYOUT = Layout(
    width=128, height=64, base_prompt="a red circle and a blue square",
    regions=[Region(prompt="a red circle", box=(0, 0, 0.5, 1)), Region(prompt="a blue square", box=(0.5, 0, 1, 1))],
)  # fmt: skip
WHOLE = Layout(
    width=128, height=64, base_prompt=LAYOUT.base_prompt, regions=[Region(prompt=LAYOUT.base_prompt, box=(0, 0, 1, 1))]
)  # fmt: skip


@pytest.fixture(scope="module")
def pipe():
    return tiny_qwen_image_pipeline(seed=0)


def sample(pipe, layout=LAYOUT, **kwargs):
    generator = torch.Generator().manual_seed(0)
    return pipe(
        layout=layout, num_inference_steps=2, generator=generator, output_type="latent", **kwargs
    ).images


def stock(pipe, prompt, **kwargs):
    plain = diffusers.QwenImagePipeline(**pipe.components)
    plain.set_progress_bar_config(disable=True)
    generator = torch.Generator().manual_seed(0)
    return plain(
        prompt=prompt, height=64, width=128, num_inference_steps=2, generator=generator, output_type="latent",
        **kwargs,
    ).images  # fmt: skip


def test_a_prompt_is_its_tokens_after_the_template_prefix(pipe):
    """The stock pipeline drops the template's system prefix by count (34, as Qwen2's tokenizer splits it) and
    pads nothing for one prompt: the base prompt's embeddings are its real tokens, no mask."""
    prefix = pipe.prompt_template_encode.split("{}")[0]
    assert len(pipe.tokenizer(prefix).input_ids) == pipe.prompt_template_encode_start_idx == 34
    base = pipe.encode_text(LAYOUT.base_prompt, 1, 512, None)
    assert base.mask is None
    assert base.embeds.shape[1] == pipe.real_token_counts([LAYOUT.base_prompt], 512)[0]


def test_each_regional_prompt_keeps_its_own_text_positions(pipe):
    base = pipe.encode_text(LAYOUT.base_prompt, 1, 512, None)
    prompt, state = pipe.prepare_regional_state(
        LAYOUT, base, 512, 0, "grouped", 0.2, frozenset({0}), frozenset()
    )
    lengths = pipe.real_token_counts(["a red circle", "a blue square"], 512)
    assert prompt.embeds.shape[1] == base.embeds.shape[1] + sum(lengths) == len(state.text_positions)
    assert state.text_positions.tolist() == [
        *range(base.embeds.shape[1]), *range(lengths[0]), *range(lengths[1])
    ]  # fmt: skip


def test_positions_continued_after_the_base_prompt_would_change_the_image(pipe, monkeypatch):
    """The whole-canvas region with the base prompt equals the stock pipeline (test_pipeline) only because the
    region's tokens get the base prompt's positions; the transformer's own, continued ones break that."""
    options = {"inject_steps": 2, "base_ratio": 0.3, "guidance_scale": 1.0}
    reference = stock(pipe, WHOLE.base_prompt, true_cfg_scale=1.0)
    torch.testing.assert_close(sample(pipe, WHOLE, **options), reference, atol=1e-4, rtol=1e-4)
    prepare = pipe.prepare_regional_state

    def continued_positions(*args, **kwargs):
        prompt, state = prepare(*args, **kwargs)
        return prompt, replace(state, text_positions=None)

    monkeypatch.setattr(pipe, "prepare_regional_state", continued_positions)
    assert (sample(pipe, WHOLE, **options) - reference).abs().max() > 1e-3


def test_a_padded_text_mask_reaches_only_the_base_path(pipe):
    """A base prompt with padding (the stock encoding of a shorter prompt in a batch) and its mask: with
    beta = 1 in every block the image tokens see only the base path, which must be the stock transformer on
    that prompt and mask (the transformer's key mask, cut to the base prompt's columns)."""
    embeds, mask = pipe.encode_prompt(["a red circle", LAYOUT.base_prompt], device="cpu")
    assert not mask.all()
    base = pipe.encode_text("", 1, 512, None)  # only for its type: replaced by the padded prompt below
    base = replace(base, embeds=embeds[:1], mask=mask[:1])
    prompt, state = pipe.prepare_regional_state(
        LAYOUT, base, 512, 0, "grouped", 1.0, frozenset({0, 1}), frozenset()
    )
    denoising = pipe.prepare_denoising(
        1, 1, 64, 128, torch.float32, "cpu", torch.Generator().manual_seed(0), None, None
    )
    t = denoising.timesteps[0]

    def predict(text, attention_kwargs):
        inputs = pipe.transformer_inputs(text, 32, 1.0)
        return pipe.predict_noise(denoising.latents, t, denoising.image_ids, inputs, attention_kwargs)

    pipe.install_regional_processors()
    regional = predict(prompt, {"regional_state": state})
    torch.testing.assert_close(regional, predict(base, {}), atol=1e-5, rtol=1e-5)
    unmasked = replace(base, mask=None)
    assert (predict(unmasked, {}) - regional).abs().max() > 1e-4  # the mask mattered


def test_guidance_is_the_stock_true_cfg_with_its_rescaling(pipe):
    negative = Layout.model_validate({**LAYOUT.model_dump(), "negative_prompt": "birds"})
    torch.testing.assert_close(
        sample(pipe, negative, inject_steps=0, guidance_scale=3.0),
        stock(pipe, LAYOUT.base_prompt, true_cfg_scale=3.0, negative_prompt="birds"),
        atol=0,
        rtol=0,
    )
    torch.testing.assert_close(
        sample(pipe, inject_steps=0, guidance_scale=1.0), stock(pipe, LAYOUT.base_prompt, true_cfg_scale=1.0)
    )
    with pytest.raises(ValueError, match="true_cfg_scale"):
        sample(pipe, true_cfg_scale=2.0)
    with pytest.raises(ValueError, match="region_token_margin"):
        sample(pipe, region_token_margin=8)


def save_tiny_qwen_image_lora(path, seed: int) -> None:
    """A LoRA on the tiny transformer's image and text attention projections, B not zero so it acts, saved
    in diffusers' format."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    transformer = tiny_qwen_image_pipeline(seed=seed).transformer
    targets = ["to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj"]
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=targets, init_lora_weights=False))
    diffusers.QwenImagePipeline.save_lora_weights(
        path, transformer_lora_layers=get_peft_model_state_dict(transformer)
    )


def test_a_lora_acts_through_the_regional_processors_and_leaves_nothing_behind(tmp_path):
    pipe = tiny_qwen_image_pipeline(seed=0)
    fresh = sample(pipe)
    save_tiny_qwen_image_lora(tmp_path, seed=1)
    loras = LoraSet(pipe, max_loaded=1)
    loras.activate([LoraChoice("style", str(tmp_path), 1.0)])
    assert (sample(pipe) - fresh).abs().max() > 1e-3
    loras.activate([])
    torch.testing.assert_close(sample(pipe), fresh, atol=0, rtol=0)
