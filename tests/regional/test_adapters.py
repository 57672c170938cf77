"""Per-request LoRAs on a long-lived pipeline (tiny random-weight LoRAs built offline with peft), and the
bounded model cache: a job without LoRAs after one with them equals a fresh pipeline's output bit for bit."""

import pytest
import torch

from regional import Layout, Region
from regional.adapters import LoraChoice, LoraSet, ModelCache, adapter_name
from regional.testing import save_tiny_flux_lora, tiny_flux_pipeline

LAYOUT = Layout(
    width=64, height=64, base_prompt="a red circle and a blue square",
    regions=[Region(prompt="a red circle", box=(0, 0, 0.5, 1)), Region(prompt="a blue square", box=(0.5, 0, 1, 1))],
)  # fmt: skip


def sample(pipe):
    generator = torch.Generator().manual_seed(0)
    return pipe(layout=LAYOUT, num_inference_steps=2, generator=generator, output_type="latent").images


@pytest.fixture(scope="module")
def lora_dirs(tmp_path_factory):
    dirs = {}
    for name, seed in (("style", 1), ("character", 2), ("third", 3)):
        dirs[name] = tmp_path_factory.mktemp(name)
        save_tiny_flux_lora(dirs[name], seed=seed)
    return {name: str(path) for name, path in dirs.items()}


@pytest.fixture(scope="module")
def fresh_output():
    return sample(tiny_flux_pipeline(seed=0))


def test_a_job_without_loras_after_one_with_equals_a_fresh_pipeline(lora_dirs, fresh_output):
    pipe = tiny_flux_pipeline(seed=0)
    loras = LoraSet(pipe, max_loaded=2)
    loras.activate([LoraChoice("style", lora_dirs["style"], 1.0)])
    with_lora = sample(pipe)
    assert (with_lora - fresh_output).abs().max() > 1e-3  # the LoRA acts
    loras.activate([])
    torch.testing.assert_close(sample(pipe), fresh_output, atol=0, rtol=0)
    loras.activate([LoraChoice("style", lora_dirs["style"], 1.0)])  # cached: not loaded again
    torch.testing.assert_close(sample(pipe), with_lora, atol=0, rtol=0)
    loras.activate([LoraChoice("style", lora_dirs["style"], 0.5)])
    half = sample(pipe)
    assert (half - with_lora).abs().max() > 1e-4 and (half - fresh_output).abs().max() > 1e-4


def test_exactly_the_requested_set_is_active_and_the_cache_is_bounded(lora_dirs, fresh_output):
    pipe = tiny_flux_pipeline(seed=0)
    loras = LoraSet(pipe, max_loaded=2)
    style, character, third = (LoraChoice(name, lora_dirs[name]) for name in ("style", "character", "third"))
    loras.activate([style])
    style_only = sample(pipe)
    loras.activate([style, character])
    both = sample(pipe)
    assert (both - style_only).abs().max() > 1e-4
    loras.activate([third])  # evicts the least recently used of the two loaded
    assert list(loras.loaded) == ["character", "third"]
    assert set(pipe.get_list_adapters()["transformer"]) == {adapter_name("character"), adapter_name("third")}
    assert pipe.get_active_adapters() == [adapter_name("third")]
    loras.activate([style])  # loaded again, after evicting "character"
    torch.testing.assert_close(sample(pipe), style_only, atol=1e-6, rtol=1e-6)
    loras.activate([])
    torch.testing.assert_close(sample(pipe), fresh_output, atol=0, rtol=0)


def test_refuses_more_loras_than_fit_and_duplicates(lora_dirs):
    loras = LoraSet(tiny_flux_pipeline(seed=0), max_loaded=1)
    style, character = (
        LoraChoice("style", lora_dirs["style"]),
        LoraChoice("character", lora_dirs["character"]),
    )
    with pytest.raises(ValueError, match="at most 1"):
        loras.activate([style, character])
    with pytest.raises(ValueError, match="named twice"):
        loras.activate([style, style])


def test_model_cache_loads_once_and_drops_the_least_recently_used():
    loads = []
    cache = ModelCache(lambda name: loads.append(name) or f"model:{name}", max_loaded=2)
    assert cache.get("a") == "model:a" and cache.get("b") == "model:b" and cache.get("a") == "model:a"
    cache.get("c")  # drops "b", the least recently used
    assert list(cache.models) == ["a", "c"]
    cache.get("b")
    assert loads == ["a", "b", "c", "b"]


def test_a_lora_that_fails_to_load_leaves_nothing_behind(lora_dirs, fresh_output, tmp_path):
    pipe = tiny_flux_pipeline(seed=0)
    loras = LoraSet(pipe, max_loaded=2)
    with pytest.raises(Exception):  # noqa: B017 (whatever diffusers raises for a missing file)
        loras.activate([LoraChoice("broken", str(tmp_path / "missing"))])
    assert loras.loaded == {} and not any(pipe.get_list_adapters().values())
    loras.activate([LoraChoice("style", lora_dirs["style"])])
    loras.activate([])
    torch.testing.assert_close(sample(pipe), fresh_output, atol=0, rtol=0)
