"""The `regional generate` command, end to end on the tiny model."""

import json
import subprocess
import sys

import numpy as np
import pytest
from familykit import family_param
from PIL import Image

from regional.cli import main

LAYOUT = {
    "width": 96,
    "height": 64,
    "base_prompt": "a red circle and a blue square",
    "regions": [{"phrase": "a red circle", "prompt": "a red circle", "box": [0, 0, 0.5, 1]}],
}


@pytest.mark.parametrize(
    "model",
    [
        "tiny",
        "tiny-chroma",
        family_param("tiny-klein", "flux2"),
        family_param("tiny-qwen-image", "qwenimage"),
    ],
)
def test_generate_writes_image_and_layout_overlay(tmp_path, capsys, model):
    layout_file = tmp_path / "layout.json"
    layout_file.write_text(json.dumps(LAYOUT))
    out = tmp_path / "out" / "img.png"
    assert (
        main(["generate", "--layout", str(layout_file), "--model", model, "--steps", "2", "-o", str(out)])
        == 0
    )
    assert Image.open(out).size == (96, 64)
    overlay = Image.open(tmp_path / "out" / "img.layout.png").convert("RGB")
    assert overlay.size == (96, 64)
    assert overlay.getpixel((0, 32)) != Image.open(out).convert("RGB").getpixel((0, 32))  # outline drawn
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["image"] == str(out)


def test_generate_rejects_invalid_layout_with_exit_code_2(tmp_path, capsys):
    layout_file = tmp_path / "layout.json"
    layout_file.write_text(json.dumps({**LAYOUT, "width": 13}))
    assert main(["generate", "--layout", str(layout_file), "-o", str(tmp_path / "x.png")]) == 2
    assert "width" in capsys.readouterr().err


def test_console_script_help_lists_generate():
    result = subprocess.run(
        [sys.executable, "-m", "regional.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "generate" in result.stdout


@pytest.mark.parametrize("mask", [False, True])
def test_generate_from_an_init_image_and_a_mask(tmp_path, capsys, mask):
    layout_file = tmp_path / "layout.json"
    layout_file.write_text(json.dumps(LAYOUT))
    Image.new("RGB", (48, 32), "orange").save(tmp_path / "init.png")  # resized to the layout's 96x64
    Image.new("L", (48, 32), 255).save(tmp_path / "mask.png")  # the init image's size
    args = [
        "generate",
        "--layout",
        str(layout_file),
        "--model",
        "tiny",
        "--steps",
        "2",
        "-o",
        str(tmp_path / "o.png"),
    ]
    args += ["--init-image", str(tmp_path / "init.png"), "--strength", "0.5"]
    if mask:
        args += ["--mask-image", str(tmp_path / "mask.png")]
    assert main(args) == 0
    assert Image.open(tmp_path / "o.png").size == (96, 64)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--mask-image", "mask.png"], "need --init-image"),
        (["--init-image", "missing.png"], "missing.png"),
        (["--init-image", "layout.json"], "layout.json"),  # not an image
        (
            ["--init-image", "init.png", "--mask-image", "init-mask.png", "--model", "tiny-chroma"],
            "inpaint is not available for RegionalChromaPipeline",
        ),
        (
            ["--init-image", "init.png", "--mask-image", "small.png"],
            "the mask image is 48x32, the init image 96x64",
        ),
        (["--control-image", "init.png"], "each control image needs a ControlNet"),
        (
            ["--controlnet", "net", "--control-image", "init.png", "--control-image", "init.png"],
            "1 --controlnet for 2",
        ),
        (
            [
                "--control-image",
                "init.png",
                "--control-mode",
                "1",
                "--control-mode",
                "2",
                "--control-mode",
                "0",
            ],
            "3 --control-mode",
        ),
    ],
)
def test_generate_refuses_bad_image_inputs_with_exit_code_2(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "layout.json").write_text(json.dumps(LAYOUT))
    Image.new("RGB", (96, 64)).save(tmp_path / "init.png")
    Image.new("L", (48, 32)).save(tmp_path / "small.png")
    Image.new("L", (96, 64)).save(tmp_path / "init-mask.png")
    assert (
        main(
            ["generate", "--layout", "layout.json", "--model", "tiny", "--steps", "1", "-o", "x.png", *extra]
        )
        == 2
    )
    assert message in capsys.readouterr().err


def test_generate_with_a_controlnet_an_init_image_and_a_lora(tmp_path, capsys):
    """A saved tiny union ControlNet and LoRA, loaded from folders as a user's would be."""
    from regional.testing import save_tiny_flux_lora, tiny_flux_controlnet

    tiny_flux_controlnet(seed=1, num_mode=3).save_pretrained(tmp_path / "controlnet")
    save_tiny_flux_lora(tmp_path / "lora", seed=1)
    (tmp_path / "layout.json").write_text(json.dumps(LAYOUT))
    Image.new("RGB", (96, 64), "orange").save(tmp_path / "init.png")
    Image.new("RGB", (96, 64), "white").save(tmp_path / "pose.png")
    outputs = {}
    for name, extra in {
        "plain": [],
        "controlnet": ["--controlnet", str(tmp_path / "controlnet"), "--control-image", str(tmp_path / "pose.png"),
                       "--control-mode", "2", "--control-scale", "0.8"],
        "lora": ["--lora", f"{tmp_path / 'lora'}:0.7"],
    }.items():  # fmt: skip
        out = tmp_path / f"{name}.png"
        args = ["generate", "--layout", str(tmp_path / "layout.json"), "--model", "tiny", "--steps", "2"]
        args += ["--init-image", str(tmp_path / "init.png"), "--strength", "1.0", "-o", str(out), *extra]
        assert main(args) == 0, capsys.readouterr().err
        outputs[name] = np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)
    assert outputs["plain"].shape == (64, 96, 3)
    assert np.abs(outputs["controlnet"] - outputs["plain"]).max() > 0  # the ControlNet acted
    assert np.abs(outputs["lora"] - outputs["plain"]).max() > 0  # the LoRA acted


def test_generate_with_a_control_model(tmp_path):
    (tmp_path / "layout.json").write_text(json.dumps(LAYOUT))
    Image.new("RGB", (96, 64), "white").save(tmp_path / "depth.png")
    args = ["generate", "--layout", str(tmp_path / "layout.json"), "--model", "tiny-control", "--steps", "2"]
    assert main([*args, "--control-image", str(tmp_path / "depth.png"), "-o", str(tmp_path / "o.png")]) == 0
    assert Image.open(tmp_path / "o.png").size == (96, 64)
    assert main([*args, "-o", str(tmp_path / "x.png")]) == 2  # a Control model needs its control image
    control = ["--control-image", str(tmp_path / "depth.png")]
    assert (
        main([*args, *control, "--control-scale", "0.5", "-o", str(tmp_path / "y.png")]) == 2
    )  # it has none


def test_generate_help_names_every_built_in_model_and_alias(capsys):
    from regional.loading import model_aliases, tiny_models

    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    listed = " ".join(capsys.readouterr().out.split())  # argparse wraps the text, sometimes inside a name
    for name in [*tiny_models(), *model_aliases()]:
        assert name in listed.replace("- ", "-"), name
