"""The quality benchmark end to end on the committed toy model: `regional bench quality --quick --json`."""

import json

import pytest
from PIL import Image

from regional.bench.quality import HARD_COUNTS, format_sweep, format_table, sweep_settings
from regional.cli import main
from regional.loading import TOY_MODEL_DIR
from regional.toy.evaluate import scene_standard_error

pytestmark = pytest.mark.skipif(
    not (TOY_MODEL_DIR / "model_index.json").exists(),
    reason="regional/toy/model is missing (it is committed: restore it with git)",
)
ROWS = ("vae ceiling", "plain", "regional (gt boxes)", "regional (planner)", "plain, reordered",
        "regional, reordered", "plain, unplaced", "regional, unplaced")  # fmt: skip
HARD_ROWS = ("vae ceiling", "plain", "regional (gt boxes)")


@pytest.mark.slow
def test_quick_run_reports_every_row_sweep_and_figures(tmp_path, capsys):
    # --quick's sizes with 10 steps, not 24 (10 = the sweep's longest injection): the wiring is what is tested
    assert main(["bench", "quality", "--quick", "--steps", "10", "--json", "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["results"]) == set(ROWS)
    assert report["defaults"]["max_sequence_length"] == 48  # what the samples used, not FLUX.1-dev's 512
    for name in ROWS:
        for count in ("2", "3", "4"):
            row = report["results"][name][count]
            assert row["samples"] == (3 if name == "vae ceiling" else 3 * 2) - row["failed_layouts"]
            for key in ("object_accuracy", "colour_accuracy", "scene_accuracy", "leakage"):
                assert 0.0 <= row[key] <= 1.0
            assert row["object_accuracy"] <= row["colour_accuracy"]  # right object implies right colour
            if row["samples"]:  # 3 scenes: the spread between them gives the scene accuracy's uncertainty
                assert row["scene_accuracy_se"] is not None and 0.0 <= row["scene_accuracy_se"] <= 0.5
    # Ground-truth renders through the VAE are what the scorer was calibrated on (full run: 94-100%).
    assert all(report["results"]["vae ceiling"][c]["object_accuracy"] >= 0.8 for c in ("2", "3", "4"))
    assert set(report["hard"]) == set(HARD_ROWS) and report["sizes"]["hard_scenes"] == 2
    for name in HARD_ROWS:
        for count in ("5", "6"):
            assert report["hard"][name][count]["samples"] == 2  # 2 scenes x 1 seed, or 2 renders
    assert [r["knobs"] for r in report["sweep"]] == [
        {k: v for k, v in vars(s).items() if v is not None} for s in sweep_settings(quick=True)
    ]
    for figure in report["figures"]:
        with Image.open(figure) as image:
            assert image.width > 500 and image.height > 300
    rows = {
        name: {int(count): row for count, row in by_count.items()}
        for name, by_count in report["results"].items()
    }
    table, sweep = format_table(rows), format_sweep(report["sweep"])
    assert table.count("\n") == 2 + 3 * len(ROWS) - 1 and "base_ratio=0.0, inject_steps=10" in sweep


def test_scene_standard_error_is_the_spread_between_scenes():
    assert scene_standard_error([1.0, 0.0]) == pytest.approx(0.5)  # std 0.707 over sqrt(2) scenes
    assert scene_standard_error([0.5, 0.5, 0.5]) == 0.0  # every scene equally hard: no uncertainty left
    assert scene_standard_error([1.0]) is None  # one scene says nothing about the spread


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["bench", "quality", "--quick", "--model", str(tmp_path / "nowhere")]) == 2
    assert "cannot load model" in capsys.readouterr().err


def test_the_mask_ablation_runs_each_variant_through_the_pipeline():
    """Every variant of the ablation reaches the sampler on every scene set (one scene, one seed, two steps
    here); the paper's mask comes first, and the table names each variant."""
    from argparse import Namespace

    from regional.bench.quality import ABLATION_SCENES, ablation, ablation_settings, format_ablation
    from regional.loading import load_pipeline

    labels = [s.label() for s in ablation_settings()]
    assert labels[0] == "defaults" and len(set(labels)) == len(labels) == 9
    pipe = load_pipeline("toy", dtype="float32", device="cpu")
    pipe.set_progress_bar_config(disable=True)
    rows = ablation(pipe, {"scenes": 1, "seeds": 1}, Namespace(steps=2, max_sequence_length=48))
    assert [row["settings"] for row in rows] == labels
    for row in rows:
        for kind, counts in ABLATION_SCENES.items():
            assert row[kind]["samples"] == len(counts)
            assert all(row[f"{kind} {count}"]["samples"] == 1 for count in counts)
    table = format_ablation(rows)
    assert "mask(image_to_image=False)" in table and "mask(bias=4.0, feather=1)" in table
    assert "hard (5) obj %" in table


def test_harder_scenes_rows_are_computed(capsys):
    """``--hard-only`` at tiny settings (2 scenes x 1 seed, 2 steps): the three rows for 5 and 6 objects, in
    the JSON and the table; the VAE ceiling does not depend on the sampler, so it is already at its level."""
    tiny = ["--hard-scenes", "2", "--hard-seeds", "1", "--steps", "2"]
    assert main(["bench", "quality", "--hard-only", *tiny, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sizes"]["hard_scenes"] == 2 and report["sizes"]["hard_seeds"] == 1
    hard = {name: {int(n): row for n, row in by_count.items()} for name, by_count in report["hard"].items()}
    assert list(hard) == list(HARD_ROWS)
    for by_count in hard.values():
        assert list(by_count) == list(HARD_COUNTS)
        for row in by_count.values():
            assert row["samples"] == 2  # 2 scenes x 1 seed, or 2 renders for the ceiling
            for key in ("object_accuracy", "colour_accuracy", "scene_accuracy", "leakage"):
                assert 0.0 <= row[key] <= 1.0
            assert row["object_accuracy"] <= row["colour_accuracy"]
            for key in ("object_accuracy_se", "scene_accuracy_se"):  # over the 2 scenes
                assert row[key] is not None and 0.0 <= row[key] <= 0.5
    assert all(hard["vae ceiling"][count]["object_accuracy"] >= 0.8 for count in HARD_COUNTS)
    lines = format_table(hard, HARD_COUNTS).splitlines()
    assert len(lines) == 2 + len(HARD_COUNTS) * len(HARD_ROWS)
    assert lines[-1].split()[:4] == ["regional", "(gt", "boxes)", "6"] and "±" in lines[-1]
