"""The profile benchmark: one injected step per method under torch.profiler, grouped by kind of operator."""

import argparse
import json

import pytest

from regional.bench import profile


def test_entries_fall_in_their_groups():
    assert profile.group_of("aten::_scaled_dot_product_flash_attention_for_cpu") == "attention"
    assert (
        profile.group_of("void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128>>") == "attention"
    )
    assert profile.group_of("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64") == "matmul"
    assert profile.group_of("aten::addmm") == "matmul"
    assert profile.group_of("aten::index_select") == "copy and indexing"
    assert profile.group_of("void at::native::(anonymous namespace)::CatArrayBatchedCopy<float>") == (
        "copy and indexing"
    )
    assert profile.group_of("## Call CompiledFxGraph f5yru25w ##") == "compiled graph"
    assert profile.group_of("aten::gelu") == "other"


@pytest.fixture(scope="module")
def profiles():
    return profile.profile_methods(regions=4, size=256, device="cpu", methods=("plain", "regional"), top=5)


def test_a_profile_accounts_for_every_entry_and_shows_the_grouped_path(profiles):
    plain, regional = profiles
    for found in profiles:
        assert found.total_ms == pytest.approx(sum(found.groups.values()))
        assert found.groups["matmul"] > 0 and found.groups["attention"] > 0
        assert len(found.top) == 5
        assert [e.self_ms for e in found.top] == sorted((e.self_ms for e in found.top), reverse=True)
    # the scaled FLUX has 2 double and 4 single blocks: one attention each in a plain step; the grouped
    # path adds one attention per token group in every injected block
    assert regional.group_calls["attention"] > plain.group_calls["attention"] >= 6
    table = profile.format_profiles(profiles)
    assert "plain: top 5" in table and "regional: top 5" in table and "copy and indexing" in table


def test_the_cli_prints_json(capsys, monkeypatch, profiles):
    monkeypatch.setattr(profile, "profile_methods", lambda *args, **kwargs: profiles)
    parser = argparse.ArgumentParser()
    profile.add_arguments(parser)
    assert profile.run(parser.parse_args(["--device", "cpu", "--json"])) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [p["method"] for p in printed] == ["plain", "regional"]
    assert set(printed[0]["groups"]) == {
        "compiled graph",
        "attention",
        "matmul",
        "copy and indexing",
        "other",
    }
