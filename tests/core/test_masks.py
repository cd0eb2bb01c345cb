import math

import pytest
import torch

from pruneviz.core import masks as M
from pruneviz.core.errors import PrunevizError


@pytest.mark.parametrize("n", [1, 7, 10, 100, 1000, 4099])
@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.29, 0.5, 0.57, 0.9, 0.999])
def test_unstructured_zeroes_exactly_floor_s_n(n, sparsity):
    scores = torch.randn(n, generator=torch.Generator().manual_seed(n))
    mask = M.unstructured_mask(scores, sparsity)
    expected = math.floor(round(sparsity * 1000) * n / 1000)  # decimal floor(s*n)
    assert int((~mask).sum()) == expected
    if expected:
        assert scores[~mask].max() <= scores[mask].min()  # the lowest scores went


def test_decimal_product_is_not_float_rounded():
    assert M.prune_count(0.29, 100) == 29  # float(0.29) * 100 is 28.999...
    assert M.prune_count(0.57, 100) == 57


def test_ties_break_by_lower_index_and_are_deterministic():
    scores = torch.ones(10)
    mask = M.unstructured_mask(scores, 0.3)
    assert mask.tolist() == [False] * 3 + [True] * 7
    assert torch.equal(mask, M.unstructured_mask(scores, 0.3))


def test_mask_keeps_shape_of_conv_weight():
    w = torch.randn(8, 4, 3, 3)
    mask = M.unstructured_mask(w.abs(), 0.5)
    assert mask.shape == w.shape and mask.dtype == torch.bool
    assert int((~mask).sum()) == w.numel() // 2


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_sparsity_outside_unit_interval_is_rejected(bad):
    with pytest.raises(PrunevizError, match="sparsity"):
        M.unstructured_mask(torch.randn(10), bad)


def test_global_ranks_across_layers_unlike_layerwise():
    small = torch.full((10,), 0.1)
    large = torch.full((10,), 5.0)
    masks = M.global_masks({"a": small, "b": large}, 0.5)
    assert int((~masks["a"]).sum()) == 10  # all the small ones go first
    assert int((~masks["b"]).sum()) == 0
    layerwise = M.unstructured_mask(small, 0.5), M.unstructured_mask(large, 0.5)
    assert [int((~m).sum()) for m in layerwise] == [5, 5]


def test_global_total_count_is_exact():
    scores = {"a": torch.rand(33), "b": torch.rand(4, 5), "c": torch.rand(2, 3, 3)}
    masks = M.global_masks(scores, 0.37)
    assert sum(int((~m).sum()) for m in masks.values()) == math.floor(0.37 * (33 + 20 + 18))
    assert all(masks[k].shape == scores[k].shape for k in scores)


def test_lamp_scores_are_scale_free_and_allocate_to_both_layers():
    w = torch.randn(50, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(M.lamp_scores(w), M.lamp_scores(w * 100))
    masks = M.global_masks({"small": w * 0.01, "large": w * 100}, 0.5, lamp=True)
    # plain magnitude would prune only the small layer; LAMP prunes both equally
    assert int((~masks["small"]).sum()) == int((~masks["large"]).sum()) == 25


def test_lamp_largest_weight_scores_one():
    w = torch.tensor([0.5, -2.0, 1.0])
    scores = M.lamp_scores(w)
    assert scores[1].item() == pytest.approx(1.0)
    assert scores[0].item() == pytest.approx(0.25 / (0.25 + 1 + 4))


@pytest.mark.parametrize(("n", "m"), [(2, 4), (4, 8), (1, 4)])
@pytest.mark.parametrize("shape", [(6, 16), (4, 8, 3, 3)])
def test_nm_pattern_keeps_n_of_every_m_along_input_dim(n, m, shape):
    scores = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    mask = M.nm_mask(scores, n, m)
    groups = mask.movedim(1, -1).reshape(-1, m)
    assert (groups.sum(1) == n).all()
    kept = scores.movedim(1, -1).reshape(-1, m)
    for g_mask, g_scores in zip(groups, kept):
        assert g_scores[g_mask].min() >= g_scores[~g_mask].max()


def test_nm_requires_input_dim_multiple_of_m():
    with pytest.raises(PrunevizError, match="multiple of 4"):
        M.nm_mask(torch.randn(4, 6), 2, 4)


def test_filter_mask_zeroes_whole_lowest_filters():
    scores = torch.tensor([3.0, 1.0, 2.0, 0.5])
    mask = M.filter_mask(scores, 0.5, torch.Size([4, 2, 3, 3]))
    assert mask.shape == (4, 2, 3, 3)
    assert [bool(mask[i].all()) for i in range(4)] == [True, False, True, False]
    assert not mask[1].any() and not mask[3].any()
    assert M.sparsity_of(mask) == 0.5
