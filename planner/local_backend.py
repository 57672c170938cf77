"""The ``local`` backend: an instruction-tuned LLM in-process through transformers, GGUF included.

Decoding is constrained by xgrammar to the layout's JSON schema, so every reply parses (a reply cut short
by the token limit is closed by ``planner.extract``). Generation is bounded by ``max_time``.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from planner.backends import Backend, Messages
from planner.exceptions import BackendError, BackendUnavailableError
from planner.schema import layout_json_schema
from planner.settings import PlannerSettings

MAX_STRING = 200
"""Longest string the grammar allows in a reply, in characters (keeps small models from rambling)."""


def bounded_schema() -> dict[str, Any]:
    """The layout schema with limits a grammar can enforce: box of 4 numbers, bounded strings and lists."""
    schema = layout_json_schema()
    region = schema["$defs"]["PlannedRegion"]["properties"]
    region["box"].update(minItems=4, maxItems=4)
    region["phrase"]["maxLength"] = region["prompt"]["maxLength"] = MAX_STRING
    schema["properties"]["regions"]["maxItems"] = 32
    schema["properties"]["base_prompt"]["maxLength"] = MAX_STRING
    for key in ("background_prompt", "negative_prompt"):
        for option in schema["properties"][key]["anyOf"]:
            if option.get("type") == "string":
                option["maxLength"] = MAX_STRING
    return schema


class LocalBackend(Backend):
    name = "local"

    def __init__(self, settings: PlannerSettings) -> None:
        if not settings.local_model:
            raise BackendUnavailableError(
                "the local planner needs REGIONAL_PLANNER_LOCAL_MODEL (HF id or folder)"
            )
        try:
            import torch
            import xgrammar
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise BackendUnavailableError(
                f"the local planner needs transformers and xgrammar: {exc}"
            ) from exc
        kwargs = {"gguf_file": settings.local_gguf_file} if settings.local_gguf_file else {}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(settings.local_model, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(settings.local_model, **kwargs).eval()
        except (OSError, ValueError) as exc:
            raise BackendUnavailableError(f"cannot load {settings.local_model!r}: {exc}") from exc
        info = xgrammar.TokenizerInfo.from_huggingface(
            self.tokenizer, vocab_size=self.model.config.vocab_size
        )
        self.grammar = xgrammar.GrammarCompiler(info).compile_json_schema(
            json.dumps(bounded_schema()), any_whitespace=False, separators=(", ", ": ")
        )
        self.max_tokens = settings.max_tokens
        self._torch = torch
        self._lock = threading.Lock()

    def complete(self, messages: Messages, *, timeout: float) -> str:
        from xgrammar.contrib.hf import LogitsProcessor

        encoded = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt_len = encoded["input_ids"].shape[1]
        with self._lock, self._torch.inference_mode():
            try:
                output = self.model.generate(
                    **encoded,
                    max_new_tokens=self.max_tokens,
                    do_sample=False,
                    max_time=timeout,
                    logits_processor=[LogitsProcessor(self.grammar)],
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                )
            except RuntimeError as exc:
                raise BackendError(f"generation failed: {exc}") from exc
        return self.tokenizer.decode(output[0, prompt_len:], skip_special_tokens=True)
