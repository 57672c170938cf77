"""Read a caption's items (``planner.markers.tokenise``) left to right into objects, relations and settings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from planner.lexicon import (
    BACKDROPS,
    DEFAULT_SHAPE,
    GROUND_SURFACES,
    OBJECT_SHAPES,
    PART_OF,
    PEOPLE,
    SEATED,
    TABLETOPS,
    VERB_RELATIONS,
    WEARABLES,
)
from planner.noun_phrase import cut_predicate, own_body_part, read_noun_phrase, singular
from planner.scene import NounPhrase, Relation

LOCATING = {"on", "in", "next", "front", "behind", "left", "right", "above", "below", "at"}
"""Relations that locate a whole phrase: after "a cake with candles", "on a table" places the cake."""

AMONG = {"next", "front", "behind", "left", "right", "above", "below"}
"""Relations that place a thing among others, not on or in them: what rests on the subjects, or came with
them, goes along ("two men riding horses in front of a palace": the men are in front of it too)."""

IMPLIED_POSITIONS = {"sky": "top", "overhead": "top", "underfoot": "bottom"}
"""Positions a caption implies rather than states (``planner.markers``): the band, as advice."""

CONTACT = {"on", "in"}
"""Relations that put the subject on or in its target, to go wherever the target goes."""


@dataclass
class CaptionReader:
    """Reads a prompt's items (``tokenise``) left to right into objects, relations and settings.

    Subjects are the noun phrases a relation starts from; a relation word waits (``pending``) until the noun
    phrase that is its target, which then becomes the subject of what follows ("a cat on a mat left of a
    dog": the mat is left of the dog, and the cat on it goes along, ``carried``)."""

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
    carried: dict[int, list[int]] = field(default_factory=dict)
    """What rests on or in an object, directly or not ("a toaster on a shelf": the shelf carries the
    toaster), to place it along with the object among others (``AMONG``)."""
    last_was_np: bool = False
    """The previous item was a noun phrase (or a setting)."""
    at: int = -1
    """Index in ``items`` of the item being read."""
    part_named: bool = False
    """A body part of the subjects was just named ("resting its head"): a contact relation that follows is
    the part's ("on the back of another zebra"), so the subjects themselves are only beside its target."""
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
        if kind != "rel":
            self.part_named = False  # only the relation right after the part is the part's
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
        # "kites in the sky", "a kite flying above": high up, though not a stated side
        implied = where in IMPLIED_POSITIONS
        where = IMPLIED_POSITIONS.get(where, where)
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
        """A verb right after its subjects ("a woman holding ..."), or after a particle ("a girl kneels down to
        pet a dog"): it waits for its object."""
        if self.group and (self.last_was_np or self._after_particle()):
            self.pending = f"verb:{verb}"
        self.last_was_np = False

    def _after_particle(self) -> bool:
        """Whether the item before the one being read is a relation word right after a noun phrase, with no
        target of its own: an adverb particle ("kneels down", "looks up")."""
        before = [kind for kind, _ in self.items[max(0, self.at - 2) : self.at]]
        return before == ["np", "rel"]

    def _relation(self, kind: str) -> None:
        """A relation word: it waits for its target ("next to" inside "between ... next to" is no new one); a
        "between" gathers its two targets afresh."""
        if self.pending == "between" and kind == "next":
            return
        if self.part_named and kind in CONTACT:
            kind = "next"
        self.part_named = False
        if kind == "between":
            self.between_targets = []
        self.pending = kind
        self.last_was_np = False

    def _noun_phrase(self, text: str) -> None:
        """A noun phrase: an object, a setting, stuff that describes the last subject, or none."""
        phrase = read_noun_phrase(_one_named(text, self.objects), coordinated=self._joins_subjects(text))
        if phrase is None:
            self._no_phrase(text)
            return
        phrase.scene = phrase.scene or self._is_place(phrase)
        if phrase.mass:
            self._describe_subject(phrase)
        elif phrase.scene:
            self._setting(phrase)
        else:
            self._object(phrase, text)

    def _is_place(self, phrase: NounPhrase) -> bool:
        """Whether an object noun is the setting here: a ground surface something is on ("riding a horse on the
        moon"), a backdrop something is on, in or at, or that comes with a place ("a clock on the wall", "a
        room with white walls"; but "a bench in front of a brick wall" and "a brick wall with a bench" draw
        the wall)."""
        if phrase.head in GROUND_SURFACES:
            return self.pending == "on" and phrase.count == 1
        return phrase.head in BACKDROPS and self.pending in {"on", "in", "at", "with", "with_scene"}

    def _no_phrase(self, text: str) -> None:
        """Text that names no object ends the waiting relation ("pine trees on both sides, a rainbow": "sides"
        is no object); "it", "them", "him" or "her" there is the object mentioned before ("a table with a vase
        on it")."""
        self.part_named = own_body_part(text.split())
        verb = self._pending_verb()
        if self.part_named and verb:  # "a zebra resting its head": the part stays in the subject's prompt
            for subject in self.group:
                self.objects[subject].prompt = f"{self.objects[subject].prompt} {verb} {text.strip()}"
        pronoun = None if self.part_named else re.search(r"\b(?:it|them|him|her)\b", text)
        if self.pending == "on" and text.strip() == "top" and self.list_owners:
            self._on_top()
        elif self.pending == "between" and pronoun and self.group:
            self._between_pronoun()
        elif self.pending and pronoun and self.group:
            self._pronoun_object(pronoun.group(0))
        self.pending = None
        self.last_was_np = False

    def _on_top(self) -> None:
        """ "on top" with nothing after it: what came with the list's owner lies on it ("a stove with a kettle
        and a pot on top")."""
        for relation in self.relations:
            if relation.kind == "with" and relation.target in self.list_owners:
                relation.kind = "on"

    def _antecedent(self, pronoun: str) -> int | None:
        """The object ``pronoun`` names, of those before the subjects: for "him" or "her", the last person,
        else the first object (the caption's topic: "a batter with an umpire behind him"); for "it" (one
        object) or "them" (several), the last one that agrees in number, else the last one."""
        candidates = [i for i in range(len(self.objects)) if i not in self.group]
        if pronoun in {"him", "her"}:
            people = [i for i in candidates if self.objects[i].head in PEOPLE]
            return people[-1] if people else next(iter(candidates), None)
        plural = pronoun == "them"
        earlier = [i for i in candidates if (self.objects[i].count > 1) == plural] or candidates
        return earlier[-1] if earlier else None

    def _pronoun_object(self, pronoun: str) -> None:
        """The waiting relation or verb with a pronoun as its target: "a table with a vase on it", "a table, a
        man holding it" (held, as "a man holding a table" would be)."""
        earlier = self._antecedent(pronoun)
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
        elif self._joins_subjects(text) or in_list and self._joins_list_items(phrase, text):
            self.group.append(index)
        else:
            self.group, self.placed, self.group_is_target = [index], False, False
            self.pending = None
        if in_list and index not in self.list_owners and _smaller(phrase, self.objects[self.list_owners[-1]]):
            self.relations += [Relation(index, "with", owner) for owner in self.list_owners]
        self.last_was_np = True

    def _joins_list_items(self, phrase: NounPhrase, text: str) -> bool:
        """Whether ``phrase`` is one more item of the list after a "with", to be placed with the items before
        it ("a batter with an umpire and a catcher behind him"): right after "and" after those items, with no
        predicate or clause of its own ("a man with a dog and a woman with a cat": the woman is no item; "a
        box with a ball on the left and a cube": the cube is not on the left)."""
        items = {r.subject for r in self.relations if r.kind == "with" and r.target in self.list_owners}
        following = self.items[self.at + 1] if self.at + 1 < len(self.items) else None
        own_clause = following is not None and (following[0] == "verb" or following == ("rel", "with"))
        right_after = [kind for kind, _ in self.items[max(0, self.at - 2) : self.at]] == ["np", "sep"]
        return (
            bool(self.group)
            and set(self.group) <= items
            and phrase.prompt == phrase.phrase
            and not own_clause
            and right_after
            and _follows_and(self.items, text)
        )

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
        # "wearing", "carrying"; not "facing", "sniffing"
        wearing_verb = VERB_RELATIONS.get(verb or "") in {"with", "hold"}
        if not ((self.pending in {"with", "in"} or wearing_verb) and phrase.head in WEARABLES and new):
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
            self._place_located(index)
            self.owners = self.list_owners = []
        self.group, self.group_is_target = [index], True
        self.pending, self.placed = None, True

    def _place_located(self, index: int) -> None:
        """The waiting relation from what it locates (``_located``) to the object ``index``; what goes on or
        in that object rides along with it from now on."""
        kind = _relation_kind(self.pending or "")
        owners = self._locating_owners(index)
        located = self._located(owners)
        stated = not self.group_is_target and not owners
        for subject in located:
            explicit = stated and subject in self.group
            self.relations.append(Relation(subject, kind, index, explicit=explicit))
        if kind in CONTACT:
            self._carry(index, located)

    def _locating_owners(self, target: int) -> list[int]:
        """The owners the waiting relation to ``target`` locates: those of a "with" or a verb just read, unless
        they cannot be on a tabletop ("a woman eating a pizza on the table": the pizza is on it)."""
        if not self.owners or self.pending not in LOCATING:
            return []
        tabletop = self.objects[target].head in TABLETOPS - SEATED
        if self.pending == "on" and tabletop:
            return [o for o in self.owners if _smaller(self.objects[o], self.objects[target])]
        return self.owners

    def _located(self, owners: list[int]) -> list[int]:
        """What the waiting relation locates: the subjects, or the owners of a "with" just read ("a cake with
        candles on a table": the cake); a relation among others takes the owner's items too ("a table with
        chairs in front of a window": the chairs too), and what rests on them ("a toaster on a shelf in front
        of a blender": the toaster too)."""
        located = list(self.group)
        if owners:
            located = owners + (located if self.pending in AMONG else [])
        if self.pending in AMONG:
            located += [riding for subject in located for riding in self.carried.get(subject, [])]
        return list(dict.fromkeys(located))

    def _carry(self, carrier: int, riders: list[int]) -> None:
        """``riders`` now rest on or in ``carrier``, with whatever rests on them."""
        load = self.carried.setdefault(carrier, [])
        for rider in riders:
            load += [r for r in [rider, *self.carried.get(rider, [])] if r not in load and r != carrier]

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
            if meaning in CONTACT:
                self._carry(index, self.group)  # "two men riding horses"

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
    return " ".join(cut_predicate(phrase.text.split())[0])


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
