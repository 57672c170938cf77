"""The quality benchmark end to end on the committed toy model: `regional bench quality --quick --json`."""

import json

import pytest
from PIL import Image

from regional.bench.quality import format_sweep, format_table, sweep_settings
from regional.cli import main
from regional.loading import TOY_MODEL_DIR
from regional.toy.evaluate import scene_standard_error

pytestmark = pytest.mark.skipif(
    not (TOY_MODEL_DIR / "model_index.json").exists(),
    reason="regional/toy/model is missing (it is committed: restore it with git)",
)
ROWS = ("vae ceiling", "plain", "regional (gt boxes)", "regional (planner)", "plain, reordered",
        "regional, reordered", "plain, unplaced", "regional, unplaced")  # fmt: skip


@pytest.mark.slow
def test_quick_run_reports_every_row_sweep_and_figures(tmp_path, capsys):
    assert main(["bench", "quality", "--quick", "--json", "--out", str(tmp_path)]) == 0
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
    """Every variant of the ablation reaches the sampler (one scene, one seed, two steps here); the paper's
    mask comes first, and the table names each variant."""
    from regional.bench.quality import ablation_settings, format_ablation
    from regional.loading import load_pipeline
    from regional.toy.evaluate import Summary, bench_scenes, evaluate, ground_truth

    settings = ablation_settings()
    labels = [s.label() for s in settings]
    assert labels[0] == "defaults" and len(set(labels)) == len(labels) == 9
    pipe = load_pipeline("toy", dtype="float32", device="cpu")
    pipe.set_progress_bar_config(disable=True)
    scene = bench_scenes(2, 1, "unplaced")
    rows = []
    for setting in (settings[0], settings[1], settings[-1]):  # paper, image->image off, soft and feathered
        summary = evaluate(pipe, scene, 1, ground_truth, setting, steps=2)
        assert summary.samples == 1
        rows.append(
            {"settings": setting.label(), "unplaced": summary.as_dict(), "world": Summary().as_dict()}
        )
    table = format_ablation(rows)
    assert "mask(image_to_image=False)" in table and "mask(bias=4.0, feather=1)" in table
