"""Criteria compared layer by layer: do they prune the same weights, and what does each cost?

For every layer, each criterion's mask at one sparsity is computed as a slider computes it (one-shot:
the layer alone, against the dense model's inputs; SparseGPT's rewritten weights with it), and then

* the overlap of every pair of masks: the Jaccard index of the weights they prune, |A ∩ B| / |A ∪ B|
  (1: the same weights; two random masks at sparsity s overlap about s / (2 − s));
* the metric with that layer alone pruned by each criterion, beside the dense model's.

Two criteria that prune the same weights cost the same; where they part, the metric says which choice
was better. Every layer is measured in place, downstream of it only, from cached activations
(:func:`~pruneviz.workflows.sensitivity.layer_trials`, as a sensitivity sweep runs), and restored before
the next.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

import torch

from pruneviz.core import masks as M
from pruneviz.core.budget import within_budget
from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import UNSTRUCTURED, Granularity
from pruneviz.core.layers import prunable_modules
from pruneviz.core.reconstruction import FromInputs
from pruneviz.tasks import Metric
from pruneviz.workflows.sensitivity import layer_trials
from pruneviz.workflows.session import LayerPlan, PruneSession

Pair = tuple[str, str]


def jaccard(a: torch.Tensor, b: torch.Tensor) -> float:
    """|A ∩ B| / |A ∪ B| of two boolean tensors (1.0 when both are empty: they agree)."""
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 1.0


@dataclass
class CriteriaComparison:
    """Per layer, the overlap of every pair of criteria's pruned weights and each criterion's metric
    with that layer alone pruned (None where a criterion cannot take the layer: SparseGPT a conv)."""

    criteria: tuple[str, ...]
    sparsity: float
    granularity: str
    metric: Metric
    baseline: float
    layers: list[str] = field(default_factory=list)
    overlap: dict[Pair, dict[str, float | None]] = field(default_factory=dict)
    score: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def pairs(self) -> list[Pair]:
        return list(combinations(self.criteria, 2))

    def change(self, criterion: str, layer: str) -> float | None:
        """How much worse the metric is with ``layer`` pruned by ``criterion`` alone (metric units)."""
        value = self.score[criterion].get(layer)
        return None if value is None else self.metric.worse_by(self.baseline, value)

    def rows(self) -> list[dict]:
        """One row per layer: the pairs' overlaps, then each criterion's metric."""
        out = []
        for layer in self.layers:
            row: dict = {"layer": layer}
            row |= {f"{a} ~ {b}": self.overlap[(a, b)].get(layer) for a, b in self.pairs}
            row |= {f"{self.metric.key} {c}": self.score[c].get(layer) for c in self.criteria}
            out.append(row)
        return out

    def to_csv(self) -> str:
        buffer = io.StringIO()
        rows = self.rows()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["layer"])
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    def to_json(self) -> str:
        return json.dumps(
            {
                "criteria": list(self.criteria),
                "sparsity": self.sparsity,
                "granularity": self.granularity,
                "metric": self.metric.key,
                "baseline": self.baseline,
                "layers": self.rows(),
            },
            indent=2,
        )


def compare_criteria(
    session: PruneSession,
    criteria: tuple[str, ...],
    sparsity: float,
    kind: Granularity = UNSTRUCTURED,
    progress: Callable[[float, str], None] | None = None,
) -> CriteriaComparison:
    """Compare ``criteria`` on every prunable layer of ``session`` (left dense) at ``sparsity``."""
    criteria = tuple(dict.fromkeys(criteria))
    M.check_sparsity(sparsity)
    if len(criteria) < 2:
        raise PrunevizError("compare at least two criteria (e.g. magnitude,wanda)")
    for criterion in criteria:
        kind.check_criterion(criterion)
        if criterion in session.task.unsupported_criteria:
            raise PrunevizError(f"criterion '{criterion}' does not apply to {session.task.name} models")
    if not session.layer_names:
        raise PrunevizError("the model has no prunable layers (Conv/Linear): nothing to compare")
    session.reset()
    session.writable()  # layers are pruned in place, one after another
    baseline, _ = session.task.quick(session.outputs(), session.data.y)
    result = CriteriaComparison(criteria, sparsity, str(kind), session.task.metric, baseline)
    result.overlap = {pair: {} for pair in result.pairs}
    result.score = {c: {} for c in criteria}
    names = session.layer_names
    with within_budget(f"comparing criteria on {session.model.spec}"):
        _gather_inputs(session, criteria, kind)
        for i, name in enumerate(names):
            if progress:
                progress(i / len(names), f"layer {i + 1} of {len(names)}: {name}")
            _compare_layer(session, result, name, kind)
            result.layers.append(name)
    if progress:
        progress(1.0, "done")
    return result


def _gather_inputs(session: PruneSession, criteria: tuple[str, ...], kind: Granularity) -> None:
    """The input statistics of every layer a method reading inputs will solve, in one calibration pass
    (asked one layer at a time, each would cost a pass of its own)."""
    reading = [c for c in criteria if isinstance(kind.criteria.get(c), FromInputs)]
    if reading:
        calib = session.calibration()
        modules = prunable_modules(calib.model, tuple(session.modules))
        plans = [LayerPlan(0.5, c, kind) for c in reading]
        taken = {x.name for x in session.layers if any(p.ineligible(x) is None for p in plans)}
        gram = any(kind.criteria.get(c).gram for c in reading)
        calib.inputs({n: m for n, m in modules.items() if n in taken}, gram=gram)


def _compare_layer(session: PruneSession, result: CriteriaComparison, name: str, kind: Granularity) -> None:
    """Each criterion's pruned weights of layer ``name`` and the metric with them pruned alone."""
    if kind.ineligible(session.shape(name)):
        return
    pruned: dict[str, torch.Tensor] = {}
    dense = session.dense_weights[name]
    with layer_trials(session, name) as measure:
        for criterion in result.criteria:
            try:
                mask, weight = session.weights_for(name, LayerPlan(result.sparsity, criterion, kind))
            except PrunevizError:  # this criterion cannot take this layer (SparseGPT and a conv)
                continue
            pruned[criterion] = ~mask.cpu()
            result.score[criterion][name], _ = measure(dense * mask if weight is None else weight)
    for a, b in result.pairs:
        if a in pruned and b in pruned:
            result.overlap[(a, b)][name] = jaccard(pruned[a], pruned[b])
