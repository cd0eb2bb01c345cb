"""What you see is what you export: the session's versions, the origin of its weights, and the recipe it
gives, which rebuilds exactly the model the session shows (or is refused, saying why)."""

import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.core.history import History
from pruneviz.workflows.lottery import LotteryRun, adopt_ticket
from pruneviz.workflows.recipe import (
    apply_recipe,
    parse_recipe,
    recipe_problem,
    session_document,
    uniform_plans,
)
from pruneviz.workflows.recovery import TrainConfig, Trained, finetune, train_split
from pruneviz.workflows.session import GlobalPlan, LayerPlan, Opaque, PruneSession, open_session
from pruneviz.workflows.structured import StructuredPlan

FIVE_STEPS = TrainConfig(steps=5, batch_size=32, eval_every=5)


def rebuilt(session: PruneSession) -> PruneSession:
    """A fresh session of the same model with the session's recipe applied: what `pruneviz evaluate
    MODEL --recipe <the sidebar's recipe>` computes."""
    fresh = open_session(session.model.spec)
    apply_recipe(fresh, parse_recipe(session_document(session)))
    return fresh


def assert_same_model(a: PruneSession, b: PruneSession) -> None:
    ra, rb = a.report(), b.report()
    assert (ra.score, ra.params_nonzero, ra.macs_effective) == (
        rb.score,
        rb.params_nonzero,
        rb.macs_effective,
    )
    assert all(torch.equal(a.modules[n].weight, b.modules[n].weight) for n in a.layer_names)


def sliders(session: PruneSession, **sparsity: float) -> None:
    session.apply_layer_plans(uniform_plans(session.layers, sparsity, "magnitude", LayerPlan(0).granularity))


def test_every_change_of_masks_advances_the_version_and_of_dense_weights_the_basis(cnn_session):
    stamp, masks_stamp = cnn_session.stamp(), cnn_session.stamp(masks=True)
    sliders(cnn_session, fc1=0.5)
    assert cnn_session.holds(stamp) and not cnn_session.holds(masks_stamp)
    finetune(cnn_session, dict(cnn_session.plans), train_split(cnn_session), FIVE_STEPS)
    assert not cnn_session.holds(stamp)
    undo = cnn_session.stamp()
    cnn_session.back_to_loaded()
    assert not cnn_session.holds(undo) and cnn_session.origin is None


def test_a_structured_preview_gives_the_recipe_of_its_structure_not_the_sliders(cnn_session):
    """Regression: the Prune page's plans outlived the preview, so the recipe said conv2 was dense."""
    sliders(cnn_session, fc1=0.5)
    cnn_session.preview_removal(cnn_session.plan_removal(StructuredPlan({"conv2": 0.5})))
    doc = session_document(cnn_session)
    assert doc["structure"] == {"filters": {"conv2": 0.5}, "criterion": "l1"} and "layers" not in doc
    assert_same_model(rebuilt(cnn_session), cnn_session)


@pytest.mark.parametrize("plan", [GlobalPlan(0.7, "taylor"), GlobalPlan(0.6, lamp=True), GlobalPlan(0.4)])
def test_a_global_ranking_is_written_as_the_per_layer_plans_that_give_the_same_masks(cnn_session, plan):
    cnn_session.apply_global(plan)
    assert_same_model(rebuilt(cnn_session), cnn_session)


def test_a_fine_tune_is_replayed_by_its_recipe_even_after_the_sliders_move_on(cnn_session):
    sliders(cnn_session, conv2=0.5, fc1=0.8)
    finetune(cnn_session, dict(cnn_session.plans), train_split(cnn_session), FIVE_STEPS)
    assert isinstance(cnn_session.origin, Trained)
    assert_same_model(rebuilt(cnn_session), cnn_session)
    sliders(cnn_session, conv2=0.3, fc1=0.9, fc2=0.2)  # new masks on the fine-tuned weights
    doc = session_document(cnn_session)
    assert doc["training"]["target"]["fc1"]["sparsity"] == 0.8 and doc["layers"]["fc1"]["sparsity"] == 0.9
    assert_same_model(rebuilt(cnn_session), cnn_session)


def test_weights_no_recipe_rebuilds_are_refused_with_the_reason(cnn_session):
    train = train_split(cnn_session)
    finetune(cnn_session, {}, train, FIVE_STEPS)
    finetune(cnn_session, {}, train, FIVE_STEPS)
    assert "a second fine-tune" in recipe_problem(cnn_session)
    with pytest.raises(PrunevizError, match="no recipe rebuilds this session's weights"):
        session_document(cnn_session)
    other = open_session("demo:cnn")
    state = other.snapshot()
    adopt_ticket(other, LotteryRun([], masks={}, state=state.state))
    assert isinstance(other.origin, Opaque) and "lottery ticket" in recipe_problem(other)


def test_a_forked_job_carries_the_origin_of_the_weights_it_started_from(cnn_session):
    finetune(cnn_session, {}, train_split(cnn_session), FIVE_STEPS)
    fork = cnn_session.fork()
    assert fork.origin == cnn_session.origin and fork.layer_names == cnn_session.layer_names
    assert all(torch.equal(fork.dense_weights[n], cnn_session.dense_weights[n]) for n in fork.layer_names)


def test_a_configuration_tried_again_on_new_weights_is_a_new_trial():
    """Regression: after a fine-tune, the history answered a configuration tried before with its old score."""
    history = History()
    first = history.add({"fc1": 0.5}, "magnitude", "unstructured", 0.9, 100, basis=0)
    assert history.add({"fc1": 0.5}, "magnitude", "unstructured", 0.9, 100, basis=0) == first
    again = history.add({"fc1": 0.5}, "magnitude", "unstructured", 0.95, 100, basis=3)
    assert again != first and history.trials[again].score == 0.95
    assert history.pareto(3) == [again] and history.pareto(0) == [first]
