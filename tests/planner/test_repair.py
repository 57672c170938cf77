"""Repair of malformed layouts: coordinate conventions, corners, missing fields, duplicates, counts."""

import pytest

from planner.exceptions import LayoutRepairError
from planner.repair import head_of, repair


def _boxes(data: dict, width: int = 1024, height: int = 1024, **kwargs) -> list[tuple]:
    return [r.box for r in repair(data, "p", width, height, "test", **kwargs).regions]


def test_normalised_boxes_are_kept() -> None:
    assert _boxes({"regions": [{"phrase": "a cat", "box": [0.1, 0.2, 0.5, 0.9]}]}) == [(0.1, 0.2, 0.5, 0.9)]


def test_pixel_coordinates_are_divided_by_the_canvas() -> None:
    boxes = _boxes({"regions": [{"phrase": "a cat", "box": [64, 96, 512, 384]}]}, width=1280, height=768)
    assert boxes == [(0.05, 0.125, 0.4, 0.5)]


def test_0_to_1000_coordinates_when_they_exceed_the_canvas() -> None:
    boxes = _boxes({"regions": [{"phrase": "a cat", "box": [100, 200, 600, 900]}]}, width=512, height=512)
    assert boxes == [(0.1, 0.2, 0.6, 0.9)]


def test_xywh_dict_is_converted() -> None:
    boxes = _boxes({"objects": [{"label": "a cat", "bbox": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}}]})
    assert boxes == [(0.1, 0.2, 0.4, 0.6)]


def test_xywh_list_is_recognised_when_every_box_reads_inverted_as_corners() -> None:
    data = {
        "regions": [
            {"phrase": "a cat", "box": [0.5, 0.5, 0.3, 0.2]},
            {"phrase": "a dog", "box": [0.1, 0.6, 0.2, 0.3]},
        ]
    }
    assert _boxes(data) == [(0.5, 0.5, 0.8, 0.7), (0.1, 0.6, 0.3, 0.9)]


def test_one_inverted_box_gets_its_corners_swapped() -> None:
    data = {
        "regions": [
            {"phrase": "a cat", "box": [0.6, 0.9, 0.1, 0.2]},
            {"phrase": "a dog", "box": [0.1, 0.1, 0.3, 0.3]},
        ]
    }
    assert _boxes(data)[0] == (0.1, 0.2, 0.6, 0.9)


def test_boxes_are_clamped_to_the_canvas() -> None:
    assert _boxes({"regions": [{"phrase": "a cat", "box": [-0.2, 0.5, 1.3, 1.01]}]}) == [(0.0, 0.5, 1.0, 1.0)]


def test_box_as_string_and_alias_keys() -> None:
    data = {
        "layout": {"caption": "a cat", "boxes": [{"name": "a cat", "coordinates": "(0.1, 0.1, 0.4, 0.5)"}]}
    }
    layout = repair(data, "p", 512, 512, "test")
    assert layout.base_prompt == "a cat" and layout.regions[0].box == (0.1, 0.1, 0.4, 0.5)


def test_tiny_box_grows_to_one_token() -> None:
    (box,) = _boxes({"regions": [{"phrase": "a bee", "box": [0.5, 0.5, 0.501, 0.501]}]}, 512, 512)
    assert (box[2] - box[0]) * 512 >= 16 and (box[3] - box[1]) * 512 >= 16


def test_regions_without_box_or_words_are_dropped() -> None:
    data = {
        "regions": [
            {"phrase": "a cat"},
            {"box": [0, 0, 1, 1]},
            {"phrase": "a dog", "box": [0.1, 0.1, 0.5]},
            {"phrase": "a bird", "box": [0.1, 0.1, 0.3, 0.3]},
            "junk",
        ]
    }
    layout = repair(data, "p", 512, 512, "test")
    assert [r.phrase for r in layout.regions] == ["a bird"]


def test_missing_prompt_uses_phrase_and_missing_base_prompt_uses_the_request() -> None:
    layout = repair(
        {"regions": [{"phrase": "a red car", "box": [0, 0, 0.5, 0.5]}]}, "a red car", 512, 512, "t"
    )
    assert layout.regions[0].prompt == "a red car" and layout.base_prompt == "a red car"


def test_duplicates_are_dropped() -> None:
    region = {"phrase": "a cat", "box": [0.1, 0.1, 0.5, 0.5]}
    twin = {"phrase": "A cat", "box": [0.1, 0.1, 0.5, 0.51]}
    other = {"phrase": "a cat", "box": [0.6, 0.1, 0.9, 0.5]}
    assert len(_boxes({"regions": [region, twin, other]})) == 2


def test_counted_phrase_is_split_into_one_region_per_instance() -> None:
    layout = repair(
        {"regions": [{"phrase": "three red cups", "box": [0.1, 0.4, 0.7, 0.6]}]}, "p", 512, 512, "t"
    )
    assert [r.phrase for r in layout.regions] == ["a red cup"] * 3
    xs = [r.box[0] for r in layout.regions]
    assert xs == sorted(xs) and layout.regions[0].box[2] <= layout.regions[1].box[0] + 1e-6


def test_excluded_objects_move_to_the_negative_prompt() -> None:
    data = {
        "regions": [
            {"phrase": "a bird", "box": [0, 0, 0.2, 0.2]},
            {"phrase": "a tree", "box": [0.3, 0, 1, 1]},
        ],
        "negative_prompt": "blur",
    }
    layout = repair(data, "p", 512, 512, "t", excluded={"birds"})
    assert [r.phrase for r in layout.regions] == ["a tree"]
    assert layout.negative_prompt == "blur, a bird"


def test_planner_name_is_recorded() -> None:
    assert repair({"regions": []}, "p", 512, 512, "openai").planner == "openai"


@pytest.mark.parametrize(
    "data",
    [
        {"regions": "a cat at the left"},
        {"regions": [{"phrase": "a cat", "box": ["left", "top", "right", "bottom"]}]},
        {"regions": [{"phrase": "a cat", "box": [5000, 10, 6000, 20]}]},
    ],
)
def test_unrepairable_layouts_raise_repair_error(data: dict) -> None:
    with pytest.raises(LayoutRepairError):
        repair(data, "p", 512, 512, "t")


@pytest.mark.parametrize(
    ("phrase", "head"),
    [
        ("three red cups", "cup"),
        ("a teddy bear", "teddy"),
        ("two wolves", "wolf"),
        ("the people", "person"),
        ("a bus", "bus"),
        ("two glasses", "glass"),
        ("boxes", "box"),
        ("a fish", "fish"),
    ],
)
def test_head_nouns_are_singular(phrase: str, head: str) -> None:
    assert head_of(phrase) == head
