import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.io.data import load_data
from pruneviz.io.models import load_model
from pruneviz.tasks import TASKS
from pruneviz.workflows import allocate as A
from pruneviz.workflows.sensitivity import SweepSpec, sweep
from pruneviz.workflows.session import LayerPlan, PruneSession

ACCURACY = TASKS.get("classification").metric


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
    plan, predicted = A.greedy_from_curves(curves, 0.9, sizes, 1100, ACCURACY, remove=0.4)
    assert plan == {"big": 0.5, "small": 0.0} and predicted == 0.0
    plan, predicted = A.greedy_from_curves(curves, 0.9, sizes, 1100, ACCURACY, max_drop=0.05)
    assert plan == {"big": 0.9, "small": 0.0} and predicted == pytest.approx(0.02)


def test_targets_are_validated():
    with pytest.raises(PrunevizError, match="exactly one"):
        A.Target(params=0.5, max_drop=0.01)
    with pytest.raises(PrunevizError, match="between 0 and 1"):
        A.Target(params=1.5)
    with pytest.raises(PrunevizError, match="between 0 and 1"):
        A.Target(max_drop=1.5).check(ACCURACY)  # 1.5 of accuracy: points were meant


@pytest.mark.parametrize("spec", ["demo:cnn", "demo:mlp", "demo:resnet"])
def test_auto_within_one_point_beats_uniform_at_the_same_size(spec):
    model = load_model(spec)
    session = PruneSession(model, load_data(None, model))
    sensitivity = sweep(session.fork(), SweepSpec())
    result = A.auto_allocate(session, sensitivity, A.Target(max_drop=0.01))
    assert sensitivity.baseline_score - result.measured <= 0.01  # verified, not predicted
    assert result.removed_params > 0.2
    assert result.measured > result.baselines["uniform"]
    check = session.fork()
    check.apply_layer_plans({n: LayerPlan(s) for n, s in result.sparsity.items()})
    assert check.report().score == result.measured  # what was measured is what the allocation gives


def test_auto_allocation_leaves_the_users_session_alone(cnn_session):
    """Regression: auto_allocate used to re-mask the session it was given and keep its training record."""
    cnn_session.apply_layer_plans({"fc1": LayerPlan(0.3)})
    version = cnn_session.stamp(masks=True)
    masks = {n: m.clone() for n, m in cnn_session.masks.items()}
    sensitivity = sweep(cnn_session.fork(), SweepSpec((0.0, 0.5, 0.9)))
    A.auto_allocate(cnn_session, sensitivity, A.Target(params=0.5))
    assert cnn_session.masks.keys() == masks.keys() and torch.equal(cnn_session.masks["fc1"], masks["fc1"])
    assert cnn_session.holds(version)


def test_owl_gives_blocks_with_more_outliers_less_sparsity_around_the_target():
    ratios = {"block 0": 0.02, "block 1": 0.05, "block 2": 0.08}
    alloc = A.owl(ratios, 0.7, lam=0.08)
    assert alloc["block 0"] > alloc["block 1"] > alloc["block 2"]
    assert sum(alloc.values()) / 3 == pytest.approx(0.7)  # the same average
    assert alloc["block 0"] - alloc["block 2"] == pytest.approx(2 * 0.08)  # spread over ±λ
    assert A.owl({"a": 0.1, "b": 0.1}, 0.5) == {"a": 0.5, "b": 0.5}
    assert A.outlier_ratio(torch.tensor([1.0] * 9 + [100.0])) == pytest.approx(0.1)  # 100 > 5 x mean 10.9


def test_owl_spreads_by_transformer_block(tiny_llama):
    from pruneviz.workflows.session import open_session

    session = open_session(f"hf:{tiny_llama}", device="cpu", extra_layers=("lm_head",))
    alloc = A.owl_sparsity(session, session.layer_names, 0.6)
    by_block = {n.split(".")[2] if n.startswith("model.layers.") else n: s for n, s in alloc.items()}
    assert len({s for n, s in alloc.items() if n.startswith("model.layers.0.")}) == 1  # one per block
    assert set(by_block) == {"0", "1", "lm_head"}
    assert sum(by_block.values()) / 3 == pytest.approx(0.6)


def test_the_registry_offers_what_makes_sense_now():
    from pruneviz.core.granularity import granularity

    def names(kind, ranks, swept):
        return [a.name for a in A.allocations_for(granularity(kind), ranks, swept)]

    assert names("unstructured", True, False) == ["uniform", "global", "ramp", "owl"]
    assert names("unstructured", False, True) == ["uniform", "ramp", "owl", "sensitivity"]
    assert names("2:4", True, True) == ["uniform"]  # N:M fixes the sparsity: nothing to spread


def test_every_allocation_spreads_its_target(cnn_session):
    spec = SweepSpec((0.0, 0.5, 0.9), "magnitude", "unstructured")
    given = A.Spreading(cnn_session, cnn_session.layer_names, sweep=sweep(cnn_session.fork(), spec))
    sizes = {x.name: x.params for x in cnn_session.layers}
    for name in A.ALLOCATIONS.registered():
        fractions = A.ALLOCATIONS.get(name).spread(given, 0.5)
        assert set(fractions) == set(sizes), name
        removed = sum(fractions[n] * sizes[n] for n in sizes) / sum(sizes.values())
        mean = sum(fractions.values()) / len(fractions)
        if name == "sensitivity":  # whole steps between the swept levels: at least the target
            assert removed >= 0.5, removed
        else:  # a share of the weights (global), or of every layer on average
            assert 0.45 <= removed <= 0.55 or abs(mean - 0.5) < 0.01, (name, removed, mean)
    with pytest.raises(PrunevizError, match="run one first"):
        A.ALLOCATIONS.get("sensitivity").spread(A.Spreading(cnn_session, cnn_session.layer_names), 0.5)
