"""The offline planner: objects, counts, attributes, negation, relations, sizes, aspect ratios, overlap."""

import pytest

from planner.checks import HEAVY_OVERLAP_IOU, relation_holds
from planner.offline import plan_offline
from planner.parse import parse_prompt
from planner.repair import head_of, iou
from regional import Layout


def _by_head(layout: Layout) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for region in layout.regions:
        out.setdefault(head_of(region.phrase), []).append(region.box)
    return out


@pytest.mark.parametrize(
    ("prompt", "counts"),
    [
        ("three cups", {"cup": 3}),
        ("a dog", {"dog": 1}),
        ("7 balloons in the sky", {"balloon": 7}),
        ("two cats and five apples", {"cat": 2, "apple": 5}),
        ("a pair of shoes", {"shoe": 2}),
        ("a dozen eggs", {"egg": 12}),
        ("four wolves and a fox", {"wolf": 4, "fox": 1}),
        ("two children, three women and a man", {"child": 2, "woman": 3, "man": 1}),
        ("a fish and two sheep", {"fish": 1, "sheep": 2}),
    ],
)
def test_counts_become_one_region_per_instance(prompt: str, counts: dict[str, int]) -> None:
    layout = plan_offline(prompt, 1024, 1024)
    assert {h: len(b) for h, b in _by_head(layout).items()} == counts
    assert layout.planner == "offline"


def test_phrases_keep_article_and_attributes() -> None:
    layout = plan_offline("a red car and the big blue bicycle, three small green apples", 1024, 768)
    assert [r.phrase for r in layout.regions] == ["a red car", "the big blue bicycle"] + [
        "a small green apple"
    ] * 3


def test_negation_goes_to_negative_prompt_and_never_to_regions() -> None:
    layout = plan_offline("a park with a bench, without people or dogs", 1024, 1024)
    assert [r.phrase for r in layout.regions] == ["a bench"]
    assert layout.negative_prompt == "people, dogs"
    assert "without" not in layout.base_prompt and "dogs" not in layout.base_prompt


def test_setting_is_the_background_not_a_region() -> None:
    layout = plan_offline("a cat sitting on a sofa in a living room", 1024, 1024)
    assert sorted(_by_head(layout)) == ["cat", "sofa"]
    assert layout.background_prompt == "a living room"


@pytest.mark.parametrize(
    ("prompt", "subject", "kind", "target"),
    [
        ("a cat to the left of a dog", "cat", "left", "dog"),
        ("a cat on the left side of a dog", "cat", "left", "dog"),
        ("a dog to the right of a car", "dog", "right", "car"),
        ("a bird above a house", "bird", "above", "house"),
        ("a clock over a fireplace", "clock", "above", "fireplace"),
        ("a cat under a table", "cat", "below", "table"),
        ("a vase on top of a table", "vase", "on", "table"),
        ("an elephant in front of a tree", "elephant", "front", "tree"),
        ("a tree behind a horse", "tree", "behind", "horse"),
        ("a car beneath a kite", "car", "below", "kite"),
        ("a man riding a horse", "man", "on", "horse"),
        ("a boy flying a kite", "kite", "above", "boy"),
        ("on the left a lamp, on the right a chair", "lamp", "left", "chair"),
        ("a cat at the top and a fish at the bottom", "cat", "above", "fish"),
    ],
)
def test_stated_relations_hold_between_box_centres(prompt: str, subject: str, kind: str, target: str) -> None:
    boxes = _by_head(plan_offline(prompt, 1024, 1024))
    assert relation_holds(kind, boxes[subject][0], boxes[target][0]), boxes


def test_between_puts_the_subject_between_the_two() -> None:
    boxes = _by_head(plan_offline("a cup between a plate and a bowl", 1024, 1024))
    assert relation_holds("between", boxes["cup"][0], boxes["plate"][0], boxes["bowl"][0])


