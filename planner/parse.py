"""Read a free-text prompt into a ``Scene``: objects with counts and attributes, relations, exclusions, setting.

Rule-based and deterministic. The prompt is lower-cased, negations ("without birds") are cut out, relation
and position phrases ("to the left of", "on the right") become markers, and the text between markers is read
as noun phrases "[count] [attributes] noun [participle ...]".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from planner.lexicon import (
    BODY_PARTS,
    COLLECTIVES,
    COMPOUND_HEADS,
    CONTAINERS,
    DEFAULT_SHAPE,
    DETERMINERS,
    GROUND_SURFACES,
    ING_NOUNS,
    IRREGULAR_PLURALS,
    LEADING_PARTICLES,
    MASS_NOUNS,
    NON_OBJECTS,
    NUMBER_WORDS,
    OBJECT_SHAPES,
    PART_OF,
    PLURAL_NAMES,
    SCENES,
    SIZE_WORDS,
    TRAILING_ADVERBS,
    UNCOUNTABLE_S,
    VERB_FORMS,
    VERB_RELATIONS,
    VERB_STOPS,
    WEARABLES,
)
from planner.pos import (
    can_be_noun,
    can_be_verb,
    clearly_noun,
    finite_verb,
    only_adjective,
    participle,
    past_verb,
)

MAX_INSTANCES = 12
"""Most instances one noun phrase may expand to ("a dozen eggs" stays at 12)."""

RELATION_PATTERNS: list[tuple[str, str]] = [
    (r"(?:on|to|at) the (?:far )?left(?: side| hand side)? of", "left"),
    (r"(?:on|to|at) the (?:far )?right(?: side| hand side)? of", "right"),
    (r"left of", "left"),
    (r"right of", "right"),
    (r"(?:on|at) the (?:very )?(?:bottom|underside) of", "below"),
    (r"(?:on|at) the (?:very )?top of", "above"),
    (r"in the (?:middle|center|centre|heart) of", "in"),
    (r"on (?:the )?side of|around|surrounding|past|along", "next"),
    (r"on top of|atop", "on"),
    (r"resting on|sitting on|standing on|lying on|perched on|placed on", "on"),
    (r"in front of|before", "front"),
    (r"in back of|behind", "behind"),
    (r"above|over|higher than|flying over|hovering over", "above"),
    (r"below|beneath|underneath|under|lower than", "below"),
    (
        r"next to|beside|besides|alongside|near|close to|by|together with|outside(?: of)?|from|to|toward|towards",
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
"""A relation word with no object after it ("northern lights above"): an absolute position, top or bottom."""

FREE_OF_PATTERN = re.compile(r"\b([a-z]+)-free\b")
"""Exclusion written as an adjective ("a smoke-free kitchen", "cloud-free sky")."""

NEGATION_PATTERN = re.compile(
    r"(?:^|\s|,)(?:without|with no|with not|but no|and no|no|not|excluding|except(?: for)?|minus|free of)\s+"
    r"(?:any\s+)?([a-z][a-z\s'-]*?)(?=\s*(?:[,.;]|$|\s(?:with|but|on|in|at|under|near|next|behind|above|"
    r"below|to|while)\b))"
)
"""Negation with the excluded noun phrases after it, up to punctuation or a preposition."""

FILLER = re.compile(
    r"^(?:(?:there (?:is|are)|here (?:is|are)|i see|we see|shows?|showing|featuring|depicting|with)\s+)+"
)
STYLE_OF = re.compile(
    r"^(?:(?:a|an|the)\s+)?(?:[a-z-]+\s+){0,4}(?:photo(?:graph)?|picture|image|painting|illustration|drawing|"
    r"render(?:ing)?|sketch|shot|close[- ]?up|view|scene|panorama|portrait|artwork|poster|cartoon|snapshot)\s+of\s+"
)
_NUMBER_RE = re.compile(r"^\d{1,2}$")
HOLD_VERBS = tuple(verb for verb, meaning in VERB_RELATIONS.items() if meaning == "hold")
"""Participles that put an object in the subject's hand; they take bare nouns too ("man holding umbrella")."""
POSSESSIVE_PART = re.compile(rf"\b([a-z]+)'s (?:{'|'.join(sorted(BODY_PARTS))})\b")
"""A part named by its owner ("a horse's back"): the owner is the object."""
LOCATING = {"on", "in", "next", "front", "behind", "left", "right", "above", "below", "at"}
"""Relations that locate a whole phrase: after "a cake with candles", "on a table" places the cake."""


@dataclass
class NounPhrase:
    """One noun phrase of the prompt, possibly standing for several instances ("three red cups")."""

    text: str
    head: str
    count: int
    counted: bool
    phrase: str
    prompt: str
    size: float = 1.0
    scene: bool = False
    mass: bool = False
    positions: set[str] = field(default_factory=set)
    loose_positions: set[str] = field(default_factory=set)
    """Positions stated before the phrase ("at the bottom, a house") or implied by a place ("in the sky"):
    weaker than a side stated right after the phrase."""
    numbered: bool = False
    """The count was stated with a number ("three", "3", "a pair of"), not only with an article."""

    tidy: bool = True
    """The words before the head read as modifiers only: no article, plural noun or finite verb among them
    ("two people ride matching horses" is not tidy: it is a clause the parse could not split)."""

    @property
    def sure(self) -> bool:
        """Whether this is surely one object noun phrase: tidy, headed by a known object or a word that can
        only be a noun."""
        return (
            self.tidy
            and not (self.scene or self.mass)
            and (self.head in OBJECT_SHAPES or all(clearly_noun(word) for word in self.head.split()[-1:]))
        )


