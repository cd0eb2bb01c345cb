"""Sequential Wanda and SparseGPT against the reference algorithms (tests/workflows/reference_pruning.py,
transcribed from locuslab/wanda) on demo:gpt, same calibration windows, same evaluation."""

import pytest
import torch

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

    def both(method):
        ours = gpt.fork(keep_weights=False)
        layers = [n for n in ours.layer_names if int(n.split(".")[2]) < BLOCKS]
        apply_plans(ours, {n: LayerPlan(SPARSITY, method) for n in layers})
        model = gpt.calibration().copy()
        reference_prune(model, gpt.data.calibration[0], SPARSITY, method, BLOCKS)
        theirs = gpt.fork(keep_weights=False)
        theirs.take_weights(model.state_dict(), Opaque(f"the reference's {method}"))
        return ours, theirs

    return {method: both(method) for method in ("wanda", "sparsegpt")}


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
