"""Which words of a caption are objects: nouns the lexicon does not list before their predicate, counts after a
verb, "another X", a body part of someone already named, what a verb's object rests on, and an infinitive
after "ready" or "about"."""

from __future__ import annotations

import pytest

from planner.parse import parse_prompt


def objects(prompt: str) -> dict[str, int]:
    scene = parse_prompt(prompt)
    return {o.head: o.count for o in scene.objects}


def relations(prompt: str) -> set[tuple[str, str, str]]:
    scene = parse_prompt(prompt)
    return {(scene.objects[r.subject].head, r.kind, scene.objects[r.target].head) for r in scene.relations}


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Two adult pheasants walking slowly across a street", {"pheasant": 2}),
        ("three flamingos wading near a rock", {"flamingo": 3, "rock": 1}),
        ("A camera sits on a tripod connected to a laptop.", {"camera": 1, "tripod": 1, "laptop": 1}),
        ("Three skiers climb up a snow covered hill.", {"skier": 3}),
        ("two hikers walk down a path next to a cabin", {"hiker": 2, "path": 1, "cabin": 1}),
    ],
)
def test_a_noun_the_lexicon_does_not_list_ends_before_its_predicate(prompt: str, expected: dict) -> None:
    assert objects(prompt) == expected


@pytest.mark.parametrize(
    ("prompt", "thing", "count"),
    [
        ("Two young women are washing two motorcycles with hoses.", "motorcycle", 2),
        ("a man carrying three boxes up the stairs", "box", 3),
        ("a girl feeding four ducks", "duck", 4),
    ],
)
def test_a_number_after_a_verb_counts_its_object(prompt: str, thing: str, count: int) -> None:
    assert objects(prompt)[thing] == count


@pytest.mark.parametrize(
    "prompt",
    [
        "A Zebra is resting its head on the back of another Zebra.",
        "a cup next to another cup",
        "one horse standing beside another horse",
        "A pan  filled with soup next to another pan.",  # "pan" is only a verb to lemminflect
    ],
)
def test_another_names_one_more(prompt: str) -> None:
    found = [(o.head, o.count) for o in parse_prompt(prompt).objects]
    assert len(found) == 2 and found[0] == found[1] and found[0][1] == 1  # two of one kind


@pytest.mark.parametrize(
    ("prompt", "relation"),
    [
        ("a dog resting its head on a pillow", ("dog", "next", "pillow")),
        ("a woman with her hand on a car", ("woman", "next", "car")),
        ("A Zebra is resting its head on the back of another Zebra.", ("zebra", "next", "zebra")),
    ],
)
def test_a_body_part_of_the_subject_is_no_object_and_only_it_touches(prompt, relation) -> None:
    assert all(head not in objects(prompt) for head in ("head", "hand"))
    assert relations(prompt) >= {relation}
    assert not any(kind == "on" for _, kind, _ in relations(prompt))


@pytest.mark.parametrize(
    ("prompt", "on"),
    [
        ("A woman getting ready to eat a pizza on the table.", ("pizza", "on", "table")),
        ("a boy reading a book on a desk", ("book", "on", "desk")),
        ("a cake with candles on a table", ("cake", "on", "table")),  # small enough: the owner goes on it
        ("a cat with a ball on a sofa", ("cat", "on", "sofa")),  # people and pets sit on a sofa
    ],
)
def test_what_rests_on_a_tabletop_is_what_fits_on_it(prompt: str, on: tuple[str, str, str]) -> None:
    found = relations(prompt)
    assert on in found
    assert not any(kind == "on" and subject in {"woman", "boy"} for subject, kind, _ in found)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("A batter getting ready to bat with the catcher and umpire behind him.",
         {"batter": 1, "catcher": 1, "umpire": 1}),
        ("a player about to kick a ball", {"player": 1, "ball": 1}),
    ],
)  # fmt: skip
def test_to_after_ready_or_about_opens_an_infinitive(prompt: str, expected: dict) -> None:
    assert objects(prompt) == expected


@pytest.mark.parametrize(
    ("prompt", "phrases"),
    [
        ("a photo of a yellow sports ball", ["a yellow sports ball"]),
        ("two dog beds next to a sofa", ["a dog bed", "a dog bed", "a sofa"]),
        ("two computer monitors on a desk", ["a computer monitor", "a computer monitor", "a desk"]),
    ],
)
def test_a_known_object_after_a_noun_is_a_compound_not_a_verb(prompt: str, phrases: list[str]) -> None:
    from planner.offline import plan_offline

    assert [r.phrase for r in plan_offline(prompt, 1024, 1024).regions] == phrases


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("A grey and white cat lays in a sink.", {"cat": 1, "sink": 1}),
        ("a dog sits by a door", {"dog": 1, "door": 1}),
        ("A toddler in a pink shirt sits on the lap of a woman.", {"toddler": 1, "woman": 1}),
    ],
)
def test_a_verb_that_is_also_a_noun_after_one_object_ends_it(prompt: str, expected: dict) -> None:
    assert objects(prompt) == expected


def test_a_comma_ends_a_list_item_before_a_verb_can_take_an_object() -> None:
    assert objects("A desk with two computer monitors, two mice, a cup and a keyboard on it.") == {
        "desk": 1, "monitor": 2, "mouse": 2, "cup": 1, "keyboard": 1,
    }  # fmt: skip