@dataclass
class Relation:
    """``subject`` stands in ``kind`` relation to ``target`` (indices into ``Scene.objects``)."""

    subject: int
    kind: str
    target: int
    target2: int | None = None
    explicit: bool = False
    """Stated by a spatial preposition right after its subject ("a cat to the left of a dog"), not read from
    a verb, a "with" or a chain of relations ("a cat on a mat left of a dog": is it the cat or the mat?)."""


@dataclass
class Scene:
    """Everything the offline planner read from a prompt."""

    prompt: str
    base_prompt: str
    objects: list[NounPhrase]
    relations: list[Relation]
    negatives: list[str]
    negative_heads: set[str]
    settings: list[str]
    context: list[str] = field(default_factory=list)
    """Medium, style, light and weather that every region shares (``scene_context``)."""


def singular(word: str) -> str:
    """Singular form of an English noun (rule-based; irregulars from the lexicon)."""
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word]
    if word in UNCOUNTABLE_S or word in OBJECT_SHAPES or len(word) <= 3 or not word.endswith("s"):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ves") and word[:-3] + "f" in OBJECT_SHAPES:
        return word[:-3] + "f"
    if word.endswith("ves") and word[:-3] + "fe" in OBJECT_SHAPES:
        return word[:-3] + "fe"
    if re.search(r"(?:ss|sh|ch|x|z|o)es$", word) and word[:-2] in {*OBJECT_SHAPES, "potato", "tomato"}:
        return word[:-2]
    if re.search(r"(?:sh|ch|x|ss)es$", word):
        return word[:-2]
    if word.endswith("is") and word[:-1] in OBJECT_SHAPES:
        return word[:-1]  # "skis", "kiwis"
    if word.endswith("ss") or word.endswith("us") or word.endswith("is"):
        return word
    return word[:-1]


def is_plural(word: str) -> bool:
    return singular(word) != word or word in {"sheep", "fish", "deer", "people"}


def article_for(words: str) -> str:
    return "an" if re.match(r"[aeio]|u(?!ni|se|sa|ku)|hour|honest", words) else "a"


def _cut_predicate(words: list[str]) -> tuple[list[str], list[str]]:
    """Split "a cat sitting quietly" into (["a", "cat"], ["sitting", "quietly"]), "a girl kneels" into
    (["a", "girl"], ["kneels"])."""
    for index, word in enumerate(words):
        if index == 0 or word == "of" and singular(words[index - 1]) in COLLECTIVES | CONTAINERS | {"full"}:
            continue
        if word == "set" and index + 1 < len(words) and words[index + 1] == "of":
            continue
        previous = words[index - 1]
        if word in VERB_STOPS and not _modifies_noun(words, index):
            return words[:index], words[index:]
        after_noun = previous in OBJECT_SHAPES or singular(previous) in OBJECT_SHAPES
        if word.endswith("ed") and len(word) > 3 and after_noun and not _modifies_noun(words, index):
            return words[:index], words[index:]  # "balloons tied", "a cat curled up"
        if _finite_after_noun(words, index):
            return words[:index], words[index:]  # "a girl kneels", "three people ride", "a cat sat"
        if (
            word.endswith("ing")
            and word not in ING_NOUNS
            and len(word) > 4
            and (index + 1 == len(words) or after_noun)
        ):
            return words[:index], words[index:]  # "a cat sleeping"; "a sleeping cat" keeps it
    return words, []


def _modifies_noun(words: list[str], index: int) -> bool:
    """Whether ``words[index]``, a verb form, modifies the noun after it rather than starting a predicate:
    after a count or article ("two parked cars", "a jump rope"), or a participle in the middle of a compound
    adjective before the last word, a known object ("a leaf filled tree", "an orange potted plant")."""
    if index + 1 >= len(words):
        return False
    previous = words[index - 1]
    if previous in NUMBER_WORDS or previous in DETERMINERS or previous in DEFINITE_DETERMINERS:
        return True
    return words[index].endswith("ed") and index + 2 == len(words) and singular(words[-1]) in OBJECT_SHAPES


def _finite_after_noun(words: list[str], index: int) -> bool:
    """Whether ``words[index]`` is the finite verb of the noun before it: a word that is only a verb ("kneels",
    "sat"), or one that may be a noun too after a plural noun, at the end or before an article ("three
    people ride", "dogs watch a train")."""
    word, previous = words[index], words[index - 1]
    if not can_be_noun(previous) or previous in NUMBER_WORDS or previous in DETERMINERS:
        return False
    if finite_verb(word) or past_verb(word):
        return True
    plural_noun = is_plural(previous) and (singular(previous) in OBJECT_SHAPES or previous == "people")
    at_end = index + 1 == len(words) or words[index + 1] in DETERMINERS | NUMBER_WORDS.keys()
    return plural_noun and at_end and can_be_verb(word) and not is_plural(word)


