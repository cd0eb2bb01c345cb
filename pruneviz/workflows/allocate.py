"""Per-layer sparsity allocation: how a target sparsity is spread over layers.

Each allocation returns ``{layer name: sparsity fraction}``; the dashboard turns them into slider
positions. :func:`auto_allocate` verifies its allocation on a scratch fork: the user's session is never
re-masked by it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from pruneviz.core.blockwise import block_of
from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import UNSTRUCTURED, Granularity
from pruneviz.core.layers import LayerInfo
from pruneviz.core.masks import global_masks, sparsity_of
from pruneviz.core.registry import Registry
from pruneviz.tasks import Metric
from pruneviz.workflows.sensitivity import Sensitivity
from pruneviz.workflows.sequential import apply_plans
from pruneviz.workflows.session import GlobalPlan, LayerPlan, PruneSession, Report

MAX_SPARSITY = 0.99


def uniform(names: list[str], sparsity: float) -> dict[str, float]:
    """Every layer the same fraction."""
    return dict.fromkeys(names, sparsity)


def ramp(names: list[str], sparsity: float) -> dict[str, float]:
    """ "Deeper layers more": a linear ramp over depth whose mean is ``sparsity`` (before clipping at
    0.99). Early layers feed everything after them, so they usually tolerate pruning least."""
    n = len(names)
    return {name: min(MAX_SPARSITY, sparsity * 2 * (i + 1) / (n + 1)) for i, name in enumerate(names)}


def global_threshold(scores: dict[str, torch.Tensor], sparsity: float) -> dict[str, float]:
    """The per-layer fractions that one threshold over all layers' scores produces."""
    return {name: sparsity_of(mask) for name, mask in global_masks(scores, sparsity).items()}


@dataclass(frozen=True)
class Target:
    """What automatic allocation aims for: remove ``params`` or ``macs`` (fractions of the model's
    total), or as much as possible while the metric worsens by at most ``max_drop`` (in its units:
    a fraction for accuracy, 0.01 = 1 pt)."""

    params: float | None = None
    macs: float | None = None
    max_drop: float | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.params, self.macs, self.max_drop) if v is not None]
        if len(given) != 1:
            raise PrunevizError("give exactly one target: --target-params, --target-macs or --max-drop")
        if not given[0] > 0 or (given[0] >= 1 and self.max_drop is None):
            raise PrunevizError(f"a target is a fraction between 0 and 1, got {given[0]}")

    def check(self, metric: Metric) -> None:
        """A drop in a fractional metric (accuracy) must itself be a fraction: 0.01 is one point."""
        if self.max_drop is not None and metric.is_fraction and self.max_drop >= 1:
            raise PrunevizError(f"a target is a fraction between 0 and 1, got {self.max_drop}")


def greedy_from_curves(
    curves: dict[str, dict[float, float]],
    baseline: float,
    sizes: dict[str, int],
    total: int,
    metric: Metric,
    remove: float | None = None,
    max_drop: float | None = None,
) -> tuple[dict[str, float], float]:
    """Per-layer sparsities from sensitivity curves of ``metric``, and the worsening they predict
    (additive, in the metric's units).

    Greedy over the curves: repeatedly take the cheapest step (predicted worsening per weight — or
    MAC — removed) that any layer can make to a higher swept level, until ``remove`` x ``total`` units are
    removed, or while the summed predicted worsening stays within ``max_drop``.
    """
    level = dict.fromkeys(curves, 0.0)

    def drop(layer: str, s: float) -> float:
        return max(0.0, metric.worse_by(baseline, curves[layer][s])) if s > 0 else 0.0

    removed, predicted = 0.0, 0.0
    while remove is None or removed < remove * total:
        best = None
        for layer, curve in curves.items():
            for s in sorted(curve):
                if s <= level[layer]:
                    continue
                gain = (s - level[layer]) * sizes[layer]
                cost = drop(layer, s) - drop(layer, level[layer])
                if max_drop is not None and predicted + cost > max_drop:
                    continue
                ratio = max(cost, 0.0) / gain
                if best is None or ratio < best[0]:
                    best = (ratio, layer, s, gain, cost)
        if best is None:
            break
        _, layer, s, gain, cost = best
        level[layer], removed, predicted = s, removed + gain, predicted + cost
    return level, predicted


def from_sensitivity(
    sensitivity: Sensitivity, layers: list[LayerInfo], remove: float, by: str = "params"
) -> dict[str, float]:
    """The greedy allocation removing ``remove`` (fraction) of the prunable layers' params (or MACs)."""
    sizes = {x.name: getattr(x, by) for x in layers}
    curves, base = sensitivity.curves(), sensitivity.baseline_score
    return greedy_from_curves(curves, base, sizes, sum(sizes.values()), sensitivity.metric, remove=remove)[0]


