"""What an LLM is asked to return, and its strict JSON schema (OpenAI structured outputs, grammars).

Width, height and the backend name are not the model's business: the planner adds them.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PlannedRegion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phrase: str = Field(description='One object instance as the prompt words it, e.g. "a red car".')
    prompt: str = Field(description="Description used to generate this region.")
    box: list[float] = Field(description="[x0, y0, x1, y1], normalised to [0, 1], origin at the top-left.")


class PlannedLayout(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_prompt: str = Field(description="The whole image in one sentence.")
    background_prompt: str | None = Field(description="What fills the space no region covers.")
    negative_prompt: str | None = Field(description="Things the prompt excludes, comma-separated.")
    regions: list[PlannedRegion] = Field(description="One entry per object instance.")


def _strict(node: Any) -> Any:
    """Every object closed and all of its properties required (OpenAI strict mode's rules)."""
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items() if k not in {"title", "default"}}
        if node.get("type") == "object" and "properties" in node:
            node["required"] = list(node["properties"])
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@lru_cache
def _schema() -> dict[str, Any]:
    return _strict(PlannedLayout.model_json_schema())


def layout_json_schema() -> dict[str, Any]:
    """The strict JSON schema of ``PlannedLayout`` (a fresh copy each call)."""
    return copy.deepcopy(_schema())