PRONOUNS = {"it", "them", "they", "each", "other", "another", "itself"}
"""Words that open a phrase naming nothing new: no noun phrase is read from it."""

DEFINITE_DETERMINERS = {"the", "this", "that", "these", "those", "his", "her", "their", "its", "my", "our"}
"""Determiners that point at one particular object: a single object's phrase keeps its own ("the cat")."""

VAGUE_COUNTS = {"some", "many", "several", "few", "multiple"}
"""Number words that give a rough count, not a stated one."""


class _Quantity(NamedTuple):
    """The count words at the start of a noun phrase ("the two", "a pair of", "12")."""

    count: int
    counted: bool
    """The number was stated ("three", "a pair of"), not rough ("several") or absent."""
    determiner: str | None
    start: int
    """Index of the first word after the count words."""


def read_noun_phrase(text: str) -> NounPhrase | None:
    """Read one noun phrase, or None when the text names no object or setting."""
    # 1. Words: framing and filler cut off, the predicate ("sitting quietly") set apart.
    text, words, predicate = _phrase_words(text)
    if not words or words[0] in PRONOUNS:
        return None
    # 2. Count and determiner: "three", "a pair of", "a group of", "12", "the two".
    quantity = _read_quantity(words)
    body = words[quantity.start :]
    if not body:
        return None
    # 3. "a plate of cookies": the container is the object, the rest describes it.
    body, of_tail = _split_container(body)
    # 4. Head noun, possibly a compound ("teddy bear", "fire hydrant"), and what kind of thing it names.
    key, noun_words = _head_noun(body)
    attributes = body[: len(body) - len(noun_words)]
    head = singular(body[-1])
    kind = _kind_of(head, key, quantity, words[0])
    if kind is None:
        return None
    if kind != "object":
        setting = " ".join(words)
        return NounPhrase(
            setting, head, 1, False, setting, setting, scene=kind == "scene", mass=kind == "mass"
        )
    # 5. How many instances.
    plural = _written_plural(noun_words, words[0], quantity.count)
    count, counted = _instance_count(quantity, plural, key)
    # 6. The per-instance phrase keeps the prompt's article and attributes.
    core = " ".join([*attributes, *(_singular_noun(noun_words) if count > 1 or plural else noun_words)])
    article = _article(core, words[0], quantity, count, plural)
    phrase = " ".join(w for w in [article, core, *of_tail] if w).replace("-and-", " and ")
    return NounPhrase(
        text=text,
        head=key,
        count=count,
        counted=counted,
        phrase=phrase,
        prompt=" ".join([phrase, *predicate]).strip(),
        size=_size_of(attributes),
        numbered=quantity.counted and quantity.count > 1,  # "one dog" often means one of those named before
        tidy=not any(_untidy(word) for word in attributes),
    )


PARTITIVE = re.compile(r"^(one|two|three|four|five|six) of (?:the|these|those|his|her|their|its) ")
""""one of the children": one child, of a group named before (``_CaptionReader._index_of``)."""


def _phrase_words(text: str) -> tuple[str, list[str], list[str]]:
    """(text, words, predicate) of a noun phrase: framing ("a photo of") and filler ("there is") cut off, the
    predicate set apart, leading particles and trailing adverbs dropped from the words."""
    text = STYLE_OF.sub("", FILLER.sub("", text.strip(" ,.;:'\""))).strip()
    text = PARTITIVE.sub(r"\1 ", text)
    words, predicate = _cut_predicate(re.findall(r"[a-z0-9][a-z0-9'-]*", text))
    while words and words[0] in LEADING_PARTICLES:
        words = words[1:]
    while len(words) > 1 and words[-1] in TRAILING_ADVERBS:
        words = words[:-1]
    return text, words, predicate


def _read_quantity(words: list[str]) -> _Quantity:
    """The count words at the start of ``words``; a number that is the last word is left to be the noun."""
    count, counted, start = 1, False, 0
    determiner = None
    while start < len(words):
        word = words[start]
        if word in DEFINITE_DETERMINERS:
            determiner = determiner or word
        elif word in NUMBER_WORDS and start + 1 < len(words):
            if word in {"a", "an"}:
                determiner = determiner or word
            else:
                count, counted = NUMBER_WORDS[word], word not in VAGUE_COUNTS
        elif _NUMBER_RE.match(word) and start + 1 < len(words):
            count, counted = int(word), True
        elif word == "of" or word in COLLECTIVES and start + 1 < len(words) and words[start + 1] == "of":
            if word in {"pair", "couple"}:
                count, counted = 2, True
            elif word in COLLECTIVES and not counted:
                count = 3  # "a group of"
        else:
            break
        start += 1
    return _Quantity(count, counted, determiner, start)


def _split_container(body: list[str]) -> tuple[list[str], list[str]]:
    """(container words, "of ..." tail) for "a plate of cookies" and "a vase full of flowers"; (body, []) when
    no container leads."""
    if "of" in body:
        of_at = body.index("of")
        if of_at > 0 and singular(body[of_at - 1]) in CONTAINERS:
            return body[:of_at], body[of_at:]
        if of_at > 1 and body[of_at - 1] == "full" and singular(body[of_at - 2]) in OBJECT_SHAPES:
            return body[: of_at - 1], body[of_at - 1 :]
    return body, []


