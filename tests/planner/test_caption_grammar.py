"""Caption grammar the offline planner reads into layouts: finite verbs, groups split by "between" and "one of",
"one" for a noun named before, "full of", "on top", and commas inside a "with" list."""

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
