"""The offline planner's vocabulary, read from ``lexicon.toml`` beside this file: number words, object shapes by kind, scene words, irregular plurals.

Object shapes are ``Shape(aspect, height, zone)``: ``aspect`` is width / height of the object's usual box in
pixels, ``height`` its usual box height as a fraction of the canvas's shorter side in an everyday photo, and
``zone`` where it usually sits: ``ground`` (stands on the floor), ``sky`` (upper part), ``any``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal, NamedTuple

Zone = Literal["ground", "sky", "any"]


class Shape(NamedTuple):
    aspect: float
    height: float
    zone: Zone


_WORDS = tomllib.loads(Path(__file__).with_name("lexicon.toml").read_text(encoding="utf-8"))

NUMBER_WORDS: dict[str, int] = _WORDS["number_words"]
"""Words that state how many instances follow ("a pair of", "a couple of", "a few" included)."""

DETERMINERS: set[str] = set(_WORDS["determiners"])

SIZE_WORDS: dict[str, float] = _WORDS["size_words"]
"""Size adjectives and the factor they apply to an object's usual size."""

OBJECT_SHAPES: dict[str, Shape] = {
    word: Shape(entry["aspect"], entry["height"], entry["zone"])
    for entry in _WORDS["shapes"]
    for word in entry["words"]
}
"""Singular head noun -> usual shape."""

PEOPLE: set[str] = {
    word for entry in _WORDS["shapes"] if entry.get("kind") == "person" for word in entry["words"]
}
"""Nouns of people (the shapes marked ``kind = "person"``): what "him" and "her" name."""

DEFAULT_SHAPE = Shape(1.0, 0.3, "any")
"""Shape of a noun the lexicon does not know."""

COMPOUND_HEADS: dict[str, str] = _WORDS["compound_heads"]
"""Multi-word nouns whose last word alone would mislead (or that should count as one noun)."""

SUPPORTS: set[str] = set(_WORDS["supports"])
"""Objects that other objects sit on ("a cat on a sofa"): boxes may overlap them."""

SCENES: set[str] = set(_WORDS["scenes"])
"""Nouns that name a setting rather than an object: they go to the background prompt, not to regions."""

BACKDROPS: set[str] = set(_WORDS["backdrops"])
"""Things that are the setting where something is on, in or at them ("a clock on the wall", "a room with
white walls"), and an object otherwise ("a bench in front of a brick wall", "a brick wall with a bench")."""

GROUND_SURFACES: set[str] = set(_WORDS["ground_surfaces"])
"""Objects that become the setting when something stands "on" them ("an astronaut on the moon")."""

PLURAL_NAMES: set[str] = set(_WORDS["plural_names"])
"""Plural words that name one thing ("northern lights above"): one region, no article invented."""

RIDDEN: dict[str, tuple[float, float]] = {w: tuple(v) for w, v in _WORDS["ridden"].items()}
"""Mounts: (rider height / mount height, share of the mount's height the rider's box sinks into)."""

NON_OBJECTS: set[str] = set(_WORDS["non_objects"])
"""Nouns that never become a region on their own."""

WEARABLES: set[str] = set(_WORDS["wearables"])
"""Things that come "with" a subject ("a man with a hat") and stay part of its region."""

IRREGULAR_PLURALS: dict[str, str] = _WORDS["irregular_plurals"]

UNCOUNTABLE_S: set[str] = set(_WORDS["uncountable_s"])
"""Nouns that end in s but are singular."""

ING_NOUNS: set[str] = set(_WORDS["ing_nouns"])
"""Words ending in -ing that are nouns, not participles."""

VERB_STOPS: set[str] = set(_WORDS["verb_stops"])
"""Words that end a noun phrase."""

MASS_NOUNS: set[str] = set(_WORDS["mass_nouns"])
"""Uncountable nouns: without a count or article they describe a neighbour instead of getting a region."""

SPANS: dict[str, str] = _WORDS["spans"]
"""Things a person draws across most of the canvas width, in the band named (northern lights, a skyline)."""

SPAN_WIDTH = 0.9
"""Share of the canvas width a lone spanning object covers."""

HELD_ALOFT: set[str] = set(_WORDS["held_aloft"])
"""Held objects raised above the hand ("a woman holding an umbrella"); others hang at hand height."""

BODY_PARTS: set[str] = set(_WORDS["body_parts"])
"""Parts named with a possessive ("on a horse's back"): the relation goes to the owner."""

PART_OF: dict[str, set[str]] = {w: set(v) for w, v in _WORDS["part_of"].items()}
"""Parts of a larger thing: "the buildings" after "a city skyline" name the skyline, not new objects."""

TABLETOPS: set[str] = set(_WORDS["tabletops"])
"""Furniture tops: what stands on one is drawn at most ``TABLETOP_LOAD`` times its height (a table lamp)."""

TABLETOP_LOAD = 1.2

INFINITIVE_HEADS: set[str] = set(_WORDS["infinitive_heads"])
"""Words after which "to" opens an infinitive whatever follows ("ready to bat", "about to kick")."""

DEGREE_ADVERBS: set[str] = set(_WORDS["degree_adverbs"])
"""Adverbs that may come with an adjective after a copula ("the vase is very tall")."""

LEADING_PARTICLES: set[str] = set(_WORDS["leading_particles"])

TRAILING_ADVERBS: set[str] = set(_WORDS["trailing_adverbs"])

VERB_RELATIONS: dict[str, str] = _WORDS["verb_relations"]
"""Participles that take an object ("a man riding a horse"): the relation they put between the two."""

VERB_FORMS: dict[str, str] = _WORDS["verb_forms"]
"""Present-tense verbs read like their participles ("a woman walks her dog")."""

COLLECTIVES: set[str] = set(_WORDS["collectives"])

CONTAINERS: set[str] = set(_WORDS["containers"])

SEATED: set[str] = set(_WORDS["seated"])
"""Supports that objects sink into ("a cat on a sofa"): deeper overlap than a table top."""
