"""Read a free-text prompt into a ``Scene``: objects with counts and attributes, relations, exclusions, setting.

Rule-based and deterministic. The prompt is lower-cased, negations ("without birds") and style words are cut
out here; ``planner.markers`` turns relation and position phrases ("to the left of", "on the right"), verbs
and separators into markers, ``planner.noun_phrase`` reads the text between markers as noun phrases
"[count] [attributes] noun [predicate ...]", and ``planner.caption_reader`` reads the items left to right
into objects, relations and settings (``planner.scene``).
"""

from __future__ import annotations

import re

from planner.caption_reader import CaptionReader
from planner.lexicon import (
    BODY_PARTS,
    OBJECT_SHAPES,
)
from planner.markers import tokenise
from planner.noun_phrase import STYLE_OF, read_noun_phrase, singular
from planner.scene import NounPhrase, Relation, Scene

__all__ = ["NounPhrase", "Relation", "Scene", "parse_prompt", "read_noun_phrase", "scene_context", "singular"]

FREE_OF_PATTERN = re.compile(r"\b([a-z]+)-free\b")
"""Exclusion written as an adjective ("a smoke-free kitchen", "cloud-free sky")."""

NEGATION_PATTERN = re.compile(
    r"(?:^|\s|,)(?:without|with no|with not|but no|and no|no|not|excluding|except(?: for)?|minus|free of)\s+"
    r"(?:any\s+)?([a-z][a-z\s'-]*?)(?=\s*(?:[,.;]|$|\s(?:with|but|on|in|at|under|near|next|behind|above|"
    r"below|to|while)\b))"
)
"""Negation with the excluded noun phrases after it, up to punctuation or a preposition."""


POSSESSIVE_PART = re.compile(rf"\b([a-z]+)'s (?:{'|'.join(sorted(BODY_PARTS))})\b")
"""A part named by its owner ("a horse's back"): the owner is the object."""


def _find_negations(text: str) -> tuple[str, list[str]]:
    """Cut negations out of the prompt; return (remaining text, excluded phrases as written)."""
    negatives: list[str] = []

    def collect(match: re.Match[str]) -> str:
        for part in re.split(r"\s*(?:,|\bor\b|\bnor\b|\band\b)\s*", match.group(1)):
            part = part.strip()
            if part and part not in {"one", "way", "more", "longer", "background"}:
                negatives.append(part)
        return " "

    def collect_free(match: re.Match[str]) -> str:
        negatives.append(match.group(1))
        return ""

    remaining = NEGATION_PATTERN.sub(collect, FREE_OF_PATTERN.sub(collect_free, text))
    return " ".join(remaining.split()), negatives


STYLE_TAG = re.compile(
    r"\b(?:\d+k|hd|uhd|hdr|detailed|realistic|photorealistic|hyperrealistic|lighting|trending|artstation|"
    r"octane|unreal|cinematic|masterpiece|quality|bokeh|render|rendered|style|illustration|digital art|"
    r"concept art|sharp focus|award[- ]winning|studio|depth of field|dslr|aesthetic|vibrant colors)\b"
)
STYLE_SUFFIX = re.compile(
    r",?\s*\b(?:in the style of|in a style of|by an artist|painted by|drawn by)\b[^,.;]*"
)


PART_OF_THING = re.compile(
    r"\bthe (?:arm|armrest|edge|(?<!\bat the )back|seat|hood|roof|tip|end|rim|handle|steps|lap) of "
    r"(?=(?:a|an|another|the|his|her|its|their)\s)"
)
"""A part of an object as the place ("on the arm of a couch"): the object is what gets a box. Not after
"at": "at the back of a car" is behind it (``planner.markers``)."""

LIGHT_AND_WEATHER = re.compile(
    r"\b(?:(?:at|during) (?:dusk|dawn|sunset|sunrise|night|twilight|noon|midnight|golden hour|blue hour)"
    r"|in the (?:rain|snow|fog|mist|storm|sun|shade|dark|moonlight|sunlight|sunshine)"
    r"|(?:golden|blue) hour|moonlit|sunlit|candlelit|neon[- ]lit|backlit"
    r"|(?:rainy|snowy|foggy|misty|stormy|sunny|cloudy|overcast) (?:day|night|evening|morning|afternoon|weather))\b"
)
"""Light, time of day and weather: shared by every part of the picture."""

