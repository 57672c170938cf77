"""What is FLUX.2's own (the shared invariants run in test_pipeline): text rotary positions per regional
prompt, step-distilled [klein] ignoring guidance as its stock pipeline does, and LoRAs through FLUX.2's loader
reaching the fused single-block projection."""

import pytest
import torch
from familykit import needs

from regional import Layout, Region
from regional.adapters import LoraChoice, LoraSet
from regional.testing import tiny_flux2_klein_pipeline

pytestmark = needs("flux2")

LAYOUT = Layout(
    width=128, height=64, base_prompt="a red circle and a blue square",
    regions=[Region(prompt="a red circle", box=(0, 0, 0.5, 1)), Region(prompt="a blue square", box=(0.5, 0, 1, 1))],
)  # fmt: skip


def sample(pipe, **kwargs):
    generator = torch.Generator().manual_seed(0)
    return pipe(
        layout=LAYOUT, num_inference_steps=2, generator=generator, output_type="latent", **kwargs
    ).images


@pytest.fixture(scope="module")
def klein():
    return tiny_flux2_klein_pipeline(seed=0)


def test_each_regional_prompt_keeps_its_own_text_positions(klein):
    """The transformer gets text ids (0, 0, 0, position): the base prompt's 0..63, then every regional prompt
    from 0 again, the positions the stock pipeline gives a prompt alone."""
    base = klein.encode_text(LAYOUT.base_prompt, 1, 64, None)
    prompt, state = klein.prepare_regional_state(
        LAYOUT, base, 64, 8, "grouped", 0.2, frozenset({0}), frozenset({0})
    )
    lengths = klein.regional_token_lengths(["a red circle", "a blue square"], 64, 8)
    assert state.region_text_len == sum(lengths)
    ids = klein.transformer_inputs(prompt, 32, 1.0)["txt_ids"]
    assert ids[:, :3].eq(0).all()
    assert ids[:, 3].tolist() == [*range(64), *range(lengths[0]), *range(lengths[1])]


def test_step_distilled_klein_ignores_guidance_like_its_stock_pipeline(klein):
    assert klein.config.is_distilled and klein.sampling_defaults.num_inference_steps == 4
    torch.testing.assert_close(
        sample(klein, guidance_scale=4.0), sample(klein, guidance_scale=1.0), atol=0, rtol=0
    )
    with pytest.raises(ValueError, match="true_cfg_scale"):
        sample(klein, true_cfg_scale=2.0)


def save_tiny_flux2_lora(path, seed: int) -> None:
    """A LoRA on the tiny FLUX.2 transformer's double-block projections and single blocks' fused QKV + MLP
    projection, B not zero so it acts, saved in diffusers' format."""
    from diffusers import Flux2KleinPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from regional.testing import tiny_flux2_image_models

    torch.manual_seed(seed)
    transformer = tiny_flux2_image_models(guidance_embeds=False)["transformer"]
    targets = ["to_q", "to_k", "to_v", "to_qkv_mlp_proj"]
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=targets, init_lora_weights=False))
    Flux2KleinPipeline.save_lora_weights(path, transformer_lora_layers=get_peft_model_state_dict(transformer))


def test_a_lora_acts_through_the_regional_processors_and_leaves_nothing_behind(tmp_path):
    pipe = tiny_flux2_klein_pipeline(seed=0)
    fresh = sample(pipe)
    save_tiny_flux2_lora(tmp_path, seed=1)
    loras = LoraSet(pipe, max_loaded=1)
    loras.activate([LoraChoice("style", str(tmp_path), 1.0)])
    with_lora = sample(pipe)
    assert (with_lora - fresh).abs().max() > 1e-3
    loras.activate([])
    torch.testing.assert_close(sample(pipe), fresh, atol=0, rtol=0)
