"""Caption grammar the offline planner reads into layouts: finite verbs, groups split by "between" and "one of",
"one" for a noun named before, "full of", "on top", and commas inside a "with" list; a wall as object or
setting, manner phrases and infinitives that name no place, adjectives with a complement after their noun,
plural verbs of subjects joined by "and", "him" and "her", "with" lists sharing a place, and what rests on or
comes with an object going along with it."""

from __future__ import annotations

from collections import Counter

import pytest

from planner.offline import plan_offline
from planner.parse import parse_prompt
from regional import Layout


def layout(prompt: str) -> Layout:
    return plan_offline(prompt, 1024, 768)


def phrase_counts(prompt: str) -> Counter[str]:
    return Counter(region.phrase for region in layout(prompt).regions)


def centre_x(box: tuple[float, float, float, float]) -> float:
    return (box[0] + box[2]) / 2


def relations(prompt: str) -> set[tuple[str, str, str]]:
    scene = parse_prompt(prompt)
    return {(scene.objects[r.subject].head, r.kind, scene.objects[r.target].head) for r in scene.relations}


@pytest.mark.parametrize(
    ("prompt", "between", "sides"),
    [
        ("a cat between the two chairs", "a cat", "a chair"),
        ("A horse is standing between two parked cars.", "a horse", "a parked car"),
        ("a lamp standing between two sofas", "a lamp", "a sofa"),
    ],
)
def test_a_plural_group_after_between_is_split_around_the_subject(
    prompt: str, between: str, sides: str
) -> None:
    regions = layout(prompt).regions
    middle = [centre_x(r.box) for r in regions if r.phrase == between]
    outer = sorted(centre_x(r.box) for r in regions if r.phrase == sides)
    assert len(middle) == 1 and len(outer) == 2
    assert outer[0] < middle[0] < outer[1]


def test_between_a_group_and_another_object_keeps_the_group() -> None:
    scene = parse_prompt("a lamp between the chairs and the table")
    assert [(o.head, o.count) for o in scene.objects] == [("lamp", 1), ("chair", 2), ("table", 1)]
    assert [(r.kind, r.target, r.target2) for r in scene.relations] == [("between", 1, 2)]


@pytest.mark.parametrize(
    ("prompt", "counts"),
    [
        ("A girl kneels down to pet two dogs.", {"a girl": 1, "a dog": 2}),
        ("Three people ride on the back of an elephant", {"a person": 3, "an elephant": 1}),
        ("The sleek black briefcase sat on the clean white sofa.", {"the sleek black briefcase": 1}),
        ("A woman and a small child watch a train as it passes.", {"a small child": 1, "a train": 1}),
        ("Two toilets sit outside a fence on the sidewalk", {"a toilet": 2, "a fence": 1}),
        ("the old table has a bowl of apples on it", {"the old table": 1, "a bowl of apples": 1}),
    ],
)
def test_a_finite_verb_ends_its_subject_and_takes_an_object(prompt: str, counts: dict[str, int]) -> None:
    found = phrase_counts(prompt)
    assert {phrase: found[phrase] for phrase in counts} == counts


def test_a_finite_verb_before_its_object_names_it_in_the_subject_prompt() -> None:
    regions = {r.phrase: r.prompt for r in layout("a small child watch a train").regions}
    assert regions["a small child"].startswith("a small child watching a train")


@pytest.mark.parametrize(
    ("prompt", "counts"),
    [
        ("an orange potted plant next to a red car", {"an orange potted plant": 1, "a red car": 1}),
        ("A giraffe standing under a leaf filled tree.", {"a leaf filled tree": 1, "a giraffe": 1}),
        ("a frosted donut sitting on top of a jump rope", {"a jump rope": 1, "a frosted donut": 1}),
        ("two parked cars near a bench", {"a parked car": 2, "a bench": 1}),
    ],
)
def test_a_verb_form_inside_a_noun_phrase_modifies_the_noun(prompt: str, counts: dict[str, int]) -> None:
    found = phrase_counts(prompt)
    assert {phrase: found[phrase] for phrase in counts} == counts


