"""Split a caption's text into items: noun phrases between markers (positions, relations, verbs,
separators), as ``("np", text)``, ``("pos", "left")``, ``("rel", "front")``, ``("verb", "riding")``,
``("sep", ",")``."""

from __future__ import annotations

import re

from planner.lexicon import (
    DETERMINERS,
    INFINITIVE_HEADS,
    ING_NOUNS,
    NUMBER_WORDS,
    OBJECT_SHAPES,
    SCENES,
    VERB_FORMS,
    VERB_RELATIONS,
)
from planner.noun_phrase import singular
from planner.pos import (
    base_verb,
    can_be_verb,
    finite_verb,
    participle,
    past_verb,
)

RELATION_PATTERNS: list[tuple[str, str]] = [
    (r"(?:on|to|at) the (?:far )?left(?: side| hand side)? of", "left"),
    (r"(?:on|to|at) the (?:far )?right(?: side| hand side)? of", "right"),
    (r"left of", "left"),
    (r"right of", "right"),
    (r"(?:on|at) the (?:very )?(?:bottom|underside) of", "below"),
    (r"(?:on|at) the (?:very )?top of", "above"),
    (r"in the (?:middle|center|centre|heart) of", "in"),
    (r"on the side of", "on"),  # "a clock on the side of a building": on its face, and goes where it goes
    (r"(?:at|on) (?:the )?side of|around|surrounding|past|along", "next"),
    (r"on top of|atop", "on"),
    (r"resting on|sitting on|standing on|lying on|perched on|placed on", "on"),
    (r"in front of|before|ahead of", "front"),
    (r"in back of|at the (?:back|rear) of|behind|beyond", "behind"),
    (r"above|over|higher than|flying over|hovering over", "above"),
    (r"below|beneath|underneath|under|lower than", "below"),
    (
        r"next to|beside|besides|alongside|near|close to|by|together with|outside(?: of)?|across from|"
        r"opposite(?: to)?|against|from|to|toward|towards",
        "next",
    ),
    (r"between|in between", "between"),
    (r"inside|in|within|into|out of|through|down|across", "in"),
    (r"on|upon", "on"),
    (r"at", "at"),
    (r"with|and its|and their|having", "with"),
]
"""Relation phrases, longest first within a meaning; the subject is the noun phrase before, the target after."""

POSITION_PATTERN = re.compile(
    r"\b(?:on|at|in|to|towards|toward) the (?:(far|upper|lower|top|bottom) )?(?:(left|right|top|bottom|center|"
    r"centre|middle|foreground|background|distance|front|back|sky)(?:[ -]hand)?)(?: (?:side|corner|edge|half|"
    r"part|third|area))?(?: of (?:the )?(?:image|picture|photo|frame|canvas|scene|composition))?(?! of)\b"
)
"""Absolute positions ("on the left", "in the top right corner", "in the background")."""

POSITION_NAMES = {
    "centre": "center",
    "middle": "center",
    "distance": "background",
    "back": "background",
    "front": "foreground",
}
"""Other words for a position in ``POSITION_PATTERN``: "the middle" is the center, "the back" the
background."""

DANGLING_POSITION = re.compile(r"\b(above|overhead|up high|below|beneath|underneath)(?=\s*(?:[,.;]|$))")
"""A relation word with no object after it ("northern lights above"): high up or low down ("overhead",
"underfoot"), the top or bottom band, though as advice: above what, it does not say."""


HOLD_VERBS = tuple(verb for verb, meaning in VERB_RELATIONS.items() if meaning == "hold")
"""Participles that put an object in the subject's hand; they take bare nouns too ("man holding umbrella")."""


Marker = tuple[int, int, str, str]
"""(start, end, kind, value) of a marker found in the text: a position, relation, verb or separator."""


def tokenise(text: str) -> list[tuple[str, str]]:
    """Split text into ("np", text), ("rel", kind), ("pos", name), ("verb", verb), ("sep", ",") items.

    Markers are found in order of precedence: positions, then relations, then verbs, each only where no
    earlier marker is; then separators outside them. The text between markers is read as noun phrases."""
    markers = _position_markers(text)
    markers += _relation_markers(text, markers)
    markers += _verb_markers(text, markers)
    markers += _separator_markers(text, markers)
    return _items(text, markers)


def _position_markers(text: str) -> list[Marker]:
    """Absolute positions ("on the left", "in the top right corner": "right", and "top" too), and relation
    words with nothing after them ("northern lights above": top)."""
    markers: list[Marker] = []
    for match in POSITION_PATTERN.finditer(text):
        if re.match(r"\s*(?:(?:side|hand side|corner|edge|half|part)\s+)?of\b", text[match.end() :]):
            continue  # "on the left side of X" is a relation, not a position
        qualifier, where = match.group(1), match.group(2)
        markers.append((match.start(), match.end(), "pos", POSITION_NAMES.get(where, where)))
        if qualifier in {"top", "upper", "bottom", "lower"}:
            markers.append(
                (match.start(), match.start(), "pos", "top" if qualifier in {"top", "upper"} else "bottom")
            )
    for match in DANGLING_POSITION.finditer(text):
        where = "underfoot" if match.group(1) in {"below", "beneath", "underneath"} else "overhead"
        markers.append((match.start(), match.end(), "pos", where))
    return markers


