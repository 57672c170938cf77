"""Regional prompting keeps working with diffusers' LoRA loader and model CPU offload, in every family."""

import pytest
import torch
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict

from regional import Layout, Region
from regional.testing import tiny_chroma_pipeline, tiny_flux_pipeline

TINY = {"flux": tiny_flux_pipeline, "chroma": tiny_chroma_pipeline}

LAYOUT = Layout(
    width=64,
    height=64,
    base_prompt="a red circle and a blue square",
    regions=[
        Region(prompt="a red circle", box=(0, 0, 0.5, 1)),
        Region(prompt="a blue square", box=(0.5, 0, 1, 1)),
    ],
)


def run(pipe):
    return pipe(
        layout=LAYOUT, num_inference_steps=3, generator=torch.Generator().manual_seed(0), output_type="latent"
    ).images


@pytest.mark.parametrize("family", TINY)
def test_lora_loads_through_diffusers_and_regional_generation_uses_it(tmp_path, family):
    trainer = TINY[family](seed=0)
    config = LoraConfig(
        r=4,
        lora_alpha=4,
        target_modules=["to_q", "to_k", "to_v", "to_out.0", "add_q_proj"],
        init_lora_weights=False,
    )
    trainer.transformer.add_adapter(config)
    type(trainer).save_lora_weights(
        tmp_path, transformer_lora_layers=get_peft_model_state_dict(trainer.transformer)
    )

    pipe = TINY[family](seed=0)
    before = run(pipe)
    pipe.load_lora_weights(tmp_path, weight_name="pytorch_lora_weights.safetensors", adapter_name="tiny")
    with_lora = run(pipe)
    assert torch.isfinite(with_lora).all()
    assert (with_lora - before).abs().max() > 1e-3
    pipe.set_adapters(["tiny"], adapter_weights=[0.0])
    torch.testing.assert_close(run(pipe), before, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", TINY)
def test_model_cpu_offload_keeps_regional_prompting_working(family):
    reference = run(TINY[family](seed=0))
    pipe = TINY[family](seed=0)
    pipe.enable_model_cpu_offload(device="cpu")  # the same accelerate hooks as on a GPU host, on CPU
    torch.testing.assert_close(run(pipe), reference, atol=1e-5, rtol=1e-5)
