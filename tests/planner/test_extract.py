"""Lenient JSON extraction from model replies."""

import pytest

from planner.exceptions import LayoutExtractionError
from planner.extract import extract_json

LAYOUT = '{"base_prompt": "a cat", "regions": [{"phrase": "a cat", "prompt": "a cat", "box": [0.1, 0.2, 0.5, 0.9]}]}'


@pytest.mark.parametrize(
    "reply",
    [
        LAYOUT,
        f"```json\n{LAYOUT}\n```",
        f"Sure! Here is the layout you asked for:\n```\n{LAYOUT}\n```\nLet me know if you need changes.",
        f"The layout is {LAYOUT} and that is all.",
        LAYOUT.replace("]}]}", "]},]}"),  # trailing comma
        LAYOUT.replace('"', "'"),  # single quotes
    ],
)
def test_finds_the_layout_in_prose_fences_and_loose_syntax(reply: str) -> None:
    data = extract_json(reply)
    assert data["base_prompt"] == "a cat"
    assert data["regions"][0]["box"] == [0.1, 0.2, 0.5, 0.9]


def test_python_literals_become_json() -> None:
    assert extract_json("{'negative_prompt': None, 'ok': True}") == {"negative_prompt": None, "ok": True}


def test_truncated_reply_keeps_the_complete_regions() -> None:
    truncated = LAYOUT[:-2] + ', {"phrase": "a dog", "prompt": "a d'
    data = extract_json(truncated)
    assert data["regions"][0]["phrase"] == "a cat"
    assert len(data["regions"]) == 2 and "box" not in data["regions"][1]


def test_truncated_inside_a_box_drops_the_unfinished_number() -> None:
    data = extract_json('{"base_prompt": "x", "regions": [{"phrase": "a cat", "box": [0.1, 0.2, 0.3')
    assert data["regions"][0]["box"] == [0.1, 0.2]


def test_unclosed_fence_is_read() -> None:
    assert extract_json("```json\n" + LAYOUT)["base_prompt"] == "a cat"


def test_top_level_list_is_read_as_regions() -> None:
    assert extract_json('[{"phrase": "a cat", "box": [0, 0, 1, 1]}]') == {
        "regions": [{"phrase": "a cat", "box": [0, 0, 1, 1]}]
    }


def test_dict_passes_through() -> None:
    assert extract_json({"regions": []}) == {"regions": []}


@pytest.mark.parametrize("reply", ["", "I cannot draw that.", "{{{", "[1, 2"])
def test_no_json_raises_extraction_error(reply: str) -> None:
    with pytest.raises(LayoutExtractionError):
        extract_json(reply)