@dataclass
class AutoResult:
    """An automatic allocation and its verification on the real model (metric values in the task's
    units: fractions for accuracy)."""

    sparsity: dict[str, float]
    criterion: str  # the criterion and granularity the sparsities are meant for (the sweep's)
    granularity: Granularity
    predicted: float | None  # the metric the curves predict for the allocation (OWL predicts none)
    measured: float  # the metric measured with every layer pruned as allocated
    removed_params: float  # fraction of all parameters now zero
    removed_macs: float  # fraction of dense MACs saved
    rounds: int  # verification rounds (1 = the first allocation held)
    baselines: dict[str, float] = field(default_factory=dict)  # metric of global / LAMP at equal size


BACKOFF_ROUNDS = 6  # binary-search steps after an allocation misses its accuracy target


def auto_allocate(session: PruneSession, sensitivity: Sensitivity, target: Target) -> AutoResult:
    """Allocate from the curves, verify with a real evaluation of the combined configuration, and
    (for ``max_drop``) back off and re-verify until the measured drop holds.

    Single-layer curves add up optimistically (each layer alone may cost nothing, all together do), so
    when the verified drop is too large the allocation is scaled down: a binary search over a factor
    on every layer's sparsity (snapped down to swept levels), one real evaluation per round. All of it
    runs on a fork of ``session``, which is left as it was.
    """
    spec, metric = sensitivity.spec, sensitivity.metric
    target.check(metric)
    scratch = session.fork()
    curves = sensitivity.curves()
    base = sensitivity.baseline_score
    dense = scratch.report()
    if target.macs is not None:
        sizes, total, remove = {x.name: x.macs for x in scratch.layers}, dense.macs_dense, target.macs
    else:
        sizes, total, remove = {x.name: x.params for x in scratch.layers}, dense.params_total, target.params
    plan, predicted = greedy_from_curves(
        curves, base, sizes, total, metric, remove=remove, max_drop=target.max_drop
    )

    def verify(candidate: dict[str, float]) -> Report:
        scratch.reset()
        scratch.apply_layer_plans(
            {n: LayerPlan(s, spec.criterion, spec.granularity) for n, s in candidate.items()}
        )
        return scratch.report()

    best, now, rounds = plan, verify(plan), 1
    if target.max_drop is not None and metric.worse_by(base, now.score) > target.max_drop:
        low, high, best, best_report = 0.0, 1.0, dict.fromkeys(plan, 0.0), dense
        for _ in range(BACKOFF_ROUNDS):
            factor = (low + high) / 2
            candidate = {n: _snap(curves[n], factor * s) for n, s in plan.items()}
            report, rounds = verify(candidate), rounds + 1
            if metric.worse_by(base, report.score) <= target.max_drop:
                low, best, best_report = factor, candidate, report
            else:
                high = factor
        now = verify(best) if best_report is not now else now
        predicted = sum(max(0.0, metric.worse_by(base, curves[n][s])) for n, s in best.items() if s > 0)
    sign = -1.0 if metric.higher_is_better else 1.0
    result = AutoResult(
        sparsity=best,
        criterion=spec.criterion,
        granularity=spec.granularity,
        predicted=base + sign * predicted,
        measured=now.score,
        removed_params=1 - now.params_nonzero / now.params_total,
        removed_macs=1 - now.macs_effective / now.macs_dense,
        rounds=rounds,
    )
    result.baselines = _baselines_at(scratch, result.removed_params)
    return result


def _snap(curve: dict[float, float], level: float) -> float:
    """The largest swept level not above ``level``."""
    return max((s for s in curve if s <= level + 1e-12), default=0.0)


def _baselines_at(scratch: PruneSession, removed_params: float) -> dict[str, float]:
    """The metric of uniform, global-magnitude and LAMP allocations removing the same share of weights."""
    sizes = {x.name: x.params for x in scratch.layers}
    scratch.reset()
    share = removed_params * scratch.report().params_total / sum(sizes.values())
    share = min(share, MAX_SPARSITY)
    out = {}
    scratch.apply_layer_plans({n: LayerPlan(share) for n in scratch.layer_names})
    out["uniform"] = scratch.report().score
    for name, lamp in (("global magnitude", False), ("LAMP", True)):
        scratch.reset()
        scratch.apply_global(GlobalPlan(share, lamp=lamp))
        out[name] = scratch.report().score
    return out


OWL_M = 5.0  # an outlier is a Wanda score above M times its layer's mean
OWL_LAMBDA = 0.08  # layer sparsities spread over target ± λ


def owl(outlier_ratios: dict[str, float], sparsity: float, lam: float = OWL_LAMBDA) -> dict[str, float]:
    """OWL (Yin et al., 2024): per-group sparsity from each group's outlier ratio. Ratios are scaled to
    [0, 2λ] and shifted so that their mean density is 1 − ``sparsity``: groups with more outliers keep
    more of their weights. Equal ratios give every group ``sparsity``."""
    values = list(outlier_ratios.values())
    low, high = min(values), max(values)
    scaled = {g: (r - low) / (high - low) * 2 * lam if high > low else 0.0 for g, r in outlier_ratios.items()}
    mean = sum(scaled.values()) / len(scaled)
    return {g: min(MAX_SPARSITY, max(0.0, 1 - (v - mean + (1 - sparsity)))) for g, v in scaled.items()}


