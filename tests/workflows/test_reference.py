"""Sequential Wanda, SparseGPT, RIA and DSnoT against the reference algorithms
(tests/workflows/reference_pruning.py, transcribed from the authors' code) on demo:gpt, same calibration
windows, same evaluation."""

import functools

import pytest
import torch

import tests.workflows.reference_pruning as reference
from pruneviz.core import dsnot
from pruneviz.io.data import DataOptions
from pruneviz.workflows.sequential import apply_plans
from pruneviz.workflows.session import LayerPlan, Opaque, open_session
from tests.workflows.reference_pruning import reference_prune

SPARSITY = 0.7
BLOCKS = 2  # of demo:gpt's 4: enough to check what block 1 sees, at half the cost of SparseGPT's solves


@pytest.fixture(scope="module")
def gpt():
    return open_session("demo:gpt", data_options=DataOptions(limit=32, calibration=8), device="cpu")


@pytest.fixture(scope="module")
def pruned(gpt):
    """method -> (pruneviz's session, the reference's session), each pruned to SPARSITY on every layer
    of the first BLOCKS blocks."""

    return {method: _both(gpt, method) for method in ("wanda", "sparsegpt", "ria")}


def _both(gpt, method, sparsity=SPARSITY, granularity="unstructured", prune_n=0, prune_m=0):
    ours = gpt.fork(keep_weights=False)
    layers = [n for n in ours.layer_names if int(n.split(".")[2]) < BLOCKS]
    apply_plans(ours, {n: LayerPlan(sparsity, method, granularity) for n in layers})
    model = gpt.calibration().copy()
    reference_prune(model, gpt.data.calibration[0], sparsity, method, BLOCKS, prune_n, prune_m)
    theirs = gpt.fork(keep_weights=False)
    theirs.take_weights(model.state_dict(), Opaque(f"the reference's {method}"))
    return ours, theirs


def test_sequential_wanda_prunes_exactly_the_weights_the_reference_prunes(pruned):
    ours, theirs = pruned["wanda"]
    for name in ours.layer_names:
        assert torch.equal(ours.modules[name].weight == 0, theirs.modules[name].weight == 0), name
    assert ours.layer_sparsity()["model.layers.1.mlp.down_proj"] == pytest.approx(SPARSITY, abs=0.01)
    assert ours.report().score == pytest.approx(theirs.report().score, rel=1e-6)


def test_sequential_sparsegpt_is_within_one_percent_of_the_reference(pruned, gpt):
    ours, theirs = pruned["sparsegpt"]
    ours_ppl, theirs_ppl, dense = ours.report().score, theirs.report().score, gpt.report().score
    assert theirs_ppl > dense * 1.01  # 70 % sparsity costs something: the comparison below can tell
    assert ours_ppl == pytest.approx(theirs_ppl, rel=0.01)
    for name in ours.layer_names:  # the same sparsity, layer by layer
        assert int((ours.modules[name].weight == 0).sum()) == pytest.approx(
            int((theirs.modules[name].weight == 0).sum()), rel=0.01
        )


def test_ria_prunes_the_references_weights_but_the_one_its_threshold_adds(pruned, gpt):
    """The reference prunes every score ≤ the (s·n)-th lowest: one weight more than floor(s·n) per
    layer. Block 0 sees the same inputs, so there the masks differ by exactly that weight."""
    ours, theirs = pruned["ria"]
    for name in [n for n in ours.layer_names if n.startswith("model.layers.0.")]:
        mine, its = ours.modules[name].weight == 0, theirs.modules[name].weight == 0
        assert int(its.sum()) - int(mine.sum()) == 1 and bool((its | ~mine).all()), name
    dense = gpt.report().score
    assert theirs.report().score > dense * 1.01
    assert ours.report().score == pytest.approx(theirs.report().score, rel=0.01)


@pytest.mark.parametrize("sparsity", [0.5, 0.7])
def test_sequential_dsnot_prunes_exactly_the_weights_the_reference_prunes(gpt, monkeypatch, sparsity):
    """On demo:gpt's 128-wide rows the reference's 50 default cycles run its candidate lists out (it
    then prunes kept weights twice over, or indexes past the list at 70 %): with 10 cycles, where both
    stay within them, the masks are the same weight for weight."""
    monkeypatch.setattr(dsnot, "CYCLES", 10)
    monkeypatch.setattr(
        reference, "_dsnot_prune", functools.partial(reference._dsnot_prune, max_cycle_time=10)
    )
    ours, theirs = _both(gpt, "dsnot", sparsity)
    wanda = _both(gpt, "wanda", sparsity)[0]
    changed = 0
    for name in ours.layer_names:
        mine = ours.modules[name].weight == 0
        assert torch.equal(mine, theirs.modules[name].weight == 0), name
        assert int(mine.sum()) == int((wanda.modules[name].weight == 0).sum()), name
        changed += int((mine != (wanda.modules[name].weight == 0)).sum())
    assert changed > 0  # DSnoT moved weights: the comparison is not Wanda against Wanda


def test_sequential_dsnot_two_of_four_prunes_exactly_the_weights_the_reference_prunes(gpt, monkeypatch):
    """The reference's N:M branch (2 of every 4 inputs pruned): the same masks weight for weight, two of
    every four kept, and different from Wanda's 2:4. With 10 cycles, as above: on 128-wide rows the
    reference's 50 run its growth pointer into kept weights and it then prunes a third weight of a group
    (tests/core/test_dsnot.py shows both; on 256-wide rows the 50 cycles give the same masks)."""
    monkeypatch.setattr(dsnot, "CYCLES", 10)
    monkeypatch.setattr(
        reference, "_dsnot_prune", functools.partial(reference._dsnot_prune, max_cycle_time=10)
    )
    ours, theirs = _both(gpt, "dsnot", 0.5, "2:4", prune_n=2, prune_m=4)
    wanda = _both(gpt, "wanda", 0.5, "2:4")[0]
    changed = 0
    for name in [n for n in ours.layer_names if int(n.split(".")[2]) < BLOCKS]:
        kept = ours.modules[name].weight != 0
        assert torch.equal(kept, theirs.modules[name].weight != 0), name
        assert bool((kept.reshape(kept.shape[0], -1, 4).sum(-1) == 2).all()), name
        changed += int((kept != (wanda.modules[name].weight != 0)).sum())
    assert changed > 0
