"""Read one noun phrase of a caption: "[count] [attributes] noun [predicate ...]" -> ``NounPhrase``.

Also the English word forms the reading needs: singular and plural nouns, articles, where a noun phrase ends
and its predicate ("sitting quietly", "kneels") begins.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from planner.lexicon import (
    BODY_PARTS,
    COLLECTIVES,
    COMPOUND_HEADS,
    CONTAINERS,
    DEFAULT_SHAPE,
    DEGREE_ADVERBS,
    DETERMINERS,
    INFINITIVE_HEADS,
    ING_NOUNS,
    IRREGULAR_PLURALS,
    LEADING_PARTICLES,
    MASS_NOUNS,
    NON_OBJECTS,
    NUMBER_WORDS,
    OBJECT_SHAPES,
    PLURAL_NAMES,
    SCENES,
    SIZE_WORDS,
    TRAILING_ADVERBS,
    UNCOUNTABLE_S,
    VERB_STOPS,
)
from planner.pos import (
    can_be_noun,
    can_be_verb,
    clearly_noun,
    finite_verb,
    only_adjective,
    past_verb,
    tags,
)
from planner.scene import NounPhrase

MAX_INSTANCES = 12
"""Most instances one noun phrase may expand to ("a dozen eggs" stays at 12)."""


FILLER = re.compile(
    r"^(?:(?:there (?:is|are)|here (?:is|are)|i see|we see|shows?|showing|featuring|depicting|with)\s+)+"
)
STYLE_OF = re.compile(
    r"^(?:(?:a|an|the)\s+)?(?:[a-z-]+\s+){0,4}(?:photo(?:graph)?|picture|image|painting|illustration|drawing|"
    r"render(?:ing)?|sketch|shot|close[- ]?up|view|scene|panorama|portrait|artwork|poster|cartoon|snapshot)\s+of\s+"
)
_NUMBER_RE = re.compile(r"^\d{1,2}$")


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


def cut_predicate(words: list[str], coordinated: bool = False) -> tuple[list[str], list[str]]:
    """Split "a cat sitting quietly" into (["a", "cat"], ["sitting", "quietly"]), "a girl kneels" into
    (["a", "girl"], ["kneels"]). ``coordinated``: the phrase is the last of subjects joined by "and", whose
    verb is plural ("a man and a dog paddle")."""
    for index, word in enumerate(words):
        if index == 0 or word == "of" and singular(words[index - 1]) in COLLECTIVES | CONTAINERS | {"full"}:
            continue
        if word == "set" and index + 1 < len(words) and words[index + 1] == "of":
            continue
        previous = words[index - 1]
        if word in VERB_STOPS and not _modifies_noun(words, index):
            return words[:index], words[index:]
        after_noun = _names_a_thing(previous)
        if word.endswith("ed") and len(word) > 3 and after_noun and not _modifies_noun(words, index):
            return words[:index], words[index:]  # "balloons tied", "a cat curled up"
        if _finite_after_noun(words, index, coordinated):
            return words[:index], words[index:]  # "a girl kneels", "three people ride", "a cat sat"
        if _adjective_complement(words, index):
            return words[:index], words[index:]  # "a batter ready to swing", "a dog eager for a walk"
        if after_noun and _place_or_infinitive_follows(words, index):
            return words[:index], words[index:]  # "three boxes up the stairs", "a player about" (to kick)
        if (
            word.endswith("ing")
            and word not in ING_NOUNS
            and len(word) > 4
            and (index + 1 == len(words) or after_noun)
        ):
            return words[:index], words[index:]  # "a cat sleeping"; "a sleeping cat" keeps it
    return words, []


def _place_or_infinitive_follows(words: list[str], index: int) -> bool:
    """Whether ``words[index]`` opens a place after its noun ("up the stairs", "down a hill") or is the last
    word, one after which an infinitive follows ("about", "ready": the verb is the next item)."""
    word = words[index]
    if index + 1 == len(words):
        return word in INFINITIVE_HEADS
    return word in LEADING_PARTICLES and words[index + 1] in DETERMINERS | NUMBER_WORDS.keys()


def _names_a_thing(word: str) -> bool:
    """Whether ``word`` is a noun a predicate can follow: a known object ("cat"), or a word the lexicon knows
    only as a noun ("pheasants", "tripod"; not "adult", "red" or a gerund such as "sitting")."""
    known = word in OBJECT_SHAPES or singular(word) in OBJECT_SHAPES
    return known or clearly_noun(word) and not word.endswith("ing")


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


def _finite_after_noun(words: list[str], index: int, coordinated: bool = False) -> bool:
    """Whether ``words[index]`` is the finite verb of the noun before it: a word that is only a verb ("kneels",
    "sat"), or one that may be a noun too in the plural form after a plural subject, at the end or before an
    article: a plural noun ("three people ride", "dogs watch a train") or, when ``coordinated``, the last
    of subjects joined by "and" ("a man and a dog paddle"; but "a cat and a dog bed": a bed is an object)."""
    word, previous = words[index], words[index - 1]
    if not can_be_noun(previous) or previous in NUMBER_WORDS or previous in DETERMINERS:
        return False
    if finite_verb(word) or past_verb(word):
        return True
    if _third_person_after_one(words, index):
        return True  # "a cat lays", though "lays" is a noun too
    if word in OBJECT_SHAPES and singular(previous) not in OBJECT_SHAPES:
        return False  # "a sports ball": a known object after a noun the lexicon lacks is a compound
    plural_noun = is_plural(previous) and (_names_a_thing(previous) or previous == "people")
    joined_noun = coordinated and singular(previous) in OBJECT_SHAPES and word not in OBJECT_SHAPES
    following = words[index + 1] if index + 1 < len(words) else None
    # "three people ride", "dogs watch a train", "three skiers climb up a hill"
    at_end = following is None or following in DETERMINERS | NUMBER_WORDS.keys() | LEADING_PARTICLES
    return (plural_noun or joined_noun) and at_end and can_be_verb(word) and not is_plural(word)


def _third_person_after_one(words: list[str], index: int) -> bool:
    """A verb's -s form ending the phrase after one known object ("a cat lays", "a dog sits"): a singular
    subject with "a" or "one" is not followed by a plural noun."""
    word, previous = words[index], words[index - 1]
    one = words[0] in {"a", "an", "one"}  # "two computer monitors": a plural noun, not a verb
    known_single = one and previous in OBJECT_SHAPES and not is_plural(previous)
    verb = word.endswith("s") and singular(word) not in OBJECT_SHAPES and "VERB" in tags(word[:-1])
    return known_single and verb and index + 1 == len(words)


COMPLEMENT_STARTS = {"to", "for"}
"""Words that open an adjective's complement ("ready to swing", "eager for a walk")."""


