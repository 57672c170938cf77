"""Model selection: what 'auto' means on each kind of host, and the built-in names."""

from regional import loading
from regional.pipeline import RegionalFluxPipeline


def test_auto_is_dev_on_gpu_and_a_local_model_on_cpu(monkeypatch, tmp_path):
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
