import pytest
import torch

from pruneviz.core import masks as M
from pruneviz.core.errors import PrunevizError
from pruneviz.core.reconstruction import sparsegpt


@pytest.fixture
def layer():
    torch.manual_seed(0)
    w = torch.randn(48, 256)
    x = torch.randn(1500, 256) * torch.rand(256).pow(2) * 4  # inputs of very different sizes
    return w, x, x.T @ x / len(x)


def _error(x, w, w_hat) -> float:
    return (x @ w.T - x @ w_hat.T).pow(2).sum().item()


@pytest.mark.parametrize("sparsity", [0.5, 0.7, 0.37])
def test_unstructured_sparsegpt_reconstructs_better_than_magnitude_with_exact_counts(layer, sparsity):
    w, x, h = layer
    keep, w_hat = sparsegpt(w, h, sparsity)
    assert int((~keep).sum()) == M.prune_count(sparsity, w.numel())  # floor(s * n), exactly
    assert (w_hat[~keep] == 0).all()
    magnitude = w * M.unstructured_mask(w.abs(), sparsity)
    assert _error(x, w, w_hat) < 0.8 * _error(x, w, magnitude)


def test_n_m_sparsegpt_keeps_exactly_n_of_every_m_and_beats_magnitude(layer):
    w, x, h = layer
    keep, w_hat = sparsegpt(w, h, n_m=(2, 4))
    assert (keep.view(48, -1, 4).sum(-1) == 2).all()
    assert ((w_hat != 0).view(48, -1, 4).sum(-1) <= 2).all()
    assert _error(x, w, w_hat) < _error(x, w, w * M.nm_mask(w.abs(), 2, 4))


def test_inputs_that_never_fire_are_pruned_free(layer):
    w, x, _ = layer
    x = x.clone()
    x[:, :8] = 0
    keep, w_hat = sparsegpt(w, x.T @ x / len(x), 0.07)  # the first block prunes 430, the 384 dead first
    assert not keep[:, :8].any() and (w_hat[:, :8] == 0).all()


def test_n_m_needs_a_multiple_of_m_inputs():
    with pytest.raises(PrunevizError, match="multiple of 4"):
        sparsegpt(torch.randn(4, 6), torch.eye(6), n_m=(2, 4))
