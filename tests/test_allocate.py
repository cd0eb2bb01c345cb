import pytest
import torch

from pruneviz import allocate as A
from pruneviz.errors import PrunevizError


def test_uniform_and_ramp():
    names = ["a", "b", "c"]
    assert A.uniform(names, 0.4) == {"a": 0.4, "b": 0.4, "c": 0.4}
    ramp = A.ramp(names, 0.4)
    assert ramp["a"] < ramp["b"] < ramp["c"]
    assert sum(ramp.values()) / 3 == pytest.approx(0.4)
    assert max(A.ramp(names, 0.9).values()) == A.MAX_SPARSITY


def test_global_threshold_matches_one_threshold_over_all_scores():
    scores = {"small": torch.arange(10.0), "large": torch.arange(10.0) + 5}
    alloc = A.global_threshold(scores, 0.5)
    # the 10 lowest of 0..9 and 5..14: 0..7 from "small", 5 and 6 from "large" (ties go to the earlier layer)
    assert alloc == {"small": 0.8, "large": 0.2}
    assert (alloc["small"] * 10 + alloc["large"] * 10) / 20 == pytest.approx(0.5)  # half of all 20 weights


def test_greedy_takes_the_cheapest_weights_first():
    curves = {"big": {0.0: 0.9, 0.5: 0.9, 0.9: 0.88}, "small": {0.0: 0.9, 0.5: 0.5, 0.9: 0.1}}
    sizes = {"big": 1000, "small": 100}
    plan, predicted = A.greedy_from_curves(curves, 0.9, sizes, 1100, remove=0.4)
    assert plan == {"big": 0.5, "small": 0.0} and predicted == 0.0
    plan, predicted = A.greedy_from_curves(curves, 0.9, sizes, 1100, max_drop=0.05)
    assert plan == {"big": 0.9, "small": 0.0} and predicted == pytest.approx(0.02)


def test_targets_are_validated():
    with pytest.raises(PrunevizError, match="exactly one"):
        A.Target(params=0.5, max_drop=0.01)
    with pytest.raises(PrunevizError, match="between 0 and 1"):
        A.Target(max_drop=1.5)


@pytest.mark.parametrize("spec", ["demo:cnn", "demo:mlp", "demo:resnet"])
def test_auto_within_one_point_beats_uniform_at_the_same_size(spec):
    from pruneviz.data import load_data
    from pruneviz.models import load_model
    from pruneviz.sensitivity import SweepSpec, sweep
    from pruneviz.session import PruneSession

    model = load_model(spec)
    session = PruneSession(model, load_data(None, model))
    sensitivity = sweep(session, SweepSpec())
    result = A.auto_allocate(session, sensitivity, A.Target(max_drop=0.01))
    assert sensitivity.baseline_accuracy - result.measured_accuracy <= 0.01  # verified, not predicted
    assert result.removed_params > 0.2
    assert result.measured_accuracy > result.baselines["uniform"]
    assert session.report().accuracy == result.measured_accuracy  # the session shows the allocation
