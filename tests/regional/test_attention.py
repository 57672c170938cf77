"""The regional path's two attention implementations agree with each other and with M, row by row."""

import pytest
import torch

from regional.attention import build_region_attention
from regional.masks import attention_groups, joint_attention_mask, token_region_bits

CASES = {
    "disjoint": ([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1]], [3, 2]),
    "overlap": ([[1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1]], [2, 4, 1]),
    "nested": ([[1, 1, 1, 1, 1, 1], [0, 1, 1, 0, 0, 0]], [1, 5]),
    "scattered": ([[1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]], [2, 2]),
}


@pytest.mark.parametrize("name", CASES)
def test_groups_reproduce_every_row_of_the_mask(name):
    membership, lengths = CASES[name]
    membership = torch.tensor(membership, dtype=torch.bool)
    mask = joint_attention_mask(membership, lengths)
    groups = attention_groups(token_region_bits(membership, lengths), sum(lengths))
    assert sorted(groups.order.tolist()) == list(range(mask.shape[0]))
    for (q0, q1), keys in zip(groups.query_ranges, groups.key_ranges, strict=True):
        key_tokens = {int(groups.order[i]) for a, b in keys for i in range(a, b)}
        for position in range(q0, q1):
            token = int(groups.order[position])
            assert key_tokens == set(torch.nonzero(mask[token]).flatten().tolist())


def test_disjoint_regions_need_no_mask_at_all():
    membership = torch.tensor(CASES["disjoint"][0], dtype=torch.bool)
    groups = attention_groups(token_region_bits(membership, [3, 2]), 5)
    assert len(groups.query_ranges) == 2
    assert all(keys == (query,) for query, keys in zip(groups.query_ranges, groups.key_ranges, strict=True))


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("text_only", [False, True])
def test_grouped_equals_dense(name, text_only):
    membership, lengths = CASES[name]
    membership = torch.tensor(membership, dtype=torch.bool)
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, sum(lengths) + membership.shape[1], 3, 8) for _ in range(3))
    dense = build_region_attention(membership, lengths, "cpu", "dense")(q, k, v, text_only=text_only)
    grouped = build_region_attention(membership, lengths, "cpu", "grouped")(q, k, v, text_only=text_only)
    assert dense.shape == grouped.shape == (2, sum(lengths) if text_only else q.shape[1], 3, 8)
    torch.testing.assert_close(grouped, dense, atol=1e-6, rtol=1e-5)


def test_unknown_attention_kind_is_rejected():
    with pytest.raises(ValueError, match="grouped"):
        build_region_attention(torch.ones(1, 2, dtype=torch.bool), [1], "cpu", "sparse")
