"""How far a relation reaches in the offline parse: pronouns after verbs, "between" and its two targets, and
the owner of a comma list. Each defect class in several phrasings."""

from __future__ import annotations

import pytest

from planner.checks import relation_holds
from planner.offline import plan_offline
from planner.parse import Scene, parse_prompt
from planner.repair import head_of

PLACED_KINDS = {"left", "right", "above", "below", "on", "front", "behind", "next", "between", "with", "hold"}
"""The relation kinds the placer and the checks know."""


def _relations(scene: Scene) -> set[tuple[str, ...]]:
    """(subject, kind, target[, target2]) heads of every relation."""
    heads = [o.head for o in scene.objects]
    return {
        (heads[r.subject], r.kind, heads[r.target], *([heads[r.target2]] if r.target2 is not None else []))
        for r in scene.relations
    }


def _assert_well_formed(scene: Scene) -> None:
    """Every relation is of a kind the placer knows; a "between" has two different targets."""
    assert all(r.kind in PLACED_KINDS for r in scene.relations), scene.relations
    for r in scene.relations:
        if r.kind == "between":
            assert r.target2 is not None and r.target != r.target2, r


@pytest.mark.parametrize(
    ("prompt", "held", "holder"),
    [
        ("a table, a man holding it", "table", "man"),
        ("a cat next to a dog holding it", "cat", "dog"),
        ("a puppy. a girl carrying it", "puppy", "girl"),
        ("two kittens, a boy holding them", "kitten", "boy"),
    ],
)
def test_a_pronoun_after_a_holding_verb_is_held_like_a_named_object(
    prompt: str, held: str, holder: str
) -> None:
    scene = parse_prompt(prompt)
    _assert_well_formed(scene)
    assert (held, "hold", holder) in _relations(scene)
    holder_prompt = next(o.prompt for o in scene.objects if o.head == holder)
    assert held in holder_prompt and " it" not in holder_prompt and "them" not in holder_prompt


@pytest.mark.parametrize(
    "prompt",
    [
        "a lamp between a sofa. a vase between a cup and a plate",
        "a lamp between a sofa; a vase between a cup and a plate",
        "a lamp between a sofa on a rug, a vase between a cup and a plate",
    ],
)
def test_between_starts_afresh_after_a_sentence_or_another_relation(prompt: str) -> None:
    scene = parse_prompt(prompt)
    _assert_well_formed(scene)
    betweens = {r for r in _relations(scene) if r[1] == "between"}
    assert betweens == {("vase", "between", "cup", "plate")}


@pytest.mark.parametrize(
    ("prompt", "subject", "group"),
    [
        ("two chairs with a table between them", "table", "chair"),
        ("three cups with a candle between them", "candle", "cup"),
        ("two trees and a bench between them", "bench", "tree"),
    ],
)
def test_between_them_after_a_plural_stands_beside_the_group(prompt: str, subject: str, group: str) -> None:
    scene = parse_prompt(prompt)
    _assert_well_formed(scene)
    assert (subject, "next", group) in _relations(scene)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a sofa and an armchair with a lamp between them", ("lamp", "between", "sofa", "armchair")),
        ("a cat and a dog with a ball between them", ("ball", "between", "cat", "dog")),
        ("a car, a truck, a bicycle between them", ("bicycle", "between", "car", "truck")),
    ],
)
def test_between_them_after_two_objects_stands_between_them(prompt: str, expected: tuple[str, ...]) -> None:
    scene = parse_prompt(prompt)
    _assert_well_formed(scene)
    assert expected in _relations(scene)


@pytest.mark.parametrize(
    ("prompt", "kept"),
    [
        ("a vase on a table between them", ("vase", "on", "table")),
        ("a cat under a chair between them", ("cat", "below", "chair")),
    ],
)
def test_between_them_with_no_two_antecedents_relates_nothing(prompt: str, kept: tuple[str, ...]) -> None:
    scene = parse_prompt(prompt)
    _assert_well_formed(scene)
    assert {r for r in _relations(scene) if r[1] == "between"} == set()
    assert kept in _relations(scene)


@pytest.mark.parametrize(
    ("prompt", "first", "second"),
    [
        ("a man holding an umbrella, a dog holding a ball", "man", "dog"),
        ("a woman carrying a bag, a cat with a toy", "woman", "cat"),
        ("a boy holding a kite, a girl next to a tree", "boy", "girl"),
        ("a desk with a lamp, a cat sleeping on a rug", "desk", "cat"),
    ],
)
def test_a_list_item_with_its_own_relation_is_not_the_owners(prompt: str, first: str, second: str) -> None:
    scene = parse_prompt(prompt)
    _assert_well_formed(scene)
    assert not any({first, second} == {r[0], r[2]} for r in _relations(scene))


@pytest.mark.parametrize(
    ("prompt", "owner", "items"),
    [
        ("a desk with a monitor, a keyboard and a mug", "desk", {"monitor", "keyboard", "mug"}),
        ("a woman holding a cup, a saucer and a spoon", "woman", {"cup", "saucer", "spoon"}),
    ],
)
def test_a_plain_list_after_an_owner_still_belongs_to_it(prompt: str, owner: str, items: set[str]) -> None:
    related = {r[0] for r in _relations(parse_prompt(prompt)) if r[2] == owner}
    assert items <= related


@pytest.mark.parametrize(
    ("prompt", "subject", "targets"),
    [
        ("a sofa and an armchair with a lamp between them", "lamp", ("sofa", "armchair")),
        ("a bed and a dresser with a plant between them", "plant", ("bed", "dresser")),
        ("a cat and a dog with a ball between them", "ball", ("cat", "dog")),
    ],
)
def test_between_them_is_drawn_between_the_two(prompt: str, subject: str, targets: tuple[str, str]) -> None:
    """The "with" that introduces the subject does not put it on one of the two (an armchair carries things)."""
    boxes = {head_of(r.phrase): r.box for r in plan_offline(prompt, 1024, 1024).regions}
    assert relation_holds("between", boxes[subject], boxes[targets[0]], boxes[targets[1]])
    middle = (boxes[subject][0] + boxes[subject][2]) / 2
    assert not any(boxes[t][0] < middle < boxes[t][2] for t in targets)  # beside each, on neither


@pytest.mark.parametrize(
    "prompt",
    [
        "a lamp between a sofa, the sofa",
        "a cat between a box and the box",
        "a lamp between a sofa, the sofa holding it",
    ],
)
def test_the_same_object_named_twice_is_not_both_targets_of_between(prompt: str) -> None:
    _assert_well_formed(parse_prompt(prompt))


@pytest.mark.parametrize(
    "prompt",
    [
        "a cat next to the cat",
        "a table holding a beach, the table on a rug",
        "a lamp above the lamp and a chair",
        "a dog between the dog and a tree",
    ],
)
def test_no_object_is_related_to_itself(prompt: str) -> None:
    scene = parse_prompt(prompt)
    assert scene.objects
    assert all(r.subject not in (r.target, r.target2) for r in scene.relations), scene.relations
