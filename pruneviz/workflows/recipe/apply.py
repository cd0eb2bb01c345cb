"""A recipe applied to a session: the fine-tune it records replayed, then what it removes for real
(planned as the model's kind of structure says) or masks, then the weight format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pruneviz.core.errors import PrunevizError
from pruneviz.core.registry import Registry
from pruneviz.io.vision import vision_blocks
from pruneviz.tasks import FILTERS, TRANSFORMER, VISION_TRANSFORMER
from pruneviz.workflows.recipe.resolve import resolve_for
from pruneviz.workflows.recipe.schema import Recipe
from pruneviz.workflows.recovery import finetune, train_split
from pruneviz.workflows.sequential import apply_plans
from pruneviz.workflows.session import GlobalPlan, PruneSession
from pruneviz.workflows.structured import Removal, StructuredPlan
from pruneviz.workflows.transformer import TransformerPlan, plan_transformer
from pruneviz.workflows.vision import plan_vision


@dataclass(frozen=True)
class Planner:
    """How one kind of structure (:class:`pruneviz.tasks.StructureKind`, by name) is planned: the plan
    type a recipe's ``structure:`` parses to for it, and the planning."""

    plan_type: type
    plan: Callable[[PruneSession, Any], Removal]


PLANNERS: Registry[Planner] = Registry("structure planner")
PLANNERS.register(FILTERS.name)(Planner(StructuredPlan, lambda s, p: s.plan_removal(p)))
PLANNERS.register(VISION_TRANSFORMER.name)(
    Planner(TransformerPlan, lambda s, p: plan_vision(s, p, vision_blocks(s.calibration().model)))
)
PLANNERS.register(TRANSFORMER.name)(Planner(TransformerPlan, plan_transformer))


def plan_structure(session: PruneSession, plan: StructuredPlan | TransformerPlan) -> Removal:
    """What ``plan`` removes from the session's dense model, planned as the model's kind of structure
    says (filters chosen by Torch-Pruning, a vision transformer's MLP channels and heads, a language
    model's heads, MLP channels and blocks); a plan for another kind is refused in one line."""
    kind = session.task.structure(session.model)
    planner = PLANNERS.get(kind.name)
    if not isinstance(plan, planner.plan_type):
        raise PrunevizError(kind.refusal(session.model.spec, plan.removes))
    return planner.plan(session, plan)


def apply_recipe(
    session: PruneSession, recipe: Recipe, progress: Callable[[float, str], None] | None = None
) -> None:
    """Apply ``recipe`` to the session's working copy (replacing any masks it had): the fine-tune it
    records first (replayed from the loaded weights), then what it removes or masks; reconstruction
    methods (sparsegpt) run their sequential algorithm; the weight format it names comes last."""
    session.quantize(None)  # masks are solved on float weights
    if recipe.training is not None:  # its masks stand: a layer still planned as trained keeps its mask
        replay_training(session, recipe, progress)
    elif session.origin is not None:  # a recipe without a fine-tune is of the loaded weights
        session.back_to_loaded()
    if recipe.structure is not None:  # the exact preview of the smaller model
        session.preview_removal(plan_structure(session, recipe.structure))
        return
    plan = resolve_for(session, recipe)
    if isinstance(plan, GlobalPlan):
        session.reset()
        session.apply_global(plan)
    else:
        apply_plans(session, plan, progress, recipe.calibration)
    session.quantize(recipe.quantize)


def replay_training(
    session: PruneSession, recipe: Recipe, progress: Callable[[float, str], None] | None = None
) -> None:
    """Give ``session`` the dense weights the fine-tune in ``recipe.training`` made: from the loaded
    weights, pruned towards its target plans (default: the recipe's own) on the same schedule, with the
    same settings and seed, so the weights are the very ones the recorded fine-tune gave."""
    spec = recipe.training
    target = spec.target
    if target is None:
        plan = resolve_for(session, replace(recipe, training=None))
        if isinstance(plan, GlobalPlan):
            raise PrunevizError("a recipe's fine-tune prunes towards per-layer plans, not a global ranking")
        target = plan
    session.back_to_loaded()
    finetune(
        session, target, train_split(session), spec.config, spec.schedule, spec.rounds, progress=progress
    )
