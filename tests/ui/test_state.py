"""The Workspace keeps derived results with the versions they come from, and drops what the session has
moved past (visibly: it says what went)."""

import pytest

from pruneviz.core.errors import PrunevizError
from pruneviz.core.history import History
from pruneviz.ui.state import DERIVED, FLOAT, Choice, SliderRequest, Workspace
from pruneviz.ui.uploads import Uploads
from pruneviz.workflows.recipe import parse_recipe
from pruneviz.workflows.recovery import TrainConfig, finetune, train_split
from pruneviz.workflows.session import LayerPlan
from pruneviz.workflows.structured import StructuredPlan


def workspace(session, tmp_path) -> Workspace:
    return Workspace(Choice(), session, session.report(), History(), Uploads(tmp_path, 60))


def test_rankings_survive_slider_moves_but_not_new_dense_weights(cnn_session, tmp_path):
    """Regression: after a fine-tune, the Structured page kept plans ranked on the old weights."""
    ws = workspace(cnn_session, tmp_path)
    ws.cache("removals")["half"] = cnn_session.plan_removal(StructuredPlan({"conv2": 0.5}))
    ws.keep(generated="text of the model as it is")
    cnn_session.prune_layer("fc1", LayerPlan(0.5))
    assert ws.forget_stale() == ["the generated text"] and ws.generated is None and ws.removals
    finetune(cnn_session, dict(cnn_session.plans), train_split(cnn_session), TrainConfig(steps=3))
    assert ws.forget_stale() == ["structured plans"] and ws.removals == {}
    assert ws.forget_stale() == []


def test_a_new_sweep_drops_the_allocation_made_from_the_old_one(cnn_session, tmp_path):
    """Regression: an allocation outlived the sweep it came from."""
    ws = workspace(cnn_session, tmp_path)
    ws.keep(sensitivity="sweep A", estimate="estimate A")
    ws.keep(allocation="allocation from A")
    ws.keep(sensitivity="sweep B")
    assert ws.allocation is None and ws.estimate is None and "allocation" not in ws.stamps


def test_every_derived_field_is_a_field_of_the_workspace_with_a_default(cnn_session, tmp_path):
    ws = workspace(cnn_session, tmp_path)
    for name in DERIVED:
        ws.keep(**{name: "something"})
    ws.drop(*DERIVED)
    assert ws.stamps == {} and all(getattr(ws, n) in (None, {}) for n in DERIVED)


def test_a_recipe_becomes_the_prune_pages_sliders_or_is_refused(cnn_session):
    ranked = SliderRequest.of_recipe(parse_recipe({"pruneviz": 1, "global": {"sparsity": 0.6}}), cnn_session)
    assert ranked.weights == FLOAT
    assert (ranked.granularity.name, ranked.criterion) == ("unstructured", "magnitude")
    assert ranked.sparsity["fc1"] > ranked.sparsity["conv1"]  # what one ranking gives each layer
    assert cnn_session.masks == {}  # the ranking ran on a fork: the session keeps its masks
    mixed = parse_recipe(
        {"pruneviz": 1, "layers": {"fc1": {"sparsity": 0.5}, "fc2": {"sparsity": 0.5, "criterion": "l2"}}}
    )
    with pytest.raises(PrunevizError, match="mixes criteria"):
        SliderRequest.of_recipe(mixed, cnn_session)