COLOURS = "black|white|grey|gray|brown|red|orange|yellow|green|blue|purple|pink|tan|golden|silver|beige|cream"
COORDINATED_COLOURS = re.compile(rf"\b({COLOURS}) and (?=(?:{COLOURS})\b)")
""""a grey and white cat": two colours of one object, not two objects."""


def scene_context(text: str) -> list[str]:
    """What every part of the picture shares: medium and framing ("watercolor painting", "close-up"),
    style ("in the style of ...", "cinematic lighting"), light, time of day and weather ("at dusk")."""
    context = []
    medium = STYLE_OF.match(text)
    if medium:
        words = [w for w in medium.group(0).split() if w not in {"a", "an", "the", "of"}]
        context.append(" ".join(words))
    context += [m.group(0).strip(" ,") for m in STYLE_SUFFIX.finditer(text)]
    for part in text.split(","):
        part = part.strip()
        if part and STYLE_TAG.search(part) and not _names_object(part):
            context.append(part)
    context += [m.group(0) for m in LIGHT_AND_WEATHER.finditer(text)]
    return list(dict.fromkeys(c for c in context if c))


def _content(text: str) -> str:
    """The prompt without style words that name no object: "a photo of", "in the style of X", "4k, detailed"."""
    text = STYLE_OF.sub("", STYLE_SUFFIX.sub("", text), count=1)
    parts = [p for p in re.split(r"(?<=,)", text) if not STYLE_TAG.search(p) or _names_object(p)]
    return "".join(parts).strip(" ,")


def _names_object(text: str) -> bool:
    return any(singular(w) in OBJECT_SHAPES for w in re.findall(r"[a-z]+", text))


def parse_prompt(prompt: str) -> Scene:
    """Read ``prompt`` into a ``Scene``."""
    # 1. Lower-case the prompt and cut out its negations ("without birds").
    lowered = _flat(prompt.lower())
    remaining, negatives = _find_negations(lowered)
    # 2. Split what names objects into noun phrases and markers (relations, positions, verbs, separators).
    items = tokenise(_object_text(remaining))
    # 3. Read the items left to right into objects, relations and settings.
    reader = CaptionReader(items)
    for kind, value in items:
        reader.read(kind, value)
    # 4. The scene, with what every region shares.
    return Scene(
        prompt=prompt,
        base_prompt=_base_prompt(prompt, remaining),
        objects=reader.objects,
        relations=_between_different_objects(reader.relations),
        negatives=negatives,
        negative_heads=_negative_heads(negatives),
        settings=reader.settings,
        context=scene_context(lowered),
    )


def _between_different_objects(relations: list[Relation]) -> list[Relation]:
    """The relations that relate an object to another: naming an object again ("a cat next to the cat", "a
    table holding a beach, the table ...") resolves to the same index, and nothing can stand next to itself."""
    return [r for r in relations if r.target != r.subject and r.target2 != r.subject]


def _flat(text: str) -> str:
    """``text`` on one line, single-spaced, with typographic apostrophes made plain."""
    return " ".join(text.replace("’", "'").split())


def _object_text(text: str) -> str:
    """The text the reader reads: without style words, light and weather (they are the scene's context);
    "a grey and white cat" as one phrase, the owner of "a horse's back" and
    the whole of "the arm of a couch" as the objects."""
    readable = COORDINATED_COLOURS.sub(r"\1-and-", _content(text))
    readable = PART_OF_THING.sub("", LIGHT_AND_WEATHER.sub("", readable))
    return POSSESSIVE_PART.sub(r"\1", readable)


def _base_prompt(prompt: str, remaining: str) -> str:
    """The prompt without its negations, in the prompt's own capitals where the text is unchanged."""
    base_prompt = " ".join(remaining.replace(" ,", ",").split()).strip(" ,;") or prompt.strip()
    return _restore_case(prompt, base_prompt)


def _negative_heads(negatives: list[str]) -> set[str]:
    """The head noun (singular) of each excluded phrase: "no red birds" -> "bird"."""
    heads = set()
    for text in negatives:
        words = re.findall(r"[a-z]+", text)
        if words:
            heads.add(singular(words[-1]))
    return heads


def _restore_case(original: str, lowered: str) -> str:
    """Give the lower-cased base prompt back the prompt's own capitals where the text is unchanged."""
    flat = _flat(original)
    return flat if flat.lower() == lowered else lowered