def outlier_ratio(metric: torch.Tensor, m: float = OWL_M) -> float:
    """Fraction of ``metric`` entries above ``m`` times their mean (OWL's layer-wise outlier ratio)."""
    flat = metric.detach().flatten().double()
    return (flat > m * flat.mean()).double().mean().item()


def owl_sparsity(
    session: PruneSession, names: list[str], sparsity: float, m: float = OWL_M, lam: float = OWL_LAMBDA
) -> dict[str, float]:
    """OWL sparsity for each of ``names``: Wanda scores over the calibration data, outlier ratios per
    transformer block (a layer outside the blocks is a group of its own), :func:`owl` across groups."""
    metrics = session.input_weighted()
    groups = block_of(session.working, names)
    ratios = {
        g: outlier_ratio(torch.cat([metrics[n].flatten() for n in names if groups[n] == g]), m)
        for g in set(groups.values())
    }
    per_group = owl(dict(sorted(ratios.items())), sparsity, lam)
    return {n: per_group[groups[n]] for n in names}


def owl_allocate(
    session: PruneSession, target: Target, criterion: str = "wanda", kind: Granularity = UNSTRUCTURED
) -> AutoResult:
    """OWL sparsities removing ``target.params`` of the parameters, verified on a fork of ``session``
    (reconstruction criteria solved sequentially) next to uniform, global and LAMP allocations."""
    if target.params is None:
        raise PrunevizError("OWL allocation aims at a share of parameters: give --target-params")
    scratch = session.fork()
    dense = scratch.report()
    prunable = sum(x.params for x in scratch.layers)
    share = min(MAX_SPARSITY, target.params * dense.params_total / prunable)
    sparsity = owl_sparsity(scratch, scratch.layer_names, share)
    apply_plans(scratch, {n: LayerPlan(s, criterion, kind) for n, s in sparsity.items()})
    now = scratch.report()
    return AutoResult(
        sparsity=sparsity,
        criterion=criterion,
        granularity=kind,
        predicted=None,
        measured=now.score,
        removed_params=1 - now.params_nonzero / now.params_total,
        removed_macs=1 - now.macs_effective / now.macs_dense,
        rounds=1,
        baselines=_baselines_at(scratch, 1 - now.params_nonzero / now.params_total),
    )


@dataclass(frozen=True)
class Spreading:
    """What an allocation may read to spread a target: the session (its layers, scores and calibration
    data), the layers it spreads over, the criterion and granularity the plans will have, and the latest
    finished sensitivity sweep (None: none yet)."""

    session: PruneSession
    names: list[str]
    criterion: str = "magnitude"
    kind: Granularity = UNSTRUCTURED
    sweep: Sensitivity | None = None


@dataclass(frozen=True)
class Allocation:
    """One way to spread a target sparsity over layers: its name (what the API's ``allocation=`` and
    ``pruneviz auto --allocation`` take), its label (the Prune page's preset), whether it ranks weights
    across layers (a method that rewrites weights has no such ranking), whether it needs a finished
    sweep, whether ``pruneviz auto`` can aim it at a target and verify it, and the rule itself."""

    name: str
    label: str
    spread: Callable[[Spreading, float], dict[str, float]]
    ranks: bool = False
    needs_sweep: bool = False
    automatic: bool = False


ALLOCATIONS: Registry[Allocation] = Registry("allocation")


def _global(given: Spreading, target: float) -> dict[str, float]:
    scores = given.session.scores(given.criterion, given.kind)
    return global_threshold({n: scores[n] for n in given.names if n in scores}, target)


def _from_sweep(given: Spreading, target: float) -> dict[str, float]:
    if given.sweep is None:
        raise PrunevizError("allocation 'sensitivity' spreads from a sensitivity sweep: run one first")
    return from_sensitivity(given.sweep, given.session.layers, target)


for _allocation in (
    Allocation("uniform", "uniform", lambda given, target: uniform(given.names, target)),
    Allocation("global", "global threshold", _global, ranks=True),
    Allocation("ramp", "deeper layers more", lambda given, target: ramp(given.names, target)),
    Allocation(
        "owl",
        "OWL (outlier-weighted)",
        lambda given, target: owl_sparsity(given.session, given.names, target),
        automatic=True,
    ),
    Allocation("sensitivity", "from sensitivity", _from_sweep, needs_sweep=True, automatic=True),
):
    ALLOCATIONS.register(_allocation.name)(_allocation)


def allocations_for(kind: Granularity, ranks: bool, swept: bool) -> list[Allocation]:
    """The allocations that make sense now, in the registry's order: a fixed N:M sparsity has nothing to
    spread, a method that rewrites weights (``ranks`` False) has no global ranking, and spreading from
    a sweep needs one (``swept``)."""
    found = [ALLOCATIONS.get(n) for n in ALLOCATIONS.registered()]
    if not kind.rankable:
        return found[:1]
    return [a for a in found if (ranks or not a.ranks) and (swept or not a.needs_sweep)]
