"""The `regional generate` command, end to end on the tiny model."""

import json
import subprocess
import sys

import pytest
from PIL import Image

from regional.cli import main

LAYOUT = {
    "width": 96,
    "height": 64,
    "base_prompt": "a red circle and a blue square",
    "regions": [{"phrase": "a red circle", "prompt": "a red circle", "box": [0, 0, 0.5, 1]}],
}


@pytest.mark.parametrize("model", ["tiny", "tiny-chroma"])
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
    Image.new("L", (96, 64), 255).save(tmp_path / "mask.png")
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
        (["--init-image", "init.png", "--model", "tiny-chroma"], "exists for ['flux'] checkpoints only"),
    ],
)
def test_generate_refuses_bad_image_inputs_with_exit_code_2(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "layout.json").write_text(json.dumps(LAYOUT))
    Image.new("RGB", (96, 64)).save(tmp_path / "init.png")
    assert main(["generate", "--layout", "layout.json", "--steps", "1", "-o", "x.png", *extra]) == 2
    assert message in capsys.readouterr().err
