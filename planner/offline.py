"""The ``offline`` backend: no model, a deterministic prompt parser and box placer. Never fails."""

from __future__ import annotations

from planner.parse import parse_prompt
from planner.place import place
from regional import Layout, Region
from regional.layout import MAX_PROMPT_CHARS, MAX_REGIONS

NAME = "offline"

EMPTY_PROMPT = "an empty scene"
"""Base prompt used when the prompt has no words at all."""


def background_prompt(settings: list[str]) -> str | None:
    """The setting as written ("a park", "the beach at sunset"), or None to use the base prompt."""
    return ", ".join(dict.fromkeys(settings)) or None


def plan_offline(prompt: str, width: int, height: int) -> Layout:
    """Plan a layout for ``prompt`` on a ``width`` x ``height`` canvas without any model."""
    prompt = prompt[:MAX_PROMPT_CHARS]
    scene = parse_prompt(prompt)
    boxes = place(scene, width, height)
    regions = [
        Region(phrase=obj.phrase, prompt=obj.prompt, box=box)
        for obj, instance_boxes in zip(scene.objects, boxes, strict=True)
        for box in instance_boxes
    ]
    return Layout(
        width=width,
        height=height,
        base_prompt=scene.base_prompt.strip() or prompt.strip() or EMPTY_PROMPT,
        background_prompt=background_prompt(scene.settings),
        negative_prompt=", ".join(scene.negatives) or None,
        regions=regions[:MAX_REGIONS],
        planner=NAME,
    )
