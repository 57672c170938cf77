"""The offline planner's reading of a prompt: noun phrases (``NounPhrase``), the relations between them
(``Relation``) and the whole ``Scene``."""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.lexicon import (
    OBJECT_SHAPES,
)
from planner.pos import (
    clearly_noun,
)


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
