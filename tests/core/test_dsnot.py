"""DSnoT's refinement (pruneviz.core.dsnot) on layers wide enough that the reference's candidate
lists last its 50 cycles: the same masks as the authors' code (tests/workflows/reference_pruning.py)."""

import pytest
import torch
from torch import nn

from pruneviz.core import masks as M
from pruneviz.core.dsnot import dsnot
from tests.workflows.reference_pruning import _dsnot_prune, _DSnoTWrapped


def _layer(columns: int, seed: int = 0) -> tuple[nn.Linear, _DSnoTWrapped]:
    """A Linear layer and the reference's statistics of four sequences of inputs with features of
    different scales and means (so that pruning shifts the outputs and DSnoT has something to do)."""
    torch.manual_seed(seed)
    layer = nn.Linear(columns, 64, bias=False)
    wrapped = _DSnoTWrapped(layer)
    scale, offset = torch.rand(columns) * 2, torch.randn(columns) * 0.3
    for _ in range(4):
        wrapped.add_batch(torch.randn(1, 200, columns) * scale + offset)
    return layer, wrapped


def _error(weight, mean, keep) -> float:
    return float(((weight * mean) * ~keep).sum(1).abs().mean())


@pytest.mark.parametrize(("columns", "sparsity"), [(1024, 0.5), (1024, 0.7), (2048, 0.6)])
def test_dsnot_chooses_the_references_mask_and_shrinks_the_output_shift(columns, sparsity):
    layer, wrapped = _layer(columns)
    weight, mean = layer.weight.detach().clone(), wrapped.sum_metric_row
    initial = weight.abs() * wrapped.scaler_row.sqrt()
    ours = dsnot(weight, initial, mean, wrapped.var.reshape(-1), sparsity)
    _dsnot_prune(layer, wrapped, sparsity)
    assert torch.equal(ours, layer.weight != 0)
    wanda = M.row_mask(initial, sparsity)
    assert torch.equal(ours.sum(1), wanda.sum(1))  # the same count in every row
    assert not torch.equal(ours, wanda)
    assert _error(weight, mean, ours) < 0.1 * _error(weight, mean, wanda)


def test_dsnot_keeps_n_of_every_m_chooses_the_references_mask_and_shrinks_the_output_shift():
    layer, wrapped = _layer(256, seed=1)
    weight, mean = layer.weight.detach().clone(), wrapped.sum_metric_row
    initial = weight.abs() * wrapped.scaler_row.sqrt()
    ours = dsnot(weight, initial, mean, wrapped.var.reshape(-1), n_m=(2, 4))
    assert bool((ours.reshape(64, -1, 4).sum(2) == 2).all())
    _dsnot_prune(layer, wrapped, 0.5, prune_n=2, prune_m=4)  # 2 pruned of every 4, its 50 cycles
    assert torch.equal(ours, layer.weight != 0)
    plain = M.nm_mask(initial, 2, 4)
    assert not torch.equal(ours, plain)
    assert _error(weight, mean, ours) < _error(weight, mean, plain)


def test_dsnot_leaves_a_dense_layer_dense():
    layer, wrapped = _layer(64)
    keep = dsnot(layer.weight, layer.weight.abs(), wrapped.sum_metric_row, wrapped.var.reshape(-1), 0.0)
    assert bool(keep.all())


def test_on_narrow_rows_the_references_n_m_runs_past_its_candidates_and_dsnot_stops_the_row():
    """128 inputs, 64 pruned per row: within 50 cycles the reference's growth pointer reaches weights
    that were never pruned, and it then prunes a third of a group; here such a row stops, 2:4 intact."""
    layer, wrapped = _layer(128, seed=1)
    weight, mean = layer.weight.detach().clone(), wrapped.sum_metric_row
    initial = weight.abs() * wrapped.scaler_row.sqrt()
    ours = dsnot(weight, initial, mean, wrapped.var.reshape(-1), n_m=(2, 4))
    assert bool((ours.reshape(64, -1, 4).sum(2) == 2).all())
    _dsnot_prune(layer, wrapped, 0.5, prune_n=2, prune_m=4)
    assert not bool(((layer.weight != 0).reshape(64, -1, 4).sum(2) == 2).all())
