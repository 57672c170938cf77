"""Model selection: what 'auto' means on each kind of host, and the built-in names."""

import huggingface_hub

from regional import loading
from regional.pipeline import RegionalFluxPipeline


def test_auto_is_dev_on_gpu_when_cached_and_a_local_model_otherwise(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert not loading.flux_dev_is_cached()
    assert loading.default_model("cuda") == "toy"  # a GPU without FLUX weights still draws
    snapshot = tmp_path / "hub" / "models--black-forest-labs--FLUX.1-dev" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (snapshot / "model_index.json").write_text("{}")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0123abc")
    assert loading.flux_dev_is_cached()
    assert loading.default_model("cuda") == "dev"
    monkeypatch.setattr(loading, "TOY_MODEL_DIR", tmp_path / "missing")
    assert loading.default_model("cpu") == "tiny"
    monkeypatch.setattr(loading, "TOY_MODEL_DIR", tmp_path)
    assert loading.default_model("cpu") == "toy"


def test_tiny_loads_offline_as_a_regional_pipeline():
    pipe = loading.load_pipeline("tiny", device="cpu")
    assert isinstance(pipe, RegionalFluxPipeline)
    assert pipe.transformer.dtype.is_floating_point


def test_aliases_name_the_real_checkpoints():
    assert loading.MODEL_ALIASES["dev"] == "black-forest-labs/FLUX.1-dev"
    assert loading.MODEL_ALIASES["schnell"] == "black-forest-labs/FLUX.1-schnell"
