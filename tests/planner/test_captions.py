"""Caption-style prompts the offline planner used to misread: each failure class in several phrasings."""

from __future__ import annotations

import pytest

from planner.offline import plan_offline
from planner.parse import parse_prompt


def regions(prompt: str) -> list[tuple[str, str]]:
    return [(r.phrase, r.prompt) for r in plan_offline(prompt, 1024, 1024).regions]


@pytest.mark.parametrize(
    ("prompt", "phrase"),
    [
        ("A grey and white cat sleeping next to a brown dog", "a grey and white cat"),
        ("a black and white dog on a red sofa", "a black and white dog"),
        ("an orange and white kitten beside a blue vase", "an orange and white kitten"),
    ],
)
def test_coordinated_colours_describe_one_object(prompt: str, phrase: str) -> None:
    phrases = [p for p, _ in regions(prompt)]
    assert phrases[0] == phrase and len(phrases) == 2


@pytest.mark.parametrize(
    ("prompt", "heads", "medium"),
    [
        ("a close up of a bowl of ramen with chopsticks", {"bowl", "chopstick"}, "close up"),
        ("close-up of a red apple on a wooden table", {"apple", "table"}, "close-up"),
        ("a watercolor painting of two horses in a meadow", {"horse"}, "watercolor painting"),
    ],
)
def test_framing_words_are_context_not_objects(prompt: str, heads: set[str], medium: str) -> None:
    scene = parse_prompt(prompt)
    assert {o.head for o in scene.objects} == heads
    assert medium in scene.context
    assert all(medium in p for _, p in regions(prompt))


@pytest.mark.parametrize(
    ("prompt", "held"),
    [
        ("a woman holding an umbrella walking past a bakery", "an umbrella"),
        ("a man carrying a bag walking down a street", "a bag"),
        ("a boy holding a kite running on a beach", "a kite"),
    ],
)
def test_a_participle_after_a_held_object_belongs_to_the_holder(prompt: str, held: str) -> None:
    by_phrase = dict(regions(prompt))
    assert by_phrase[held].split(",")[0] == held  # the umbrella does not walk
    holder = next(p for p in by_phrase.values() if "holding" in p or "carrying" in p)
    assert "ing" in holder.split(held)[1]  # the holder does


@pytest.mark.parametrize(
    ("prompt", "weather"),
    [
        ("a man standing in the rain", "in the rain"),
        ("a dog lying in the shade", "in the shade"),
        ("a girl reading a book in the sun", "in the sun"),
        ("a lighthouse on a foggy night", "foggy night"),
    ],
)
def test_weather_and_light_go_to_the_background_and_every_region(prompt: str, weather: str) -> None:
    layout = plan_offline(prompt, 1024, 1024)
    assert weather in (layout.background_prompt or "")
    assert layout.regions and all(weather in r.prompt for r in layout.regions)
    assert not any(w in r.phrase for r in layout.regions for w in ("rain", "shade", "sun ", "night"))


@pytest.mark.parametrize(
    ("prompt", "heads"),
    [
        ("a cat sitting on the arm of a couch", {"cat", "couch"}),
        ("a bird perched on the edge of a bowl", {"bird", "bowl"}),
        ("a boy sitting on the back of a truck", {"boy", "truck"}),
    ],
)
def test_a_part_of_an_object_places_on_the_object(prompt: str, heads: set[str]) -> None:
    assert {o.head for o in parse_prompt(prompt).objects} == heads


@pytest.mark.parametrize(
    "prompt",
    [
        "a dog that is looking up at a bird",
        "a man who is riding a bike",
        "two cats that are sleeping on a bed",
    ],
)
def test_relative_clauses_and_copulas_are_not_objects(prompt: str) -> None:
    scene = parse_prompt(prompt)
    assert not any(w in o.prompt.split() for o in scene.objects for w in ("that", "who", "is", "are"))
    assert all(o.sure for o in scene.objects)


@pytest.mark.parametrize(
    ("prompt", "subject", "owner"),
    [
        ("a bookshelf with three potted plants and a cat sleeping under it", "cat", "bookshelf"),
        ("a table with two cups and a dog lying under it", "dog", "table"),
    ],
)
def test_it_names_the_singular_object_before(prompt: str, subject: str, owner: str) -> None:
    scene = parse_prompt(prompt)
    pairs = {(scene.objects[r.subject].head, r.kind, scene.objects[r.target].head) for r in scene.relations}
    assert (subject, "below", owner) in pairs


def test_region_prompts_share_medium_light_and_setting() -> None:
    layout = plan_offline(
        "an oil painting of a red fox on the left and a snowy cabin on the right at dusk", 1024, 1024
    )
    assert [r.prompt for r in layout.regions] == [
        "a red fox, oil painting, at dusk",
        "a snowy cabin, oil painting, at dusk",
    ]
    assert layout.background_prompt == "oil painting, at dusk"