def _adjective_complement(words: list[str], index: int) -> bool:
    """Whether ``words[index]`` is an adjective after its noun with a complement of its own ("a batter ready to
    swing", "a puppy eager for a treat"): it starts the predicate rather than heading the phrase."""
    word, previous = words[index], words[index - 1]
    complement = index + 1 < len(words) and words[index + 1] in COMPLEMENT_STARTS
    noun_before = can_be_noun(previous) and previous not in DETERMINERS and previous not in NUMBER_WORDS
    return complement and noun_before and only_adjective(word)


PRONOUNS = {
    "it",
    "them",
    "they",
    "him",
    "each",
    "other",
    "another",
    "itself",
    "himself",
    "herself",
    "themselves",
}
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


def read_noun_phrase(text: str, coordinated: bool = False) -> NounPhrase | None:
    """Read one noun phrase, or None when the text names no object or setting. ``coordinated``: the phrase
    is the last of subjects joined by "and" (``cut_predicate``)."""
    # 1. Words: framing and filler cut off, the predicate ("sitting quietly") set apart.
    text, words, predicate = _phrase_words(text, coordinated)
    if not words or words[0] in PRONOUNS or own_body_part(words):
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
    # 5. "the car is red": the copula goes, an adjective after it joins the attributes ("the red car").
    copula, complement, predicate = _copula(predicate)
    attributes = [*attributes, *complement]
    # 6. How many instances; a noun whose plural is itself counts by its verb ("the sheep is").
    plural = _written_plural(noun_words, words[0], quantity.count)
    unsure = plural and _invariant(noun_words[-1]) and not quantity.counted and quantity.count == 1
    if unsure and (
        copula in SINGULAR_COPULAS or copula is None and quantity.determiner in DEFINITE_DETERMINERS
    ):
        plural = False  # "the sheep is grazing"; "next to the sheep": one, most likely
    count, counted = _instance_count(quantity, plural, key)
    counted = counted and not (unsure and copula is None)
    # 7. The per-instance phrase keeps the prompt's article and attributes.
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