def _relation_markers(text: str, markers: list[Marker]) -> list[Marker]:
    """Relation phrases ("to the left of", "on top of") clear of ``markers`` and of each other, earlier
    patterns of ``RELATION_PATTERNS`` first."""
    found: list[Marker] = []
    for pattern, kind in RELATION_PATTERNS:
        for match in re.finditer(rf"\b(?:{pattern})\b", text):
            start, end = match.span()
            if _no_place(text, start, end):
                continue
            if not any(s < end and start < e or s == e == start for s, e, _, _ in [*markers, *found]):
                found.append((start, end, "rel", kind))
    return found


MANNER_PHRASE = re.compile(r"in (?:half|halves|pieces|quarters|thirds)\b")
"""Phrases of manner that read like a place ("cut in half", "broken in pieces")."""


def _no_place(text: str, start: int, end: int) -> bool:
    """Whether the relation word ``text[start:end]`` names no place here: it opens a manner phrase ("a cut in
    half burrito") or is an infinitive's "to" ("a batter ready to swing", "kneels down to pet a dog", "ready
    to bat", though a bat is an object)."""
    if MANNER_PHRASE.match(text, start):
        return True
    if text[start:end] != "to":
        return False
    before = text[:start].split()
    return _infinitive(text[end:]) or bool(before) and before[-1] in INFINITIVE_HEADS


def _infinitive(rest: str) -> bool:
    """Whether ``rest``, the text after a "to", starts with a verb's base form that names no known object or
    place ("to swing", "to pet"; not "to bed", "to school", "to the park")."""
    first = re.match(r"\s+([a-z]+)\b", rest)
    if not first:
        return False
    word = first.group(1)
    known_noun = singular(word) in OBJECT_SHAPES or singular(word) in SCENES
    return base_verb(word) and not known_noun and word not in DETERMINERS and word not in NUMBER_WORDS


def _verb_markers(text: str, markers: list[Marker]) -> list[Marker]:
    """Verbs before their object ("riding a horse", "holding umbrella", "washing two cars"), in their base
    form, where no marker starts; nouns in -ing ("a building") are not verbs."""
    verbs = "|".join(VERB_FORMS)
    holds = "|".join(HOLD_VERBS)
    counts = "|".join(word for word in NUMBER_WORDS if word.isalpha())
    found: list[Marker] = []
    for match in re.finditer(
        rf"\b([a-z]{{3,}}ing|{verbs})\b(?=\s+(?:a|an|the|his|her|their|its|\d+|{counts}|[a-z]+s)\b)"
        rf"|\b({holds})\b(?=\s+[a-z])",
        text,
    ):
        written = match.group(1) or match.group(2)
        verb = VERB_FORMS.get(written, written)
        if verb in ING_NOUNS or any(s <= match.start() < e for s, e, _, _ in [*markers, *found]):
            continue
        found.append((match.start(), match.end(), "verb", verb))
    return found + _finite_verb_markers(text, [*markers, *found])


OBJECT_START = re.compile(
    r"(?:a|an|the|his|her|their|its|\d+|one|two|three|four|five|six|seven|eight|some)\b"
)
"""Words that start a verb's object ("a", "the", "two")."""


def _finite_verb_markers(text: str, markers: list[Marker]) -> list[Marker]:
    """Finite verbs before their object ("a child watch a train", "the table has a bowl", "to pet two dogs"),
    where no marker is: a word that can be a verb, right after a noun (or an infinitive's "to"), before an
    article or a number. Named by their participle ("watching")."""
    words = list(re.finditer(r"[a-z][a-z'-]*", text))
    found: list[Marker] = []
    for before, word, after in zip(words, words[1:], words[2:], strict=False):
        written, previous = word.group(0), before.group(0)
        if not OBJECT_START.fullmatch(after.group(0)) or any(s <= word.start() < e for s, e, _, _ in markers):
            continue
        if re.search(r"[,.;:]", text[word.end() : after.start()]):
            continue  # "two computer monitors, two mice": a list, not "monitors" taking an object
        after_noun = previous not in DETERMINERS and (
            singular(previous) in OBJECT_SHAPES or singular(previous) in SCENES or previous == "people"
        )
        if (finite_verb(written) or past_verb(written) or can_be_verb(written)) and (
            after_noun or previous == "to"
        ):
            start = before.start() if _bare_infinitive_to(before, markers) else word.start()
            found.append((start, word.end(), "verb", VERB_FORMS.get(written, participle(written))))
    return found


def _bare_infinitive_to(word: re.Match[str], markers: list[Marker]) -> bool:
    """Whether ``word`` is a "to" that no marker holds: an infinitive's, which its verb's marker takes in ("to
    pet two dogs" reads as the verb "petting")."""
    return word.group(0) == "to" and not any(s <= word.start() < e for s, e, _, _ in markers)


def _separator_markers(text: str, markers: list[Marker]) -> list[Marker]:
    """Punctuation and joining words ("and", "while", "then") outside ``markers``; not inside
    "black-and-white"."""
    return [
        (match.start(), match.end(), "sep", match.group(0))
        for match in re.finditer(r"[,.;:]|(?<!-)\b(?:and|while|whereas|plus|then)\b(?!-)", text)
        if not any(s <= match.start() < e for s, e, _, _ in markers)
    ]


def _items(text: str, markers: list[Marker]) -> list[tuple[str, str]]:
    """The markers in text order as (kind, value) items, the text between them as ("np", text) items."""
    items: list[tuple[str, str]] = []
    cursor = 0
    for start, end, kind, value in sorted(markers, key=lambda m: (m[0], m[1])):
        if text[cursor:start].strip():
            items.append(("np", text[cursor:start]))
        items.append((kind, value))
        cursor = max(cursor, end)
    if text[cursor:].strip():
        items.append(("np", text[cursor:]))
    return items