def _head_noun(body: list[str]) -> tuple[str, list[str]]:
    """(lexicon key, the noun's words) of the phrase's head: the last word, or a compound of the last two."""
    head_word = body[-1]
    last_two = " ".join(body[-2:])
    singular_last_two = " ".join([*body[-2:-1], singular(head_word)])
    if singular_last_two in COMPOUND_HEADS:
        return COMPOUND_HEADS[singular_last_two], body[-2:]
    if last_two in COMPOUND_HEADS:
        return COMPOUND_HEADS[last_two], body[-2:]
    return singular(head_word), body[-1:]


def _kind_of(head: str, key: str, quantity: _Quantity, first_word: str) -> str | None:
    """What the phrase names: "object"; "scene" (a setting); "mass" (uncounted stuff such as "rice", which
    describes an object rather than getting a box); None for a word that names nothing to draw."""
    if key not in OBJECT_SHAPES and head in SCENES:
        return "scene"
    if key not in OBJECT_SHAPES and head in NON_OBJECTS:
        return None
    if (
        head in MASS_NOUNS
        and key not in OBJECT_SHAPES
        and not quantity.counted
        and quantity.count == 1
        and not quantity.determiner
        and first_word not in NUMBER_WORDS
    ):
        return "mass"
    if not re.match(r"[a-z]", head) or head in DETERMINERS or head in NUMBER_WORDS:
        return None
    return "object"


def _written_plural(noun_words: list[str], first_word: str, count: int) -> bool:
    """Whether the noun is written as a plural of several things: not "news", "northern lights", "a sheep"."""
    head_word = noun_words[-1]
    return (
        is_plural(head_word)
        and head_word not in UNCOUNTABLE_S
        and " ".join(noun_words) not in PLURAL_NAMES
        and not (first_word in {"a", "an", "this", "that"} and count == 1)
    )


def _instance_count(quantity: _Quantity, plural: bool, key: str) -> tuple[int, bool]:
    """(instances, whether that number is certain): a bare plural stands for two, or three of a small thing;
    a singular for exactly one; never more than ``MAX_INSTANCES``."""
    count, counted = quantity.count, quantity.counted
    if plural and not counted and count == 1:
        count = 3 if OBJECT_SHAPES.get(key, DEFAULT_SHAPE).height <= 0.2 else 2
    elif not plural and count == 1:
        counted = True  # "a cat", "the cat": exactly one
    return max(1, min(count, MAX_INSTANCES)), counted


def _singular_noun(noun_words: list[str]) -> list[str]:
    """The noun's words with the last one in the singular ("teddy bears" -> "teddy bear")."""
    return [*noun_words[:-1], singular(noun_words[-1])]


def _article(core: str, first_word: str, quantity: _Quantity, count: int, plural: bool) -> str:
    """The article of one instance's phrase: the prompt's own for a single object, none when the prompt gave
    none ("earth", "snow white"), else "a" or "an"."""
    if count == 1 and quantity.determiner and not plural:
        return quantity.determiner
    if count == 1 and first_word in {"a", "an", "one"}:
        return first_word if first_word != "one" else article_for(core)
    if count == 1 and not plural and quantity.start == 0:
        return ""
    return article_for(core)


def _size_of(attributes: list[str]) -> float:
    """The size factor of the phrase's size words ("tiny", "huge"), 1 without any."""
    size = 1.0
    for attribute in attributes:
        size *= SIZE_WORDS.get(attribute, 1.0)
    return size


def _untidy(word: str) -> bool:
    """A word that cannot modify a noun inside its phrase: an article, a plural noun, a finite verb."""
    if word in DETERMINERS or word in {"these", "those", "each", "other"}:
        return True
    if is_plural(word) and can_be_noun(word) and not only_adjective(word):
        return True
    return finite_verb(word)


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


Marker = tuple[int, int, str, str]
"""(start, end, kind, value) of a marker found in the text: a position, relation, verb or separator."""


def _tokenise(text: str) -> list[tuple[str, str]]:
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
        where = "bottom" if match.group(1) in {"below", "beneath", "underneath"} else "top"
        markers.append((match.start(), match.end(), "pos", where))
    return markers


def _relation_markers(text: str, markers: list[Marker]) -> list[Marker]:
    """Relation phrases ("to the left of", "on top of") clear of ``markers`` and of each other, earlier
    patterns of ``RELATION_PATTERNS`` first."""
    found: list[Marker] = []
    for pattern, kind in RELATION_PATTERNS:
        for match in re.finditer(rf"\b(?:{pattern})\b", text):
            start, end = match.span()
            if not any(s < end and start < e or s == e == start for s, e, _, _ in [*markers, *found]):
                found.append((start, end, "rel", kind))
    return found


