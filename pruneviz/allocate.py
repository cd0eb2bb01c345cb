"""Per-layer sparsity allocation: how a target sparsity is spread over layers (pure functions).

Each returns ``{layer name: sparsity fraction}``; the dashboard turns them into slider positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from pruneviz.errors import PrunevizError
from pruneviz.masks import global_masks, sparsity_of
from pruneviz.sensitivity import Sensitivity
from pruneviz.session import GlobalPlan, LayerPlan, PruneSession, Report

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
    total), or as much as possible while losing at most ``max_drop`` accuracy (fraction, 0.01 = 1 pt)."""

    params: float | None = None
    macs: float | None = None
    max_drop: float | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.params, self.macs, self.max_drop) if v is not None]
        if len(given) != 1:
            raise PrunevizError("give exactly one target: --target-params, --target-macs or --max-drop")
        if not 0 < given[0] < 1:
            raise PrunevizError(f"a target is a fraction between 0 and 1, got {given[0]}")


def greedy_from_curves(
    curves: dict[str, dict[float, float]],
    baseline: float,
    sizes: dict[str, int],
    total: int,
    remove: float | None = None,
    max_drop: float | None = None,
) -> tuple[dict[str, float], float]:
    """Per-layer sparsities from sensitivity curves, and the accuracy drop they predict (additive).

    Greedy over the curves: repeatedly take the cheapest step (predicted accuracy lost per weight — or
    MAC — removed) that any layer can make to a higher swept level, until ``remove`` x ``total`` units are
    removed, or while the summed predicted drop stays within ``max_drop``.
    """
    level = dict.fromkeys(curves, 0.0)

    def drop(layer: str, s: float) -> float:
        return max(0.0, baseline - curves[layer][s]) if s > 0 else 0.0

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


@dataclass
class AutoResult:
    """An automatic allocation and its verification on the real model."""

    sparsity: dict[str, float]
    predicted_accuracy: float
    measured_accuracy: float
    removed_params: float  # fraction of all parameters now zero
    removed_macs: float  # fraction of dense MACs saved
    rounds: int  # verification rounds (1 = the first allocation held)
    baselines: dict[str, float] = field(default_factory=dict)  # accuracy of global / LAMP at equal size


BACKOFF_ROUNDS = 6  # binary-search steps after an allocation misses its accuracy target


def auto_allocate(session: PruneSession, sensitivity: Sensitivity, target: Target) -> AutoResult:
    """Allocate from the curves, verify with a real evaluation of the combined configuration, and
    (for ``max_drop``) back off and re-verify until the measured drop holds.

    Single-layer curves add up optimistically (each layer alone may cost nothing, all together do), so
    when the verified drop is too large the allocation is scaled down: a binary search over a factor
    on every layer's sparsity (snapped down to swept levels), one real evaluation per round.
    """
    spec = sensitivity.spec
    curves = sensitivity.curves()
    base = sensitivity.baseline_accuracy
    dense = session.report()
    if target.macs is not None:
        sizes, total, remove = {x.name: x.macs for x in session.layers}, dense.macs_dense, target.macs
    else:
        sizes, total, remove = {x.name: x.params for x in session.layers}, dense.params_total, target.params
    plan, predicted = greedy_from_curves(curves, base, sizes, total, remove=remove, max_drop=target.max_drop)

    def verify(candidate: dict[str, float]) -> Report:
        session.reset()
        session.apply_layer_plans(
            {n: LayerPlan(s, spec.criterion, spec.granularity) for n, s in candidate.items()}
        )
        return session.report()

    best, now, rounds = plan, verify(plan), 1
    if target.max_drop is not None and base - now.accuracy > target.max_drop:
        low, high, best, best_report = 0.0, 1.0, dict.fromkeys(plan, 0.0), dense
        for _ in range(BACKOFF_ROUNDS):
            factor = (low + high) / 2
            candidate = {n: _snap(curves[n], factor * s) for n, s in plan.items()}
            report, rounds = verify(candidate), rounds + 1
            if base - report.accuracy <= target.max_drop:
                low, best, best_report = factor, candidate, report
            else:
                high = factor
        now = verify(best) if best_report is not now else now
        predicted = sum(max(0.0, base - curves[n][s]) for n, s in best.items() if s > 0)
    result = AutoResult(
        sparsity=best,
        predicted_accuracy=base - predicted,
        measured_accuracy=now.accuracy,
        removed_params=1 - now.params_nonzero / now.params_total,
        removed_macs=1 - now.macs_effective / now.macs_dense,
        rounds=rounds,
    )
    result.baselines = _baselines_at(session, result.removed_params)
    verify(best)  # leave the session showing the allocation
    return result


def _snap(curve: dict[float, float], level: float) -> float:
    """The largest swept level not above ``level``."""
    return max((s for s in curve if s <= level + 1e-12), default=0.0)


def _baselines_at(session: PruneSession, removed_params: float) -> dict[str, float]:
    """Accuracy of uniform, global-magnitude and LAMP allocations removing the same share of weights."""
    sizes = {x.name: x.params for x in session.layers}
    share = removed_params * session.report().params_total / sum(sizes.values())
    share = min(share, MAX_SPARSITY)
    out = {}
    session.reset()
    session.apply_layer_plans({n: LayerPlan(share) for n in session.layer_names})
    out["uniform"] = session.report().accuracy
    for name, lamp in (("global magnitude", False), ("LAMP", True)):
        session.reset()
        session.apply_global(GlobalPlan(share, lamp=lamp))
        out[name] = session.report().accuracy
    session.reset()
    return out
