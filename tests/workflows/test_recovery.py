import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.io.data import load_data
from pruneviz.io.models import load_model
from pruneviz.workflows.recovery import (
    TrainConfig,
    cubic_sparsity,
    finetune,
    schedule_fractions,
    train_epochs,
    train_split,
)
from pruneviz.workflows.session import GlobalPlan, LayerPlan, PruneSession


def _mlp() -> PruneSession:
    model = load_model("demo:mlp")
    return PruneSession(model, load_data(None, model))


def _zeros_held(session: PruneSession) -> bool:
    return all(bool((session.modules[n].weight[~m] == 0).all()) for n, m in session.masks.items())


def test_one_shot_finetune_recovers_most_of_the_accuracy_at_90_percent():
    session = _mlp()
    dense = session.report().score
    plans = {n: LayerPlan(0.9) for n in session.layer_names}
    session.apply_layer_plans(plans)
    pruned = session.report().score
    points = finetune(session, plans, train_split(session), TrainConfig(steps=300))
    tuned = session.report()
    assert _zeros_held(session) and points[-1].sparsity == pytest.approx(0.9, abs=1e-3)
    assert tuned.params_nonzero < 0.12 * tuned.params_total
    # measured: dense 98.06%, one-shot 69.44%, fine-tuned 96.94%
    assert pruned < dense - 0.2 and tuned.score > dense - 0.03
    assert tuned.score - pruned > 0.8 * (dense - pruned)


@pytest.mark.parametrize("granularity", ["2:4", "filter"])
def test_masks_stay_exact_through_training(resnet_session, granularity):
    criterion = "l1" if granularity == "filter" else "magnitude"
    plans = {
        n: LayerPlan(0.5, criterion, granularity) for n in ("layer1.conv1", "layer2.conv2", "layer3.conv1")
    }
    train = load_data("digits", resnet_session.model, train=True, limit=256)
    finetune(resnet_session, plans, train, TrainConfig(steps=40, eval_every=20))
    assert _zeros_held(resnet_session)
    w = resnet_session.modules["layer2.conv2"].weight
    if granularity == "2:4":
        assert ((w.movedim(1, -1).reshape(-1, 4) != 0).sum(1) <= 2).all()
    else:
        assert int((w.flatten(1).abs().sum(1) == 0).sum()) == 16


@pytest.mark.parametrize("schedule", ["iterative", "gradual"])
def test_schedules_reach_the_target_step_by_step(schedule):
    session = _mlp()
    plans = {n: LayerPlan(0.8) for n in session.layer_names}
    points = finetune(
        session, plans, train_split(session), TrainConfig(steps=90, eval_every=10), schedule, rounds=3
    )
    sparsities = [p.sparsity for p in points]
    assert (
        sparsities == sorted(sparsities)
        and sparsities[0] < 0.8
        and sparsities[-1] == pytest.approx(0.8, abs=1e-3)
    )
    assert [p.step for p in points][-1] == 90 and _zeros_held(session)


def test_schedule_fractions():
    assert schedule_fractions("oneshot", 5) == [1.0]
    assert schedule_fractions("iterative", 4) == [0.25, 0.5, 0.75, 1.0]
    cubic = schedule_fractions("gradual", 3)
    assert cubic[-1] == 1.0 and cubic[0] == pytest.approx(1 - (2 / 3) ** 3)
    assert cubic_sparsity(0, 10, 0.1, 0.9) == pytest.approx(0.1)
    with pytest.raises(PrunevizError):
        schedule_fractions("sudden", 3)


def test_training_is_deterministic(cnn_session):
    train = load_data("digits", cnn_session.model, train=True, limit=256)
    cnn_session.apply_global(GlobalPlan(0.5))
    start = {k: v.clone() for k, v in cnn_session.working.state_dict().items()}
    results = []
    for _ in range(2):
        cnn_session.working.load_state_dict(start)
        train_epochs(cnn_session, train, epochs=1)
        results.append({k: v.clone() for k, v in cnn_session.working.state_dict().items()})
    assert all(torch.equal(results[0][k], results[1][k]) for k in start)


def test_bad_training_settings_and_missing_training_split(cnn_session, tmp_path, monkeypatch):
    with pytest.raises(PrunevizError, match="positive"):
        TrainConfig(steps=0)
    with pytest.raises(PrunevizError, match="unknown optimizer"):
        TrainConfig(optimizer="lion")
    cnn_session.data.spec = "python:mydata:val"
    with pytest.raises(PrunevizError, match="--train-data"):
        train_split(cnn_session)