def _verb_markers(text: str, markers: list[Marker]) -> list[Marker]:
    """Verbs before their object ("riding a horse", "holding umbrella"), in their base form, where no marker
    starts; nouns in -ing ("a building") are not verbs."""
    verbs = "|".join(VERB_FORMS)
    holds = "|".join(HOLD_VERBS)
    found: list[Marker] = []
    for match in re.finditer(
        rf"\b([a-z]{{3,}}ing|{verbs})\b(?=\s+(?:a|an|the|his|her|their|its|\d+|[a-z]+s)\b)"
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
        after_noun = previous not in DETERMINERS and (
            singular(previous) in OBJECT_SHAPES or singular(previous) in SCENES or previous == "people"
        )
        if (finite_verb(written) or past_verb(written) or can_be_verb(written)) and (
            after_noun or previous == "to"
        ):
            found.append((word.start(), word.end(), "verb", VERB_FORMS.get(written, participle(written))))
    return found


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


STYLE_TAG = re.compile(
    r"\b(?:\d+k|hd|uhd|hdr|detailed|realistic|photorealistic|hyperrealistic|lighting|trending|artstation|"
    r"octane|unreal|cinematic|masterpiece|quality|bokeh|render|rendered|style|illustration|digital art|"
    r"concept art|sharp focus|award[- ]winning|studio|depth of field|dslr|aesthetic|vibrant colors)\b"
)
STYLE_SUFFIX = re.compile(
    r",?\s*\b(?:in the style of|in a style of|by an artist|painted by|drawn by)\b[^,.;]*"
)


CLAUSE_GLUE = re.compile(r"\b(?:(?:that|who|which) (?:is|are)|is|are)\s+(?=[a-z]+ing\b)")
"""Relative clauses and copulas before a participle: "a dog that is looking up" reads "a dog looking up"."""

PART_OF_THING = re.compile(
    r"\bthe (?:arm|armrest|edge|back|seat|hood|roof|tip|end|rim|handle|steps) of (?=(?:a|an|the|his|her|its|their)\s)"
)
"""A part of an object as the place ("on the arm of a couch"): the object is what gets a box."""

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
    items = _tokenise(_object_text(remaining))
    # 3. Read the items left to right into objects, relations and settings.
    reader = _CaptionReader(items)
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
    """The text the reader reads: without style words, light and weather (they are the scene's context) and
    relative-clause glue ("that is"); "a grey and white cat" as one phrase, the owner of "a horse's back" and
    the whole of "the arm of a couch" as the objects."""
    readable = COORDINATED_COLOURS.sub(r"\1-and-", CLAUSE_GLUE.sub("", _content(text)))
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


@dataclass
class _CaptionReader:
    """Reads a prompt's items (``_tokenise``) left to right into objects, relations and settings.

    Subjects are the noun phrases a relation starts from; a relation word waits (``pending``) until the noun
    phrase that is its target, which then becomes the subject of what follows ("a cat on a mat left of a
    dog": the mat is left of the dog)."""

    items: list[tuple[str, str]]
    objects: list[NounPhrase] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)
    group: list[int] = field(default_factory=list)
    """The current subjects: noun phrases since the last relation, joined by "and"."""
    group_is_target: bool = False
    """The subjects are the last relation's target ("a cat on a mat left of ...")."""
    pending: str | None = None
    """A relation waiting for its target: a relation kind, "verb:<verb>", or "with_scene" (a "with" whose
    object was a setting: it relates nothing, but still waits until the next object)."""
    pending_positions: set[str] = field(default_factory=set)
    """Positions stated before the noun phrase they belong to ("at the bottom, a house")."""
    between_targets: list[int] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    """"a cake with candles": the cake, which a later "on a table" places."""
    list_owners: list[int] = field(default_factory=list)
    """"a desk with a monitor, a keyboard and a mug": the desk, for the whole list."""
    last_was_np: bool = False
    """The previous item was a noun phrase (or a setting)."""
    at: int = -1
    """Index in ``items`` of the item being read."""
    placed: bool = False
    """The subjects were just placed by a relation or a position, so a noun phrase after "and" starts a new
    group ("a lamp on a nightstand and a painting")."""

    def read(self, kind: str, value: str) -> None:
        """Read one item."""
        step = {
            "sep": self._separator,
            "pos": self._position,
            "verb": self._verb,
            "rel": self._relation,
            "np": self._noun_phrase,
        }[kind]
        self.at += 1
        step(value)

    def _own_clause(self) -> bool:
        """Whether the noun phrase being read starts a clause of its own: after a comma, with a verb or a "with"
        of its own ("a man holding an umbrella, a dog holding a ball": the dog is not the man's). With a
        place of its own it stays in the list and is placed too ("a desk with a monitor, a keyboard on a mat"), as
        after "and" ("a farmer with a cow and two chickens in a barnyard")."""
        after_comma = self.at > 0 and self.items[self.at - 1] == ("sep", ",")
        following = self.items[self.at + 1] if self.at + 1 < len(self.items) else None
        return (
            after_comma and following is not None and (following[0] == "verb" or following == ("rel", "with"))
        )

    def _separator(self, mark: str) -> None:
        """Any separator ends the owners that a later place would locate ("a cake with candles on a table");
        a full stop or semicolon ends the sentence's subjects and relation (a "between" with one target too);
        a comma right after a noun phrase ends its group, unless a relation waits for its target."""
        self.owners = []
        if mark in {".", ";"}:
            self.group, self.pending, self.pending_positions, self.list_owners = [], None, set(), []
            self.between_targets = []
        elif mark == "," and self.pending is None:
            self.group = [] if self.last_was_np else self.group
        self.last_was_np = False

    def _position(self, where: str) -> None:
        """An absolute position: of the subjects just named ("a dog on the left"), else of the next noun
        phrase ("on the left, a dog")."""
        implied = where == "sky"  # "kites in the sky": high up, though not a stated side
        where = "top" if implied else where
        of_subjects = self.last_was_np or self.pending is None and not self.pending_positions
        if self.group and of_subjects:
            for index in self.group:
                self.objects[index].positions.add(where)
                if implied:
                    self.objects[index].loose_positions.add(where)
            self.placed = True  # "a house in the background and a horse": the horse starts a new group
        else:
            self.pending_positions.add(where)

    def _verb(self, verb: str) -> None:
        """A verb right after its subjects ("a woman holding ..."): it waits for its object."""
        if self.group and self.last_was_np:
            self.pending = f"verb:{verb}"
        self.last_was_np = False

    def _relation(self, kind: str) -> None:
        """A relation word: it waits for its target ("next to" inside "between ... next to" is no new one); a
        "between" gathers its two targets afresh."""
        if self.pending == "between" and kind == "next":
            return
        if kind == "between":
            self.between_targets = []
        self.pending = kind
        self.last_was_np = False

    def _noun_phrase(self, text: str) -> None:
        """A noun phrase: an object, a setting, stuff that describes the last subject, or none."""
        phrase = read_noun_phrase(_one_named(text, self.objects))
        if phrase is None:
            self._no_phrase(text)
            return
        if self.pending == "on" and phrase.head in GROUND_SURFACES and phrase.count == 1:
            phrase.scene = True  # "riding a horse on the moon": the surface is the setting
        if phrase.mass:
            self._describe_subject(phrase)
        elif phrase.scene:
            self._setting(phrase)
        else:
            self._object(phrase, text)

    def _no_phrase(self, text: str) -> None:
        """Text that names no object ends the waiting relation ("pine trees on both sides, a rainbow": "sides"
        is no object); "it" or "them" there is the object mentioned before ("a table with a vase on it")."""
        pronoun = re.search(r"\b(?:it|them)\b", text)
        if self.pending == "on" and text.strip() == "top" and self.list_owners:
            self._on_top()
        elif self.pending == "between" and pronoun and self.group:
            self._between_pronoun()
        elif self.pending and pronoun and self.group:
            self._pronoun_object(pronoun.group(0) == "them")
        self.pending = None
        self.last_was_np = False

    def _on_top(self) -> None:
        """ "on top" with nothing after it: what came with the list's owner lies on it ("a stove with a kettle
        and a pot on top")."""
        for relation in self.relations:
            if relation.kind == "with" and relation.target in self.list_owners:
                relation.kind = "on"

    def _antecedent(self, plural: bool) -> int | None:
        """The object "it" (one object) or "them" (several) names: the last one before the subjects that
        agrees in number, else the last one before them."""
        candidates = [i for i in range(len(self.objects)) if i not in self.group]
        earlier = [i for i in candidates if (self.objects[i].count > 1) == plural] or candidates
        return earlier[-1] if earlier else None

    def _pronoun_object(self, plural: bool) -> None:
        """The waiting relation or verb with a pronoun as its target: "a table with a vase on it", "a table, a
        man holding it" (held, as "a man holding a table" would be)."""
        earlier = self._antecedent(plural)
        if earlier is None:
            return
        verb = self._pending_verb()
        if verb:
            self._verb_relation(verb, earlier, _naming(self.objects[earlier]))
        else:
            self.relations += [Relation(s, _relation_kind(self.pending or ""), earlier) for s in self.group]

    def _between_pronoun(self) -> None:
        """ "between them": between the last two objects named before the subjects ("a sofa and a chair with a
        lamp between them"); beside a group of several ("two chairs with a table between them"); nothing
        with fewer ("a vase on a table between them"). "two trees and a bench between them": the last
        subject stands between the others."""
        subjects = self.group
        earlier = [i for i in range(len(self.objects)) if i not in subjects]
        if not earlier and len(subjects) > 1:
            subjects, earlier = subjects[-1:], subjects[:-1]
        if earlier and self.objects[earlier[-1]].count > 1:
            self.relations += [Relation(s, "next", earlier[-1]) for s in subjects]
        elif len(earlier) >= 2:
            self.relations += [Relation(s, "between", *earlier[-2:]) for s in subjects]

    def _describe_subject(self, phrase: NounPhrase) -> None:
        """Stuff ("a plate with rice") joins the last subject's prompt rather than getting a region."""
        if self.group:
            owner = self.objects[self.group[-1]]
            owner.prompt = f"{owner.prompt}, {phrase.text}" if owner.prompt.count(",") < 4 else owner.prompt
        self.last_was_np = False

    def _setting(self, phrase: NounPhrase) -> None:
        """A setting ("in a park") goes to the background; a relation to it places nothing."""
        self.settings.append(phrase.text)
        if self.pending in {"in", "on", "at", None, "with", "above", "below", "front", "behind", "next"}:
            self.pending = None if self.pending != "with" else "with_scene"
        self.last_was_np = True

    def _object(self, phrase: NounPhrase, text: str) -> None:
        """An object: the target of the waiting relation, one more subject after "and", or a new subject."""
        whole = _whole_of(phrase, self.objects, self.settings)
        if whole == SETTING:
            self._part_of_setting()
            return
        index = self._index_of(phrase, whole)
        if self.pending == "between":
            self._between_target(index)
            return
        if self.pending == "with_scene":
            self.pending = None
        # "a desk with a monitor, a keyboard and a mug": the keyboard is on the desk too
        in_list = self.pending is None and bool(self.list_owners) and not self._own_clause()
        if self.pending and self.group:
            if self._worn(phrase, index):
                return
            self._relate(phrase, index)
        elif self._joins_subjects(text):
            self.group.append(index)
        else:
            self.group, self.placed, self.group_is_target = [index], False, False
            self.pending = None
        if in_list and index not in self.list_owners and _smaller(phrase, self.objects[self.list_owners[-1]]):
            self.relations += [Relation(index, "with", owner) for owner in self.list_owners]
        self.last_was_np = True

    def _part_of_setting(self) -> None:
        """A part of the setting ("the trees" of "a forest") gets no box; a subject above or below it goes to
        the top or the bottom ("a full moon above the trees")."""
        where = {"above": "top", "below": "bottom"}.get(self.pending or "")
        for subject in self.group if where else []:
            self.objects[subject].positions.add(where)
        self.pending, self.last_was_np = None, True

    def _index_of(self, phrase: NounPhrase, whole: int | None) -> int:
        """The object ``phrase`` names: the whole it is a part of ("the buildings" of "a city skyline"), the
        same object named again ("the woman"), or a new one; positions stated before it are its own."""
        earlier = [i for i, o in enumerate(self.objects) if o.head == phrase.head]
        if whole is not None:
            index = whole
        elif earlier and self.objects[earlier[-1]].count > phrase.count and phrase.text.startswith("one"):
            self.objects[earlier[-1]].count -= 1  # "two dogs with one dog holding a disc": one of the two
            phrase.positions |= self.pending_positions
            self.objects.append(phrase)
            index = len(self.objects) - 1
        elif earlier and re.match(r"(?:the|that|this|these|those|both)\b", phrase.text.strip()):
            index = earlier[-1]
            self.objects[index].positions |= phrase.positions | self.pending_positions
            self.objects[index].loose_positions |= self.pending_positions
        else:
            phrase.positions |= self.pending_positions
            phrase.loose_positions |= self.pending_positions
            self.objects.append(phrase)
            index = len(self.objects) - 1
        self.pending_positions = set()
        return index

    def _between_target(self, index: int) -> None:
        """One of the two objects after "between"; with the second, the subjects stand between them, and the
        second becomes the subject of what follows. The same object named again is no second target. A group
        named alone ("between two parked cars") is split: one of its instances is the second target."""
        if index not in self.between_targets:
            self.between_targets.append(index)
        if self.between_targets == [index] and self.objects[index].count > 1 and not self._and_follows():
            self.objects[index].count -= 1
            self.objects.append(replace(self.objects[index], count=1, positions=set(), loose_positions=set()))
            self.between_targets.append(len(self.objects) - 1)
            index = len(self.objects) - 1
        if len(self.between_targets) == 2 and self.group:
            for subject in self.group:
                self.relations.append(
                    Relation(subject, "between", *self.between_targets, explicit=not self.group_is_target)
                )
            self.between_targets, self.pending, self.group, self.group_is_target = [], None, [index], True
        self.last_was_np = True

    def _and_follows(self) -> bool:
        """Whether the item after the one being read is "and" ("between the chairs and the table")."""
        return self.items[self.at + 1 : self.at + 2] == [("sep", "and")]

    def _pending_verb(self) -> str | None:
        """The verb waiting for its object, if what waits is a verb."""
        return self.pending[5:] if self.pending and self.pending.startswith("verb:") else None

    def _worn(self, phrase: NounPhrase, index: int) -> bool:
        """Whether ``phrase`` is a new wearable of the last subject ("a man in a red coat", "a woman wearing a
        hat"); it then joins the subject's prompt instead of getting a region."""
        verb = self._pending_verb()
        new = index == len(self.objects) - 1 and index not in self.group
        if not ((self.pending in {"with", "in"} or verb) and phrase.head in WEARABLES and new):
            return False
        owner = self.objects[self.group[-1]]
        owner.prompt = f"{owner.prompt} {verb or self.pending} {phrase.text.strip()}"
        self.objects.pop()
        self.pending, self.last_was_np = None, True
        return True

    def _relate(self, phrase: NounPhrase, index: int) -> None:
        """The waiting relation between the subjects and the object ``index``, which becomes the subject of
        what follows ("a lamp on a nightstand and a painting": the painting starts anew)."""
        verb = self._pending_verb()
        if verb:
            self._verb_object(phrase, index, verb)
        elif self.pending == "with":
            for subject in self.group:
                self.relations.append(Relation(index, "with", subject))
            self.owners = self.list_owners = list(self.group)
        elif self.pending != "at":
            located = self.owners if self.owners and self.pending in LOCATING else self.group
            explicit = located is self.group and not self.group_is_target
            for subject in located:
                self.relations.append(
                    Relation(subject, _relation_kind(self.pending), index, explicit=explicit)
                )
            self.owners = self.list_owners = []
        self.group, self.group_is_target = [index], True
        self.pending, self.placed = None, True

    def _verb_object(self, phrase: NounPhrase, index: int, verb: str) -> None:
        """The object of the subjects' verb; what they hold or have owns a list after it ("a man holding a
        cup, a saucer and a spoon")."""
        self._verb_relation(verb, index, phrase.phrase)
        if VERB_RELATIONS.get(verb, "with") in {"with", "hold"}:
            self._return_participle(phrase)
            self.owners = self.list_owners = list(self.group)

    def _verb_relation(self, verb: str, index: int, named: str) -> None:
        """The subjects' verb with its object ``index`` (written ``named``): named in their prompts, and
        placed by what the verb means (flying over: above them; holding: in their hand; most verbs: beside
        them)."""
        for subject in self.group:
            self.objects[subject].prompt = f"{self.objects[subject].prompt} {verb} {named}"
        meaning = VERB_RELATIONS.get(verb, "with")
        if meaning == "fly":
            self.relations += [Relation(index, "above", subject) for subject in self.group]
        elif meaning in {"with", "hold"}:
            self.relations += [Relation(index, meaning, subject) for subject in self.group]
        else:
            self.relations += [Relation(subject, meaning, index) for subject in self.group]

    def _return_participle(self, phrase: NounPhrase) -> None:
        """A participle after a held object is the holder's: "a woman holding an umbrella walking past a
        bakery" -- the woman walks, not the umbrella."""
        predicate = phrase.prompt[len(phrase.phrase) :].strip()
        if predicate.split()[:1] and predicate.split()[0].endswith("ing"):
            phrase.prompt = phrase.phrase
            for subject in self.group:
                self.objects[subject].prompt = f"{self.objects[subject].prompt} {predicate}"

    def _joins_subjects(self, text: str) -> bool:
        """Whether the noun phrase ``text`` is one more subject: right after "and", with nothing placed or
        waiting since the subjects were named ("a cat and a dog")."""
        return (
            self.pending is None
            and not self.last_was_np
            and bool(self.group)
            and not self.placed
            and _follows_and(self.items, text)
        )


