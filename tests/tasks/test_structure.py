"""The kind of structure each model loses is one answer (the Task's), which the planner, the Structured
page and ``remove(fraction)`` all follow; a plan for another kind is refused in one line."""

import re

import pytest

from pruneviz.core.errors import PrunevizError
from pruneviz.io.models import load_model
from pruneviz.tasks import FILTERS, STRUCTURE_KINDS, TRANSFORMER, VISION_TRANSFORMER, task_of
from pruneviz.ui.structured import STRUCTURE_PANELS
from pruneviz.workflows.recipe import PLANNERS, plan_structure
from pruneviz.workflows.session import open_session
from pruneviz.workflows.structured import StructuredPlan
from pruneviz.workflows.transformer import TransformerPlan


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("demo:cnn", FILTERS),
        ("demo:resnet", FILTERS),
        ("demo:gpt", TRANSFORMER),
        ("demo:vit", VISION_TRANSFORMER),
        ("timm:deit_tiny_patch16_224", VISION_TRANSFORMER),
    ],
)
def test_each_model_has_the_kind_its_blocks_say(spec, kind):
    model = load_model(spec)
    assert task_of(model).structure(model) is kind


def test_every_kind_is_planned_and_has_a_panel():
    for name in STRUCTURE_KINDS.names():
        assert name in PLANNERS
        assert name in STRUCTURE_PANELS


@pytest.mark.parametrize(
    ("spec", "plan", "said"),
    [
        (
            "demo:cnn",
            TransformerPlan(heads=0.25),
            "demo:cnn loses whole filters (structure: {filters: 0.3}), not heads",
        ),
        ("demo:gpt", StructuredPlan(global_ratio=0.3), "demo:gpt loses heads, MLP channels and blocks"),
    ],
)
def test_a_plan_for_another_kind_is_refused_in_one_line(spec, plan, said):
    session = open_session(spec)
    with pytest.raises(PrunevizError, match="^" + re.escape(said)) as err:
        plan_structure(session, plan)
    assert "\n" not in str(err.value)
    assert not session.masks and session.removal is None  # nothing changed
