"""Read a free-text prompt into a ``Scene``: objects with counts and attributes, relations, exclusions, setting.

Rule-based and deterministic. The prompt is lower-cased, negations ("without birds") are cut out, relation
and position phrases ("to the left of", "on the right") become markers, and the text between markers is read
as noun phrases "[count] [attributes] noun [participle ...]".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
from planner.pos import can_be_noun, clearly_noun, finite_verb, only_adjective

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
    (r"next to|beside|besides|alongside|near|close to|by|together with|from|to|toward|towards", "next"),
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
    """Split "a cat sitting quietly" into (["a", "cat"], ["sitting", "quietly"])."""
    for index, word in enumerate(words):
        if index == 0 or word == "of" and singular(words[index - 1]) in COLLECTIVES | CONTAINERS:
            continue
        if word == "set" and index + 1 < len(words) and words[index + 1] == "of":
            continue
        if word in VERB_STOPS:
            return words[:index], words[index:]
        previous = words[index - 1]
        after_noun = previous in OBJECT_SHAPES or singular(previous) in OBJECT_SHAPES
        if word.endswith("ed") and len(word) > 3 and after_noun:
            return words[:index], words[index:]  # "balloons tied", "a cat curled up"
        if (
            word.endswith("ing")
            and word not in ING_NOUNS
            and len(word) > 4
            and (index + 1 == len(words) or after_noun)
        ):
            return words[:index], words[index:]  # "a cat sleeping"; "a sleeping cat" keeps it
    return words, []


def read_noun_phrase(text: str) -> NounPhrase | None:
    """Read one noun phrase, or None when the text names no object or setting."""
    text = STYLE_OF.sub("", FILLER.sub("", text.strip(" ,.;:'\""))).strip()
    words = [w for w in re.findall(r"[a-z0-9][a-z0-9'-]*", text) if w not in {"'s"}]
    words, predicate = _cut_predicate(words)
    while words and words[0] in LEADING_PARTICLES:
        words = words[1:]
    while len(words) > 1 and words[-1] in TRAILING_ADVERBS:
        words = words[:-1]
    if not words or words[0] in {"it", "them", "they", "each", "other", "another", "itself"}:
        return None
    count, counted, start = 1, False, 0
    determiner = None
    # 1. Count and determiner: "three", "a pair of", "a group of", "12", "the two".
    while start < len(words):
        word = words[start]
        if word in {"the", "this", "that", "these", "those", "his", "her", "their", "its", "my", "our"}:
            determiner = determiner or word
            start += 1
        elif word in NUMBER_WORDS and start + 1 < len(words):
            value = NUMBER_WORDS[word]
            if word in {"a", "an"}:
                determiner = determiner or word
            else:
                count, counted = value, word not in {"some", "many", "several", "few", "multiple"}
                if word in {"few", "several", "many", "some", "multiple"}:
                    count, counted = value, False
            start += 1
        elif _NUMBER_RE.match(word) and start + 1 < len(words):
            count, counted = int(word), True
            start += 1
        elif word == "of" or word in COLLECTIVES and start + 1 < len(words) and words[start + 1] == "of":
            if word in COLLECTIVES:
                if word in {"pair", "couple"}:
                    count, counted = 2, True
                elif not counted:
                    count = 3
            start += 1
        else:
            break
    body = words[start:]
    if not body:
        return None
    # 2. "a plate of cookies": the container is the object, the rest describes it.
    of_tail: list[str] = []
    if "of" in body:
        of_at = body.index("of")
        if of_at > 0 and singular(body[of_at - 1]) in CONTAINERS:
            body, of_tail = body[:of_at], body[of_at:]
    # 3. Head noun, possibly a compound ("teddy bear", "fire hydrant").
    head_word = body[-1]
    last_two = " ".join(body[-2:])
    singular_last_two = " ".join([*body[-2:-1], singular(head_word)])
    if singular_last_two in COMPOUND_HEADS:
        key, noun_words = COMPOUND_HEADS[singular_last_two], body[-2:]
    elif last_two in COMPOUND_HEADS:
        key, noun_words = COMPOUND_HEADS[last_two], body[-2:]
    else:
        key, noun_words = singular(head_word), body[-1:]
    attributes = body[: len(body) - len(noun_words)]
    head = singular(head_word)
    setting = " ".join(words)
    if key not in OBJECT_SHAPES and (head in NON_OBJECTS or head in SCENES and not attributes):
        if head in SCENES:
            return NounPhrase(setting, head, 1, False, setting, setting, scene=True)
        return None
    if head in SCENES and key not in OBJECT_SHAPES:
        return NounPhrase(setting, head, 1, False, setting, setting, scene=True)
    if (
        head in MASS_NOUNS
        and key not in OBJECT_SHAPES
        and not counted
        and count == 1
        and not determiner
        and words[0] not in NUMBER_WORDS
    ):
        return NounPhrase(setting, head, 1, False, setting, setting, mass=True)
    if not re.match(r"[a-z]", head) or head in DETERMINERS or head in NUMBER_WORDS:
        return None
    plural = (
        is_plural(head_word)
        and head_word not in UNCOUNTABLE_S
        and " ".join(noun_words) not in PLURAL_NAMES
        and not (words[0] in {"a", "an", "one", "this", "that"} and count == 1)
    )
    numbered = counted and count > 1  # "one dog" often means one of those named before
    if plural and not counted and count == 1:
        count = 3 if OBJECT_SHAPES.get(key, (1, 0.3, "any"))[1] <= 0.2 else 2
    elif not plural and count == 1:
        counted = True  # "a cat", "the cat": exactly one
    count = max(1, min(count, MAX_INSTANCES))
    # 4. The per-instance phrase keeps the prompt's article and attributes.
    singular_words = [*noun_words[:-1], singular(noun_words[-1])] if count > 1 or plural else noun_words
    core = " ".join([*attributes, *singular_words])
    if count == 1 and determiner and not plural:
        article = determiner
    elif count == 1 and words[0] in {"a", "an", "one"}:
        article = words[0] if words[0] != "one" else article_for(core)
    elif count == 1 and not plural and start == 0:
        article = ""  # "earth", "northern lights", "snow white": the prompt gave no article, invent none
    else:
        article = article_for(core)
    phrase = " ".join(w for w in [article, core, *of_tail] if w).replace("-and-", " and ")
    prompt = " ".join([phrase, *predicate]).strip()
    size = 1.0
    for attribute in attributes:
        size *= SIZE_WORDS.get(attribute, 1.0)
    return NounPhrase(
        text=text,
        head=key,
        count=count,
        counted=counted,
        phrase=phrase,
        prompt=prompt,
        size=size,
        numbered=numbered,
        tidy=not any(_untidy(word) for word in attributes),
    )


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


def _tokenise(text: str) -> list[tuple[str, str]]:
    """Split text into ("np", text), ("rel", kind), ("pos", name), ("sep", ",") items."""
    markers: list[tuple[int, int, str, str]] = []
    for match in POSITION_PATTERN.finditer(text):
        if re.match(r"\s*(?:(?:side|hand side|corner|edge|half|part)\s+)?of\b", text[match.end() :]):
            continue  # "on the left side of X" is a relation, not a position
        qualifier, where = match.group(1), match.group(2)
        name = {
            "centre": "center",
            "middle": "center",
            "distance": "background",
            "back": "background",
            "front": "foreground",
        }.get(where, where)
        markers.append((match.start(), match.end(), "pos", name))
        if qualifier in {"top", "upper", "bottom", "lower"}:
            markers.append(
                (match.start(), match.start(), "pos", "top" if qualifier in {"top", "upper"} else "bottom")
            )
    for match in DANGLING_POSITION.finditer(text):
        where = "bottom" if match.group(1) in {"below", "beneath", "underneath"} else "top"
        markers.append((match.start(), match.end(), "pos", where))
    taken = [(s, e) for s, e, _, _ in markers]
    for pattern, kind in RELATION_PATTERNS:
        for match in re.finditer(rf"\b(?:{pattern})\b", text):
            if any(s < match.end() and match.start() < e or s == e == match.start() for s, e in taken):
                continue
            markers.append((match.start(), match.end(), "rel", kind))
            taken.append((match.start(), match.end()))
    verbs = "|".join(VERB_FORMS)
    holds = "|".join(HOLD_VERBS)
    for match in re.finditer(
        rf"\b([a-z]{{3,}}ing|{verbs})\b(?=\s+(?:a|an|the|his|her|their|its|\d+|[a-z]+s)\b)"
        rf"|\b({holds})\b(?=\s+[a-z])",
        text,
    ):
        found = match.group(1) or match.group(2)
        word = VERB_FORMS.get(found, found)
        if word in ING_NOUNS or any(s <= match.start() < e for s, e in taken):
            continue
        markers.append((match.start(), match.end(), "verb", word))
        taken.append((match.start(), match.end()))
    for match in re.finditer(r"[,.;:]|(?<!-)\b(?:and|while|whereas|plus|then)\b(?!-)", text):
        if not any(s <= match.start() < e for s, e in taken):
            markers.append((match.start(), match.end(), "sep", match.group(0)))
    markers.sort(key=lambda m: (m[0], m[1]))
    items: list[tuple[str, str]] = []
    cursor = 0
    for start, end, kind, value in markers:
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
    lowered = " ".join(prompt.lower().replace("’", "'").split())
    remaining, negatives = _find_negations(lowered)
    readable = COORDINATED_COLOURS.sub(r"\1-and-", CLAUSE_GLUE.sub("", _content(remaining)))
    readable = PART_OF_THING.sub("", LIGHT_AND_WEATHER.sub("", readable))  # light and weather: context
    items = _tokenise(POSSESSIVE_PART.sub(r"\1", readable))
    objects: list[NounPhrase] = []
    relations: list[Relation] = []
    settings: list[str] = []
    group: list[int] = []  # the current subjects: noun phrases since the last relation, joined by "and"
    group_is_target = False  # the subjects are the last relation's target ("a cat on a mat left of ...")
    pending: str | None = None  # a relation waiting for its target
    pending_positions: set[str] = set()
    between_targets: list[int] = []
    owners: list[int] = []  # "a cake with candles": the cake, which a later "on a table" places
    list_owners: list[int] = []  # "a desk with a monitor, a keyboard and a mug": the desk, for the whole list
    last_was_np = placed = False
    for kind, value in items:
        if kind == "sep":
            owners = []
            if value in {".", ";"}:
                group, pending, pending_positions, list_owners = [], None, set(), []
            elif value == "," and pending is None:
                group = [] if last_was_np else group
            last_was_np = False
            continue
        if kind == "pos":
            implied = value == "sky"  # "kites in the sky": high up, though not a stated side
            value = "top" if implied else value
            if group and last_was_np or group and pending is None and not pending_positions:
                for index in group:
                    objects[index].positions.add(value)
                    if implied:
                        objects[index].loose_positions.add(value)
                placed = True  # "a house in the background and a horse": the horse starts a new group
            else:
                pending_positions.add(value)
            continue
        if kind == "verb":
            if group and last_was_np:
                pending = f"verb:{value}"
            last_was_np = False
            continue
        if kind == "rel":
            if pending == "between" and value == "next":
                continue
            pending = value
            if last_was_np and group and objects[group[-1]].scene:
                group = [i for i in group if not objects[i].scene]
            last_was_np = False
            continue
        phrase = read_noun_phrase(value)
        if phrase is None:
            if pending and re.search(r"\b(?:it|them)\b", value) and group:
                # "a table with a vase on it": "it" is the object mentioned before the subject.
                plural = re.search(r"\bthem\b", value) is not None
                candidates = [i for i in range(len(objects)) if i not in group and not objects[i].scene]
                # "it" names one object, "them" several
                earlier = [i for i in candidates if (objects[i].count > 1) == plural] or candidates
                if earlier:
                    for subject in group:
                        relations.append(Relation(subject, _normalise(pending), earlier[-1]))
            pending = None  # "pine trees on both sides, a rainbow": "sides" is no object, the relation ends
            last_was_np = False
            continue
        if pending == "on" and phrase.head in GROUND_SURFACES and phrase.count == 1:
            phrase.scene = True  # "riding a horse on the moon": the surface is the setting
        if phrase.mass:  # "a plate with rice": part of the plate's description, not a region of its own
            if group:
                owner = objects[group[-1]]
                owner.prompt = (
                    f"{owner.prompt}, {phrase.text}" if owner.prompt.count(",") < 4 else owner.prompt
                )
            last_was_np = False
            continue
        if phrase.scene:
            settings.append(phrase.text)
            if pending in {"in", "on", "at", None, "with", "above", "below", "front", "behind", "next"}:
                pending = None if pending != "with" else "with_scene"
            last_was_np = True
            continue
        whole = _whole_of(phrase, objects, settings)
        if whole == SETTING:  # "a full moon above the trees" of a forest: high in the picture
            where = {"above": "top", "below": "bottom"}.get(pending or "")
            for subject in group if where else []:
                objects[subject].positions.add(where)
            pending, last_was_np = None, True
            continue
        earlier = [i for i, o in enumerate(objects) if o.head == phrase.head and not o.scene]
        if whole is not None:
            index = whole  # "the buildings" of "a city skyline"
        elif earlier and re.match(r"(?:the|that|this|these|those|both)\b", phrase.text.strip()):
            index = earlier[-1]  # "the woman" names the woman mentioned before
            objects[index].positions |= phrase.positions | pending_positions
            objects[index].loose_positions |= pending_positions
        else:
            phrase.positions |= pending_positions
            phrase.loose_positions |= pending_positions
            objects.append(phrase)
            index = len(objects) - 1
        pending_positions = set()
        if pending == "between":
            between_targets.append(index)
            if len(between_targets) == 2 and group:
                for subject in group:
                    relations.append(
                        Relation(subject, "between", *between_targets, explicit=not group_is_target)
                    )
                between_targets, pending, group, group_is_target = [], None, [index], True
            last_was_np = True
            continue
        if pending == "with_scene":
            pending = None
        in_list = pending is None and bool(list_owners)  # "a desk with a monitor, a keyboard and a mug"
        if pending and group:
            verb = pending[5:] if pending.startswith("verb:") else None
            new = index == len(objects) - 1 and index not in group
            if (pending in {"with", "in"} or verb) and phrase.head in WEARABLES and new:
                owner = objects[group[-1]]
                owner.prompt = f"{owner.prompt} {verb or pending} {phrase.text.strip()}"
                objects.pop()
                pending, last_was_np = None, True
                continue
            if verb:
                for subject in group:
                    objects[subject].prompt = f"{objects[subject].prompt} {verb} {phrase.phrase}"
                meaning = VERB_RELATIONS.get(verb, "with")
                if meaning == "fly":
                    relations += [Relation(index, "above", subject) for subject in group]
                elif meaning in {"with", "hold"}:
                    relations += [Relation(index, meaning, subject) for subject in group]
                    predicate = phrase.prompt[len(phrase.phrase) :].strip()
                    if predicate.split()[:1] and predicate.split()[0].endswith("ing"):
                        # "a woman holding an umbrella walking past a bakery": the woman walks
                        phrase.prompt = phrase.phrase
                        for subject in group:
                            objects[subject].prompt = f"{objects[subject].prompt} {predicate}"
                    owners = list_owners = list(group)
                else:
                    relations += [Relation(subject, meaning, index) for subject in group]
            elif pending == "with":
                for subject in group:
                    relations.append(Relation(index, "with", subject))
                owners = list_owners = list(group)
            elif pending != "at":
                located = owners if owners and pending in LOCATING else group
                explicit = located is group and not group_is_target
                for subject in located:
                    relations.append(Relation(subject, _normalise(pending), index, explicit=explicit))
                owners = list_owners = []
            group, group_is_target = [index], True
            pending, placed = None, True  # "a lamp on a nightstand and a painting": the painting starts anew
        elif pending is None and not last_was_np and group and not placed and items_sep_was_and(items, value):
            group.append(index)
        else:
            group, placed, group_is_target = [index], False, False
            pending = None
        if in_list and index not in list_owners and _smaller(phrase, objects[list_owners[-1]]):
            relations += [Relation(index, "with", owner) for owner in list_owners]
        last_was_np = True
    base_prompt = " ".join(remaining.replace(" ,", ",").split()).strip(" ,;") or prompt.strip()
    negative_heads = set()
    for text in negatives:
        words = re.findall(r"[a-z]+", text)
        if words:
            negative_heads.add(singular(words[-1]))
    return Scene(
        prompt=prompt,
        base_prompt=_restore_case(prompt, base_prompt),
        objects=objects,
        relations=relations,
        negatives=negatives,
        negative_heads=negative_heads,
        settings=settings,
        context=scene_context(lowered),
    )


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


def items_sep_was_and(items: list[tuple[str, str]], np_text: str) -> bool:
    """Whether the noun phrase ``np_text`` directly follows an "and" (so it joins the current subjects)."""
    for position, (kind, value) in enumerate(items):
        if kind == "np" and value == np_text and position > 0:
            return items[position - 1] == ("sep", "and")
    return False


def _normalise(kind: str) -> str:
    return {"in": "on", "at": "next"}.get(kind, kind)


def _restore_case(original: str, lowered: str) -> str:
    """Give the lower-cased base prompt back the prompt's own capitals where the text is unchanged."""
    flat = " ".join(original.replace("’", "'").split())
    return flat if flat.lower() == lowered else lowered