ONE_PRONOUN = re.compile(r"^\s*(?:a|an)\s+(?:[a-z-]+\s+){0,2}one\s*$")
"""A phrase headed by "one" ("a little one"): one more of the object named before."""


def _one_named(text: str, objects: list[NounPhrase]) -> str:
    """``text`` with a "one" that stands for the last object's noun written out: "two zebras standing close
    to a little one" reads "a little zebra"."""
    if not objects or not ONE_PRONOUN.match(text):
        return text
    return re.sub(r"\bone\s*$", objects[-1].head, text.rstrip())


def _naming(phrase: NounPhrase) -> str:
    """How the prompt named the object, without its predicate: "two kittens" for "two kittens sleeping"."""
    return " ".join(_cut_predicate(phrase.text.split())[0])


def _smaller(phrase: NounPhrase, owner: NounPhrase) -> bool:
    """Whether ``phrase`` names something smaller than ``owner`` (a mug on a desk, not a chair)."""
    shape, owner_shape = (OBJECT_SHAPES.get(p.head, DEFAULT_SHAPE) for p in (phrase, owner))
    return shape.height * phrase.size < owner_shape.height * owner.size


SETTING = -1
"""``_whole_of``'s answer for a part of the setting."""


def _whole_of(phrase: NounPhrase, objects: list[NounPhrase], settings: list[str]) -> int | None:
    """The earlier object (index) or the setting (``SETTING``) that a definite part names: "the buildings"
    after "a city skyline", "the trees" in "a forest". None when the phrase names something new."""
    wholes = PART_OF.get(phrase.head)
    if not wholes or not re.match(r"(?:the|these|those)\b", phrase.text.strip()):
        return None
    for index in reversed(range(len(objects))):
        if objects[index].head in wholes:
            return index
    if any(singular(word) in wholes for text in settings for word in text.split()):
        return SETTING
    return None


def _follows_and(items: list[tuple[str, str]], text: str) -> bool:
    """Whether the noun phrase ``text`` comes right after an "and" (so it joins the current subjects); of
    several noun phrases with the same text, the first one that is not the first item answers."""
    for position, (kind, value) in enumerate(items):
        if kind == "np" and value == text and position > 0:
            return items[position - 1] == ("sep", "and")
    return False


def _relation_kind(word: str) -> str:
    """The relation a placing word stands for: "in" places like "on", "at" like "next"."""
    return {"in": "on", "at": "next"}.get(word, word)


def _restore_case(original: str, lowered: str) -> str:
    """Give the lower-cased base prompt back the prompt's own capitals where the text is unchanged."""
    flat = _flat(original)
    return flat if flat.lower() == lowered else lowered
