"""The cost benchmark: FLOP accounting at FLUX.1-dev size and the side-by-side runner."""

import json

import pytest
from familykit import family_param

from regional.bench.cost import (
    FULL,
    METHODS,
    Sweep,
    bench_layout,
    format_table,
    generation_flops,
    measure,
    plot,
)
from regional.families import families
from regional.masks import layout_regions
from regional.testing import tiny_flux_pipeline


@pytest.fixture(scope="module")
def pipe():
    return tiny_flux_pipeline()


@pytest.mark.slow
def test_flops_at_flux_dev_size_meet_the_targets(pipe):
    regions = 4
    prompts, _ = layout_regions(bench_layout(regions, FULL.width, FULL.height))
    lengths = {
        "regional": pipe.regional_token_lengths(prompts, 512, 8),
        "authors": pipe.regional_token_lengths(prompts, 512, None),
    }
    flops = generation_flops(regions, lengths)
    assert flops["plain"] / FULL.steps == pytest.approx(74.38e12, rel=0.01)  # one FLUX.1-dev forward
    ratio = {method: flops[method] / flops["plain"] for method in METHODS}
    assert 1.0 < ratio["regional"] <= 1.10
    assert ratio["authors"] > ratio["regional"]
    passes = len(prompts) + 1
    assert ratio["rpg"] == pytest.approx(
        (FULL.inject_steps * passes + FULL.steps - FULL.inject_steps) / FULL.steps
    )


def test_bench_layouts_leave_a_background_and_fit_the_canvas():
    for regions in (1, 2, 4, 8, 16):
        layout = bench_layout(regions, 256, 256)
        prompts, membership = layout_regions(layout)
        assert len(layout.regions) == regions and len(prompts) == regions + 1
        assert membership.any(axis=1).all()


@pytest.mark.slow
def test_side_by_side_run_reports_ratios_table_and_plot(tmp_path, monkeypatch):
    from regional.bench import cost

    # FLOPs at FLUX.1-dev size are test_flops_at_flux_dev_size_meet_the_targets' subject; here the runs are
    monkeypatch.setattr(
        cost, "generation_flops", lambda regions, lengths: {m: 1.0 + i for i, m in enumerate(METHODS)}
    )
    records = measure(Sweep(64, 64, 2, 1, (2,)), "cpu")
    assert [(r.regions, r.method) for r in records] == [(2, m) for m in METHODS]
    for record in records:
        assert record.wall_s > 0
        if record.method == "plain":
            assert record.flops_ratio == record.wall_ratio == 1.0
        else:  # each method's FLOPs over plain's (1.0)
            assert record.flops_ratio == 1.0 + METHODS.index(record.method)
    assert "regional" in format_table(records)
    plot(records, tmp_path / "cost.png", "test")
    assert (tmp_path / "cost.png").stat().st_size > 1000
    json.dumps([r.__dict__ for r in records])


def test_the_compiled_variant_compiles_the_transformer_and_names_itself(monkeypatch):
    """Records of a compiled run say so, with their dtype and canvas; the transformer ran through Dynamo
    (Inductor's code generation is swapped for eager here: minutes on this CPU)."""
    import torch._dynamo

    from regional.bench import cost

    monkeypatch.setattr(cost, "COMPILE_OPTIONS", {"backend": "eager"})
    monkeypatch.setattr(cost, "generation_flops", lambda regions, lengths: dict.fromkeys(METHODS, 1.0))
    monkeypatch.setattr(cost, "METHODS", ("plain", "flex"))  # each method is a graph to trace
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    records = measure(Sweep(64, 32, 2, 1, (1,)), "cpu", compiled=True)
    assert [r.method for r in records] == ["plain", "flex"]
    assert {(r.compiled, r.dtype, r.width, r.height) for r in records} == {(True, "float32", 64, 32)}
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 2  # injected and plain steps
    assert "compiled 64x32" in format_table(records)


def test_flux_dev_wall_model_needs_cuda_and_unknown_models_are_named():
    from regional.bench.cost import wall_time_components

    with pytest.raises(ValueError, match="'flux-dev' on CUDA"):
        wall_time_components("flux-dev", "cpu")
    with pytest.raises(ValueError, match="'schnell'"):
        wall_time_components("schnell", "cpu")


@pytest.mark.parametrize(
    "family",  # FLUX.1's counts: test_flux_family_flops_are_the_flux_dev_counts and the targets test
    [family_param(name, name) for name, family in families().items() if family.real_size and name != "flux"],
)
def test_every_family_counts_flops_at_its_real_size_through_its_pipeline(family):
    """The pipeline's own stages on a meta-device transformer of the real size (no weights): the regional
    step costs more than a plain one, less than the authors' formulation (padded prompts, dense mask)."""
    from regional.bench.cost import family_flops

    flops = family_flops(family, regions=2, width=256, height=256)
    assert flops["plain_tflops"] > 1.0  # billions of parameters: trillions of FLOPs even at 256 px
    assert 1.0 < flops["regional"] < flops["authors"]


def test_flux_family_flops_are_the_flux_dev_counts():
    from regional.bench.cost import family_forward_flops, meta_family_pipeline
    from regional.families.flux import FLUX_DEV_TRANSFORMER

    pipe = meta_family_pipeline("flux")
    assert dict(pipe.transformer.config) | FLUX_DEV_TRANSFORMER == dict(pipe.transformer.config)
    assert family_forward_flops(pipe, 1024, 1024, 512) == pytest.approx(74.38e12, rel=0.01)