@pytest.mark.parametrize(
    ("prompt", "head", "total"),
    [
        ("two zebras standing close to a little one", "zebra", 3),
        ("three sheep with a baby one", "sheep", 4),
        ("Two dogs in a grassy field with one dog holding an orange disc.", "dog", 2),
        ("four children in a room with one of the children holding a toy", "child", 4),
    ],
)
def test_one_names_the_noun_before_and_one_of_a_group_is_no_new_object(
    prompt: str, head: str, total: int
) -> None:
    scene = parse_prompt(prompt)
    assert sum(o.count for o in scene.objects if o.head == head) == total


def test_one_of_a_group_keeps_its_own_verb() -> None:
    prompts = [
        r.prompt
        for r in layout("two dogs on a lawn with one dog holding a ball").regions
        if r.phrase == "a dog"
    ]
    assert len(prompts) == 2 and sum("holding a ball" in p for p in prompts) == 1


def test_full_of_describes_the_container() -> None:
    assert phrase_counts("A vase full of white flowers sitting on a wooden table.") == {
        "a vase full of white flowers": 1,
        "a wooden table": 1,
    }


def test_on_top_puts_the_with_list_on_its_owner() -> None:
    prompt = "a stove with a tea kettle and cooking pot on top"
    assert relations(prompt) == {("kettle", "on", "stove"), ("pot", "on", "stove")}
    boxes = {r.phrase: r.box for r in layout(prompt).regions}
    assert all(boxes[held][1] < boxes["a stove"][1] for held in ("a tea kettle", "cooking pot"))


def test_a_comma_inside_a_with_list_keeps_the_item_with_its_owner() -> None:
    assert relations("a desk with a monitor, a keyboard on a mat") == {
        ("monitor", "with", "desk"),
        ("keyboard", "with", "desk"),
        ("keyboard", "on", "mat"),
    }


def test_a_comma_before_a_verb_still_starts_a_clause() -> None:
    assert ("dog", "with", "man") not in relations("a man with an umbrella, a dog holding a ball")


@pytest.mark.parametrize(
    ("prompt", "counts"),
    [
        ("two cats sitting on a pair of shoes outdoors", {"cat": 2, "shoe": 2}),
        ("Two large elephants together with a baby elephant close by.", {"elephant": 3}),
    ],
)
def test_trailing_adverbs_are_not_nouns(prompt: str, counts: dict[str, int]) -> None:
    found: Counter[str] = Counter()
    for obj in parse_prompt(prompt).objects:
        found[obj.head] += obj.count
    assert found == counts


def heads(prompt: str) -> set[str]:
    return {o.head for o in parse_prompt(prompt).objects}


@pytest.mark.parametrize(
    ("prompt", "drawn"),
    [
        ("a wooden bench in front of a stone wall", True),
        ("a stone wall with a red door", True),
        ("a clock on the wall", False),
        ("a kitchen with white walls and a stove", False),
    ],
)
def test_a_wall_is_an_object_unless_something_is_on_in_or_with_it(prompt: str, drawn: bool) -> None:
    scene = parse_prompt(prompt)
    assert ("wall" in {o.head for o in scene.objects}) is drawn
    assert any("wall" in s for s in scene.settings) is not drawn


def test_a_manner_phrase_is_no_place() -> None:
    assert phrase_counts("a sliced in half apple on a plate") == {"a sliced in half apple": 1, "a plate": 1}
    assert relations("a sliced in half apple on a plate") == {("apple", "on", "plate")}


