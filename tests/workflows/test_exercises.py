"""Each exercise is solvable (a reference solution passes) and really checks (the dense model fails)."""

import pytest

from pruneviz.workflows.exercises import EXERCISES
from pruneviz.workflows.session import GlobalPlan, LayerPlan

SENSITIVE, EIGHTY, NM, FILTERS = EXERCISES


def test_most_sensitive_layer(cnn_session):
    base = cnn_session.report()
    verdicts = {n: SENSITIVE.check(cnn_session, base, n) for n in cnn_session.layer_names}
    assert sum(v.passed for v in verdicts.values()) == 1
    assert not SENSITIVE.check(cnn_session, base, None).passed


def test_eighty_percent(cnn_session):
    base = cnn_session.report()
    assert not EIGHTY.check(cnn_session, base, None).passed
    cnn_session.apply_global(GlobalPlan(0.8, lamp=True))
    verdict = EIGHTY.check(cnn_session, base, None)
    assert verdict.passed and str(verdict).startswith("Passed — "), verdict.message
    cnn_session.apply_layer_plans({n: LayerPlan(0.95) for n in cnn_session.layer_names})
    assert not EIGHTY.check(cnn_session, base, None).passed  # sparse enough, but accuracy collapsed


def test_two_four(cnn_session):
    base = cnn_session.report()
    assert not NM.check(cnn_session, base, None).passed
    cnn_session.apply_layer_plans({n: LayerPlan(0.5, "magnitude", "2:4") for n in ("conv2", "fc1", "fc2")})
    verdict = NM.check(cnn_session, base, None)
    assert verdict.passed, verdict.message


@pytest.mark.parametrize(("criterion", "passes"), [("activation", True), ("l1", False)])
def test_half_the_filters(cnn_session, criterion, passes):
    base = cnn_session.report()
    assert not FILTERS.check(cnn_session, base, None).passed
    cnn_session.apply_layer_plans({n: LayerPlan(0.5, criterion, "filter") for n in ("conv1", "conv2")})
    assert FILTERS.check(cnn_session, base, None).passed is passes


def test_the_answers_in_the_workshop_checklist_pass(cnn_session):
    """docs/serving.md gives an instructor one passing answer per exercise: each must pass."""
    base = cnn_session.report()
    assert SENSITIVE.check(cnn_session, base, "conv1").passed
    cnn_session.apply_layer_plans({"conv2": LayerPlan(0.6), "fc1": LayerPlan(0.85), "fc2": LayerPlan(0.3)})
    assert EIGHTY.check(cnn_session, base, None).passed
    cnn_session.reset()
    cnn_session.apply_layer_plans({n: LayerPlan(0.5, "magnitude", "2:4") for n in ("conv2", "fc1", "fc2")})
    assert NM.check(cnn_session, base, None).passed
    cnn_session.reset()
    cnn_session.apply_layer_plans({n: LayerPlan(0.5, "taylor", "filter") for n in ("conv1", "conv2")})
    assert FILTERS.check(cnn_session, base, None).passed
