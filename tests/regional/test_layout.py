"""Layout validation: every invalid layout raises one pydantic ValidationError naming the field."""

import json

import numpy as np
import pytest
from pydantic import ValidationError

from regional import Layout, Region
from regional.layout import MAX_REGIONS, encode_mask_png

GOOD = {"width": 128, "height": 96, "base_prompt": "a fox and a cabin", "regions": [
    {"phrase": "a red fox", "prompt": "a red fox, sitting", "box": [0.0, 0.1, 0.45, 0.9]}]}  # fmt: skip


def test_json_round_trip():
    layout = Layout.model_validate(GOOD)
    again = Layout.model_validate_json(layout.model_dump_json())
    assert again == layout
    assert again.regions[0].box == (0.0, 0.1, 0.45, 0.9)


def _error(data) -> str:
    with pytest.raises(ValidationError) as info:
        Layout.model_validate(data)
    return str(info.value)


def _with(**changes):
    data = json.loads(json.dumps(GOOD))
    data.update(changes)
    return data


def _with_region(**changes):
    data = json.loads(json.dumps(GOOD))
    data["regions"][0].update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (_with(width=130), "width", "multiple of 16"),
        (_with(height=13), "height", "multiple of 16"),
        (_with(width=8192), "width", "outside"),
        (_with(base_prompt="   "), "base_prompt", "empty"),
        (_with_region(prompt=""), "regions.0.prompt", "empty"),
        (_with_region(box=[0.0, 0.0, 1.2, 0.5]), "regions.0.box", "inside the canvas"),
        (_with_region(box=[0.5, 0.0, 0.4, 0.5]), "regions.0.box", "x0 < x1"),
        (_with_region(box=None), "regions.0", "exactly one of"),
        (_with_region(mask="not base64!"), "regions.0.mask", "base64"),
        (_with_region(box=[0.0, 0.0, 0.05, 0.05]), "regions[0]", "latent token"),
        (_with(extra_field=1), "extra_field", "Extra inputs"),
        (_with(regions=[GOOD["regions"][0]] * (MAX_REGIONS + 1)), "regions", "at most"),
    ],
)
def test_invalid_layouts_name_the_field(data, field, words):
    message = _error(data)
    assert field in message
    assert words in message


def test_validation_error_is_a_value_error():
    with pytest.raises(ValueError):
        Layout.model_validate(_with(width=13))


def test_mask_region_validates_png_and_size():
    mask = np.zeros((32, 32))
    mask[:16, :16] = 1
    region = Region(prompt="x", mask=encode_mask_png(mask))
    assert region.mask_array().shape == (32, 32)
    with pytest.raises(ValidationError, match="PNG"):
        Region(prompt="x", mask="aGVsbG8=")  # base64 of "hello"
