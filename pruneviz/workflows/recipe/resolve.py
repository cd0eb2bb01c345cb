"""A recipe against a concrete model: every named layer checked, the default spread over the layers
that can take it, the allocation applied, and the filter-removal part for Torch-Pruning."""

from __future__ import annotations

from dataclasses import replace

from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import FILTER, Granularity
from pruneviz.core.layers import LayerInfo
from pruneviz.io.models import LoadedModel
from pruneviz.workflows.allocate import owl_sparsity
from pruneviz.workflows.plans import Refusal
from pruneviz.workflows.recipe.schema import Recipe
from pruneviz.workflows.session import GlobalPlan, LayerPlan, PruneSession
from pruneviz.workflows.structured import StructuredPlan


def check_model(recipe: Recipe, model: LoadedModel, source: str = "the recipe") -> None:
    """Refuse a recipe written for another model: its ``model`` must be the loaded model's spec or the
    architecture that spec rebuilds (a checkpoint of ``demo:cnn`` takes ``demo:cnn``'s recipes)."""
    if recipe.model is not None and recipe.model not in (model.spec, model.arch_spec):
        raise PrunevizError(
            f"{source} is for {recipe.model}, not for {model.spec}: load that model, or delete the "
            "recipe's 'model:' line to apply it to this one"
        )


def resolve(recipe: Recipe, layers: list[LayerInfo]) -> dict[str, LayerPlan] | GlobalPlan:
    """Turn the recipe into a plan for a concrete model, checking every named layer exists and can
    take its plan (granularity and criterion). ``default`` skips layers that cannot take it (they stay
    dense; :func:`skipped_by_default` names them)."""
    by_name = {x.name: x for x in layers}
    for name in (*recipe.pinned, *recipe.layers):
        if name not in by_name:
            raise PrunevizError(f"recipe names unknown layer {name!r} (see `pruneviz info` for the layers)")
    for name, plan in recipe.layers.items():
        refusal = plan.ineligible(by_name[name])
        if refusal and not plan.dense:
            raise PrunevizError(f"recipe: layer {name!r} {refusal}")
    if recipe.global_plan is not None:
        return recipe.global_plan
    skipped = set(skipped_by_default(recipe, layers))
    plans = {}
    for name in by_name:
        if name in recipe.layers:
            plans[name] = recipe.layers[name]
        elif recipe.default is not None and name not in recipe.pinned and name not in skipped:
            plans[name] = recipe.default
        else:
            plans[name] = LayerPlan(0.0)
    return plans


def skipped_by_default(recipe: Recipe, layers: list[LayerInfo]) -> dict[str, Refusal]:
    """Layers the recipe's ``default`` would prune but that cannot take it (left dense), with why: its
    granularity (2:4 and 6 inputs) or its criterion (SparseGPT and a conv)."""
    if recipe.default is None or recipe.default.dense:
        return {}
    refusals = {x.name: recipe.default.ineligible(x) for x in layers}
    return {
        name: refusal
        for name, refusal in refusals.items()
        if refusal and name not in recipe.layers and name not in recipe.pinned
    }


def uniform_plans(
    layers: list[LayerInfo], sparsity: dict[str, float], criterion: str, kind: Granularity
) -> dict[str, LayerPlan]:
    """One criterion and granularity for every layer at its own sparsity; layers that cannot take them
    stay dense (what the Prune page's sliders and an allocation mean)."""
    plans = {x.name: LayerPlan(sparsity.get(x.name, 0.0), criterion, kind) for x in layers}
    return {x.name: LayerPlan(0.0) if plans[x.name].ineligible(x) else plans[x.name] for x in layers}


def resolve_for(session: PruneSession, recipe: Recipe) -> dict[str, LayerPlan] | GlobalPlan:
    """:func:`resolve` for the session's model, with the recipe's allocation (OWL needs its data)."""
    plan = resolve(recipe, session.layers)
    if recipe.allocation is None or isinstance(plan, GlobalPlan):
        return plan
    spread = [n for n, p in plan.items() if p == recipe.default and n not in recipe.layers]
    owl = recipe.allocation
    sparsity = owl_sparsity(session, spread, recipe.default.sparsity, owl.m, owl.lam) if spread else {}
    return {n: replace(p, sparsity=sparsity[n]) if n in sparsity else p for n, p in plan.items()}


def removes_filters(recipe: Recipe, layers: list[LayerInfo]) -> bool:
    """Whether the recipe asks for whole filters, heads, channels or blocks to go (so that ``apply``
    removes them for real)."""
    if recipe.structure is not None:
        return True
    plan = resolve(recipe, layers)
    if isinstance(plan, GlobalPlan):
        return plan.granularity.structural
    return any(p.granularity.structural and not p.dense for p in plan.values())


def structured_plan(recipe: Recipe, layers: list[LayerInfo]) -> StructuredPlan:
    """The filter-removal part of a recipe, for Torch-Pruning (``granularity: filter`` only).

    Layers with other granularities must be dense: ``apply`` removes filters; masks are ``evaluate``'s.
    """
    plan = resolve(recipe, layers)
    if isinstance(plan, GlobalPlan):
        if not plan.granularity.structural:
            raise PrunevizError(
                f"structural removal needs granularity: filter (this global plan is {plan.granularity})"
            )
        return StructuredPlan(
            global_ratio=plan.sparsity, criterion=plan.criterion, round_to=recipe.round_to, pinned=plan.pinned
        )
    filters = {n: p for n, p in plan.items() if p.granularity.structural and not p.dense}
    others = [n for n, p in plan.items() if not p.granularity.structural and not p.dense]
    if others:
        kind = plan[others[0]].granularity
        raise PrunevizError(
            f"structural removal takes granularity: filter only; '{others[0]}' is {kind} "
            "(use `pruneviz evaluate --save` for masks)"
        )
    criteria = {p.criterion for p in filters.values()}
    if len(criteria) > 1:
        raise PrunevizError(f"structural removal uses one criterion for all layers, got {sorted(criteria)}")
    return StructuredPlan(
        ratios={n: p.sparsity for n, p in filters.items()},
        criterion=criteria.pop() if criteria else FILTER.default_criterion,
        round_to=recipe.round_to,
        pinned=recipe.pinned,
    )


def diff_recipes(a: Recipe, b: Recipe, layers: list[LayerInfo]) -> list[dict]:
    """Layers whose plans differ between two recipes: name, each side's plan, sparsity change (b - a).
    Global recipes are compared as one '(global)' entry."""
    plan_a, plan_b = resolve(a, layers), resolve(b, layers)
    if isinstance(plan_a, GlobalPlan) or isinstance(plan_b, GlobalPlan):
        if plan_a == plan_b:
            return []
        return [{"layer": "(global)", "a": _describe(plan_a), "b": _describe(plan_b), "change": None}]
    out = []
    for x in layers:
        pa, pb = plan_a[x.name], plan_b[x.name]
        if pa != pb:
            out.append(
                {"layer": x.name, "a": _describe(pa), "b": _describe(pb), "change": pb.sparsity - pa.sparsity}
            )
    return out


def _describe(plan: LayerPlan | GlobalPlan | dict) -> str:
    if isinstance(plan, dict):
        return "per layer"
    kind = "global " if isinstance(plan, GlobalPlan) else ""
    return f"{kind}{plan.sparsity:.0%} {plan.criterion} {plan.granularity}"
