import pytest
import torch

from pruneviz.core import masks as M
from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import FILTER, GRANULARITIES, NM, UNSTRUCTURED, granularity, rankable
from pruneviz.core.importance import FILTER_CRITERIA, WEIGHT_CRITERIA


def test_names_users_type_find_one_type_each():
    assert granularity("unstructured") == UNSTRUCTURED
    assert granularity("filter") == FILTER
    assert granularity("2:4") == NM(2, 4)
    assert granularity("1:8") == NM(1, 8)  # any N:M parses, not only the offered ones
    assert granularity(FILTER) is FILTER
    assert GRANULARITIES.registered() == ["unstructured", "filter", "2:4", "4:8"]
    with pytest.raises(PrunevizError, match="unknown granularity 'channel'"):
        granularity("channel")
    with pytest.raises(PrunevizError, match="0 < N < M"):
        granularity("4:2")


def test_each_knows_its_criteria_default_and_whether_it_fixes_the_sparsity():
    assert (UNSTRUCTURED.criteria, UNSTRUCTURED.default_criterion) == (WEIGHT_CRITERIA, "magnitude")
    assert (FILTER.criteria, FILTER.default_criterion) == (FILTER_CRITERIA, "l1")
    assert NM(2, 4).criteria is WEIGHT_CRITERIA and NM(2, 4).fixed_sparsity == 0.5
    assert NM(1, 4).fixed_sparsity == 0.75
    assert [g.name for g in rankable()] == ["unstructured", "filter"]
    assert FILTER.check_criterion("taylor") == "taylor"
    with pytest.raises(PrunevizError, match="unknown filter criterion 'magnitude' for granularity filter"):
        FILTER.check_criterion("magnitude")


def test_which_layers_can_take_it():
    assert NM(2, 4).eligible((16, 32, 3, 3)) and UNSTRUCTURED.eligible((16, 1, 3, 3))
    assert NM(2, 4).ineligible((16, 1, 3, 3)) == "2:4 needs the input dimension to be a multiple of 4"
    assert NM(4, 8).ineligible((10, 12)) is not None


def test_masks_follow_the_rules_of_masks_py():
    torch.manual_seed(0)
    w = torch.randn(8, 16)
    assert torch.equal(UNSTRUCTURED.mask(w.abs(), 0.3, w.shape), M.unstructured_mask(w.abs(), 0.3))
    per_filter = w.abs().sum(1)
    assert torch.equal(FILTER.mask(per_filter, 0.5, w.shape), M.filter_mask(per_filter, 0.5, w.shape))
    assert torch.equal(NM(2, 4).mask(w.abs(), 0.1, w.shape), M.nm_mask(w.abs(), 2, 4))  # sparsity fixed


def test_ranked_masks_cut_one_ranking_at_any_level():
    torch.manual_seed(1)
    w = torch.randn(6, 4, 3, 3)
    per_filter = w.abs().flatten(1).sum(1)
    for level in (0.0, 0.34, 0.5, 0.9):
        by_ranking = FILTER.ranked_mask(M.ranking(per_filter), level, w.shape)
        assert torch.equal(by_ranking, FILTER.mask(per_filter, level, w.shape))
        assert torch.equal(
            UNSTRUCTURED.ranked_mask(M.ranking(w.abs()), level, w.shape),
            UNSTRUCTURED.mask(w.abs(), level, w.shape),
        )
    assert FILTER.units(w.shape) == 6 and UNSTRUCTURED.units(w.shape) == 6 * 4 * 9
    assert torch.equal(FILTER.unit_scores(w), w.flatten(1).sum(1))
    keep = torch.tensor([True, False, True, True, False, True])
    assert torch.equal(FILTER.expand(keep, w.shape), M.expand_filters(keep, w.shape))