def test_groups_keep_their_relation_instance_by_instance() -> None:
    boxes = _by_head(plan_offline("two cats to the left of three dogs", 1024, 1024))
    assert max(b[2] for b in boxes["cat"]) <= min(b[0] for b in boxes["dog"])


def test_the_woman_refers_back_instead_of_adding_a_region() -> None:
    layout = plan_offline("a man to the right of a woman, a bird above the woman", 1024, 1024)
    boxes = _by_head(layout)
    assert len(layout.regions) == 3
    assert relation_holds("above", boxes["bird"][0], boxes["woman"][0])
    assert relation_holds("right", boxes["man"][0], boxes["woman"][0])


def _pixel_aspect(box: tuple, width: int, height: int) -> float:
    return (box[2] - box[0]) * width / ((box[3] - box[1]) * height)


@pytest.mark.parametrize(("width", "height"), [(1024, 1024), (1344, 768), (768, 1344)])
def test_sizes_and_aspect_ratios_follow_the_object_kind_on_any_canvas(width: int, height: int) -> None:
    boxes = _by_head(plan_offline("a man, a car and a cup", width, height))
    assert _pixel_aspect(boxes["man"][0], width, height) < 0.6  # people are tall
    assert _pixel_aspect(boxes["car"][0], width, height) > 1.5  # cars are wide
    area = {h: (b[0][2] - b[0][0]) * (b[0][3] - b[0][1]) for h, b in boxes.items()}
    assert area["cup"] < area["man"] and area["cup"] < area["car"]


def test_birds_fly_high_and_cars_stand_low() -> None:
    boxes = _by_head(plan_offline("a bird and a car", 1024, 1024))
    assert boxes["bird"][0][3] < 0.5 < boxes["car"][0][1]


@pytest.mark.parametrize(
    "prompt",
    [
        "five apples and four oranges",
        "a cat, a dog, a horse and a cow",
        "three people next to two cars",
        "twelve eggs",
        "a lamp, a chair, a table, a sofa, a clock and a vase",
    ],
)
def test_boxes_avoid_heavy_overlap(prompt: str) -> None:
    boxes = [r.box for r in plan_offline(prompt, 1024, 1024).regions]
    assert all(iou(a, b) < HEAVY_OVERLAP_IOU for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_support_relations_may_overlap() -> None:
    boxes = _by_head(plan_offline("a cat on a sofa", 1024, 1024))
    cat, sofa = boxes["cat"][0], boxes["sofa"][0]
    assert cat[3] > sofa[1]  # the cat sits in the sofa, not floating above it
    assert sofa[0] <= cat[0] and cat[2] <= sofa[2]


def test_cups_on_a_table_fit_on_the_table() -> None:
    boxes = _by_head(plan_offline("four cups on a table", 1024, 1024))
    table = boxes["table"][0]
    assert all(table[0] <= b[0] and b[2] <= table[2] and b[1] < table[1] for b in boxes["cup"])


@pytest.mark.parametrize(
    "prompt",
    [
        "",
        "   ",
        "a",
        "the",
        "without anything",
        "!!!",
        "a photo",
        "in the background",
        "12345 67890",
        "a " * 300,
        "cats " * 40,
        "on the left",
        "a cat on",
        "and and and",
        "a very very very long ago",
    ],
)
def test_odd_prompts_still_give_a_valid_layout(prompt: str) -> None:
    layout = plan_offline(prompt or "x", 512, 512)
    assert isinstance(layout, Layout) and len(layout.regions) <= 32


def test_is_deterministic() -> None:
    prompt = "two dogs to the left of a red car, birds above, without people"
    assert plan_offline(prompt, 1024, 768) == plan_offline(prompt, 1024, 768)


def test_parse_records_relations_and_negations() -> None:
    scene = parse_prompt("a red car to the left of a tree, no birds")
    assert [(o.phrase, o.count) for o in scene.objects] == [("a red car", 1), ("a tree", 1)]
    assert [(r.subject, r.kind, r.target) for r in scene.relations] == [(0, "left", 1)]
    assert scene.negative_heads == {"bird"}
