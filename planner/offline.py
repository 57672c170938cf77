"""The ``offline`` backend: no model, a deterministic prompt parser and box placer. Never fails."""

from __future__ import annotations

from planner.parse import parse_prompt
from planner.place import place
from regional import Layout, Region
from regional.layout import MAX_PROMPT_CHARS, MAX_REGIONS

NAME = "offline"

EMPTY_PROMPT = "an empty scene"
"""Base prompt used when the prompt has no words at all."""


def background_prompt(settings: list[str], context: list[str]) -> str | None:
    """The setting as written ("a park", "the beach at sunset") with the scene's light, weather and medium,
    or None to use the base prompt."""
    if not settings and not context:
        return None
    first, *rest = [*settings, *context]
    return with_context(first, rest)


FUNCTION_WORDS = {"a", "an", "the", "in", "at", "on", "during", "of"}


def with_context(prompt: str, context: list[str]) -> str:
    """A region's prompt with what the whole picture shares ("a red fox, watercolor painting, at dusk"), so
    that each region is drawn in the scene's medium, light and setting rather than as if alone. A part whose
    words are already there is left out ("dusk" after "at dusk")."""
    parts = [prompt]
    for part in context:
        said = {w for p in parts for w in p.lower().split()}
        if not set(part.lower().split()) - FUNCTION_WORDS <= said:
            parts.append(part)
    return ", ".join(parts)[:MAX_PROMPT_CHARS]


def plan_offline(prompt: str, width: int, height: int) -> Layout:
    """Plan a layout for ``prompt`` on a ``width`` x ``height`` canvas without any model."""
    prompt = prompt[:MAX_PROMPT_CHARS]
    scene = parse_prompt(prompt)
    boxes = place(scene, width, height)
    regions = [
        Region(phrase=obj.phrase, prompt=with_context(obj.prompt, scene.context + scene.settings), box=box)
        for obj, instance_boxes in zip(scene.objects, boxes, strict=True)
        for box in instance_boxes
    ]
    return Layout(
        width=width,
        height=height,
        base_prompt=scene.base_prompt.strip() or prompt.strip() or EMPTY_PROMPT,
        background_prompt=background_prompt(scene.settings, scene.context),
        negative_prompt=", ".join(scene.negatives) or None,
        regions=regions[:MAX_REGIONS],
        planner=NAME,
    )