@pytest.mark.parametrize(
    ("prompt", "subject", "prompt_starts"),
    [
        ("a dog ready to jump near a fence", "dog", "a dog ready to jump"),
        ("a puppy eager for a treat beside a bowl", "puppy", "a puppy eager for a treat"),
    ],
)
def test_an_adjective_after_its_noun_with_a_complement_is_predicate(
    prompt: str, subject: str, prompt_starts: str
) -> None:
    scene = parse_prompt(prompt)
    assert scene.objects[0].head == subject
    assert scene.objects[0].prompt.startswith(prompt_starts)
    assert (subject, "next", scene.objects[-1].head) in relations(prompt)


def test_an_infinitive_is_a_verb_not_a_place_and_a_particle_before_it_places_nothing() -> None:
    assert relations("a boy kneels down to hug a puppy") == {("puppy", "with", "boy")}


@pytest.mark.parametrize(
    ("prompt", "subjects", "kind", "place"),
    [
        ("a girl and a horse wait by a barn", ("girl", "horse"), "next", "barn"),
        ("a boy and a dog nap under a tree", ("boy", "dog"), "below", "tree"),
    ],
)
def test_subjects_joined_by_and_take_a_plural_verb(
    prompt: str, subjects: tuple[str, str], kind: str, place: str
) -> None:
    assert heads(prompt) == {*subjects, place}
    assert {(s, kind, place) for s in subjects} == relations(prompt)


def test_a_known_object_after_joined_subjects_stays_a_compound_noun() -> None:
    assert heads("a man and a dog bed") == {"man", "bed"}


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a king on a throne with a guard behind him", ("guard", "behind", "king")),
        ("a woman with two cats beside her", ("cat", "next", "woman")),
    ],
)
def test_him_and_her_name_the_person_before(prompt: str, expected: tuple[str, str, str]) -> None:
    assert expected in relations(prompt)
    assert "him" not in heads(prompt)


def test_items_joined_by_and_after_with_share_a_place() -> None:
    found = relations("a knight with a horse and a dog behind him")
    assert {("horse", "behind", "knight"), ("dog", "behind", "knight")} <= found


def test_an_item_with_its_own_position_keeps_it() -> None:
    scene = parse_prompt("a box with a red ball on the left and a blue cube on the right")
    assert {o.head: o.positions for o in scene.objects[1:]} == {"ball": {"left"}, "cube": {"right"}}


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        (
            "a cat sits on a cushion in front of a lamp",
            {("cat", "front", "lamp"), ("cushion", "front", "lamp")},
        ),
        ("a boy riding a pony behind a fence", {("boy", "behind", "fence"), ("pony", "behind", "fence")}),
        (
            "a desk with two chairs next to a window",
            {("desk", "next", "window"), ("chair", "next", "window")},
        ),
    ],
)
def test_what_rests_on_or_comes_with_an_object_goes_with_it_among_others(
    prompt: str, expected: set[tuple[str, str, str]]
) -> None:
    assert expected <= relations(prompt)


@pytest.mark.parametrize(
    ("prompt", "unexpected"),
    [
        ("a cup on a saucer on a table", ("cup", "on", "table")),
        ("a cake with candles on a table", ("candle", "on", "table")),
    ],
)
def test_what_rests_on_an_object_is_not_put_on_its_support_too(
    prompt: str, unexpected: tuple[str, str, str]
) -> None:
    assert unexpected not in relations(prompt)


def boxes(prompt: str, phrase: str) -> list[tuple[float, float, float, float]]:
    return [r.box for r in layout(prompt).regions if r.phrase == phrase]


@pytest.mark.parametrize(
    ("prompt", "item", "on_it"),
    [
        ("a table with two chairs", "a chair", False),
        ("a desk with an armchair", "an armchair", False),
        ("a table with two cups", "a cup", True),
        ("a desk with a lamp", "a lamp", True),
    ],
)
def test_a_support_carries_what_comes_with_it_unless_that_is_a_taller_seat(
    prompt: str, item: str, on_it: bool
) -> None:
    (support,) = boxes(prompt, prompt.split(" with ")[0])
    middle = (support[1] + support[3]) / 2
    assert all((box[3] < middle) is on_it for box in boxes(prompt, item))