SINGULAR_COPULAS = {"is", "was"}
COPULAS = SINGULAR_COPULAS | {"are", "were"}
PASSIVE = {"being", "been"}


def _copula(predicate: list[str]) -> tuple[str | None, list[str], list[str]]:
    """(copula, adjectives, rest) of a predicate: "is red" -> ("is", ["red"], []), "that is sleeping" ->
    ("is", [], ["sleeping"]), "being led" -> (None, [], ["led"]); no copula: (None, [], predicate). Only a
    complement of adjectives (and "very") moves before the noun; participles stay a predicate ("is parked")."""
    relative = predicate[:1] in (["that"], ["which"], ["who"]) and predicate[1:2] and predicate[1] in COPULAS
    words = predicate[1:] if relative else predicate
    if not words or words[0] not in COPULAS | PASSIVE:
        return None, [], predicate
    copula = words[0] if words[0] in COPULAS else None
    words = _without_copulas(words)
    run = 0  # the adjectives right after the copula
    while run < len(words) and _complement_word(words[run]):
        run += 1
    adjectives, rest = words[:run], words[run:]
    # "is red", "that is black is sitting", "is happy playing"; not "is ready to swing"
    ends = not rest or rest[0] in COPULAS | PASSIVE or rest[0].endswith("ing")
    if any("ADJ" in tags(w) for w in adjectives) and ends:
        return copula, adjectives, _without_copulas(rest)
    return copula, [], words


def _without_copulas(words: list[str]) -> list[str]:
    while words and words[0] in COPULAS | PASSIVE:
        words = words[1:]
    return words


def _complement_word(word: str) -> bool:
    """An adjective ("red", "wooden") or degree adverb ("very") that can describe a noun; not a participle
    ("parked", "sleeping")."""
    participle = word.endswith("ing") or word.endswith("ed") and "VERB" in tags(word)
    return not participle and ("ADJ" in tags(word) or word in DEGREE_ADVERBS)


def _invariant(word: str) -> bool:
    """A noun whose plural is the word itself ("sheep", "deer", "fish")."""
    return is_plural(word) and singular(word) == word


POSSESSIVES = {"its", "his", "her", "their"}


def own_body_part(words: list[str]) -> bool:
    """ "its head", "her hands": a part of someone already named, no object of its own."""
    return len(words) >= 2 and words[0] in POSSESSIVES and words[-1] in BODY_PARTS


ANOTHER = re.compile(r"^another\s+(?=[a-z])")

PARTITIVE = re.compile(r"^(one|two|three|four|five|six) of (?:the|these|those|his|her|their|its) ")
""""one of the children": one child, of a group named before (``CaptionReader._index_of``)."""


def _phrase_words(text: str, coordinated: bool = False) -> tuple[str, list[str], list[str]]:
    """(text, words, predicate) of a noun phrase: framing ("a photo of") and filler ("there is") cut off, the
    predicate set apart, leading particles and trailing adverbs dropped from the words."""
    text = STYLE_OF.sub("", FILLER.sub("", text.strip(" ,.;:'\""))).strip()
    text = PARTITIVE.sub(r"\1 ", text)
    text = ANOTHER.sub("a ", text)  # "another zebra": one more, a new object (not "the zebra" again)
    words, predicate = cut_predicate(re.findall(r"[a-z0-9][a-z0-9'-]*", text), coordinated)
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
