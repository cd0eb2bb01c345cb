"""Criteria compared layer by layer (pruneviz.workflows.compare) on the shipped CNN."""

import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.workflows.compare import compare_criteria, jaccard
from pruneviz.workflows.session import LayerPlan, open_session


def test_jaccard_is_the_shared_fraction_of_the_union():
    a = torch.tensor([True, True, False, False])
    b = torch.tensor([True, False, True, False])
    assert jaccard(a, b) == pytest.approx(1 / 3)
    assert jaccard(a, a) == 1.0 and jaccard(a, ~a) == 0.0
    assert jaccard(torch.zeros(3, dtype=torch.bool), torch.zeros(3, dtype=torch.bool)) == 1.0


@pytest.fixture(scope="module")
def cnn():
    return open_session("demo:cnn")


@pytest.fixture(scope="module")
def compared(cnn):
    return compare_criteria(cnn, ("magnitude", "l2", "random", "sparsegpt"), 0.5)


def test_criteria_that_rank_alike_share_every_pruned_weight_and_random_about_a_third(compared, cnn):
    assert compared.layers == cnn.layer_names
    for layer in compared.layers:
        assert compared.overlap[("magnitude", "l2")][layer] == 1.0  # |w| and w² order weights alike
        assert compared.score["magnitude"][layer] == compared.score["l2"][layer]
    # two independent halves share a quarter of the weights: 1/4 / (3/4) = 1/3 of their union
    assert compared.overlap[("magnitude", "random")]["fc1"] == pytest.approx(1 / 3, abs=0.02)


def test_each_score_is_the_metric_with_that_layer_alone_pruned_as_a_slider_prunes_it(compared, cnn):
    for criterion, layer in (("random", "conv2"), ("sparsegpt", "fc1")):
        other = cnn.fork()
        other.apply_layer_plans({layer: LayerPlan(0.5, criterion)})
        assert compared.score[criterion][layer] == pytest.approx(other.report().score)
    assert compared.score["random"]["conv2"] < compared.baseline  # half of conv2 at random costs
    assert compared.change("random", "conv2") > 0
    assert cnn.masks == {}  # the session compared is left dense


def test_a_criterion_that_cannot_take_a_layer_leaves_a_gap_and_bad_asks_are_refused(compared, cnn):
    assert compared.score["sparsegpt"].get("conv1") is None  # SparseGPT prunes Linear layers only
    assert compared.overlap[("magnitude", "sparsegpt")].get("conv1") is None
    row = next(r for r in compared.rows() if r["layer"] == "conv1")
    assert row["magnitude ~ sparsegpt"] is None and row["accuracy magnitude"] is not None
    with pytest.raises(PrunevizError, match="at least two criteria"):
        compare_criteria(cnn, ("magnitude", "magnitude"), 0.5)
    with pytest.raises(PrunevizError, match="unknown weight criterion 'nope'"):
        compare_criteria(cnn, ("magnitude", "nope"), 0.5)


def test_a_method_watching_layers_leaves_a_gap_where_the_model_never_runs_the_layer():
    """demo:vit's attention outputs (nn.MultiheadAttention's out_proj) are never called: Wanda has no
    inputs to read there (it once stopped the comparison with a KeyError); magnitude still prunes them."""
    vit = open_session("demo:vit")
    compared = compare_criteria(vit, ("magnitude", "wanda"), 0.5)
    out_proj, mlp = (
        "encoder.layers.encoder_layer_0.self_attention.out_proj",
        "encoder.layers.encoder_layer_0.mlp.0",
    )
    assert compared.score["wanda"].get(out_proj) is None and compared.score["magnitude"][out_proj] is not None
    assert compared.score["wanda"][mlp] is not None and 0 < compared.overlap[("magnitude", "wanda")][mlp] < 1
