"""Sensitivity: how much the task's metric and loss suffer when one layer alone is pruned, level by level.

The sweep never copies the model: a level's mask is applied in place, only the part of the network
downstream of that layer is re-run from cached activations (:class:`~pruneviz.core.evaluate.Evaluator`),
and the layer's weights and the cache are restored before the next layer. The results are identical
to the naive loop (deep copy + full validation pass per layer and level, as Distiller and NNI do),
which :func:`naive_sweep` implements for comparison.

An instant first-order Taylor estimate of every curve (:func:`taylor_estimate`) needs one backward pass.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from pruneviz.core import masks as M
from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import UNSTRUCTURED, Granularity, granularity, rankable
from pruneviz.io.models import clone_module
from pruneviz.tasks import Metric
from pruneviz.workflows.session import PruneSession

DEFAULT_LEVELS = tuple(round(0.05 * i, 2) for i in range(20))  # 0, 0.05, ..., 0.95


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: sparsity levels (fractions in [0, 1)), criterion (default: the granularity's),
    and a granularity that does not fix the sparsity."""

    levels: tuple[float, ...] = DEFAULT_LEVELS
    criterion: str | None = None
    granularity: Granularity = UNSTRUCTURED

    def __post_init__(self) -> None:
        g = granularity(self.granularity)
        if not g.rankable:
            names = ", ".join(x.name for x in rankable())
            raise PrunevizError(f"sensitivity granularity must be one of {names}, got {g}")
        object.__setattr__(self, "granularity", g)
        object.__setattr__(self, "criterion", g.check_criterion(self.criterion or g.default_criterion))
        if self.criterion not in g.ranking_criteria():
            raise PrunevizError(
                f"{self.criterion} rewrites weights instead of ranking them; sweep a criterion that ranks "
                f"({', '.join(g.ranking_criteria())})"
            )
        if not self.levels:
            raise PrunevizError("give at least one sparsity level")
        for level in self.levels:
            M.check_sparsity(level)

    def as_dict(self) -> dict:
        return {
            "levels": list(self.levels),
            "criterion": self.criterion,
            "granularity": self.granularity.name,
        }


@dataclass(frozen=True)
class Row:
    """One measurement: ``layer`` pruned alone to ``sparsity``; the task's metric and mean loss."""

    layer: str
    sparsity: float
    score: float
    loss: float


@dataclass
class Sensitivity:
    """A finished (or partial) sweep with the unpruned baseline it is measured against, in the terms of
    the task's ``metric`` (accuracy for classifiers)."""

    spec: SweepSpec
    metric: Metric
    baseline_score: float
    baseline_loss: float
    rows: list[Row] = field(default_factory=list)

    def curves(self, figure: str = "score") -> dict[str, dict[float, float]]:
        """``{layer: {sparsity: value}}`` for ``figure`` ("score": the metric, or "loss")."""
        out: dict[str, dict[float, float]] = {}
        for row in self.rows:
            out.setdefault(row.layer, {})[row.sparsity] = getattr(row, figure)
        return out

    def loss_changes(self) -> dict[str, dict[float, float]]:
        """``{layer: {sparsity: loss - baseline loss}}``: what the Taylor estimate predicts."""
        return {
            layer: {s: v - self.baseline_loss for s, v in c.items()}
            for layer, c in self.curves("loss").items()
        }

    def finished_layers(self) -> Sensitivity:
        """The layers swept at every level so far (what a stopped sweep can keep)."""
        complete = {layer for layer, c in self.curves().items() if set(self.spec.levels) <= set(c)}
        rows = [r for r in self.rows if r.layer in complete]
        return Sensitivity(self.spec, self.metric, self.baseline_score, self.baseline_loss, rows)

    def max_sparsity_within(self, drop: float) -> dict[str, float]:
        """Per layer, the largest swept sparsity whose metric is at most ``drop`` worse than the
        baseline (in the metric's units: a fraction for accuracy), with every lower level also within."""
        out = {}
        for layer, curve in self.curves().items():
            best = 0.0
            for level in sorted(curve):
                if self.metric.worse_by(self.baseline_score, curve[level]) > drop:
                    break
                best = level
            out[layer] = best
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["layer", "sparsity", self.metric.key, "loss"])
        for r in self.rows:
            writer.writerow([r.layer, r.sparsity, f"{r.score:.6f}", f"{r.loss:.6f}"])
        return buf.getvalue()

    def to_json(self) -> str:
        key = self.metric.key
        return json.dumps(
            {
                "spec": self.spec.as_dict(),
                "baseline": {key: self.baseline_score, "loss": self.baseline_loss},
                "rows": [
                    {"layer": r.layer, "sparsity": r.sparsity, key: r.score, "loss": r.loss}
                    for r in self.rows
                ],
            },
            indent=2,
        )


def _rankings(session: PruneSession, spec: SweepSpec) -> dict[str, torch.Tensor]:
    scores = session.scores(spec.criterion, spec.granularity)
    missing = [n for n in session.layer_names if n not in scores]
    if missing:
        raise PrunevizError(f"criterion '{spec.criterion}' cannot score layer '{missing[0]}'")
    return {n: M.ranking(scores[n]) for n in session.layer_names}


def _baseline(session: PruneSession) -> tuple[float, float]:
    """The dense session's (metric, loss); the session is reset to dense first."""
    session.reset()
    return session.task.quick(session.outputs(), session.data.y)


def iter_sweep(session: PruneSession, spec: SweepSpec, layers: list[str] | None = None) -> Iterator[Row]:
    """Yield one :class:`Row` per (layer, level) as it is measured, incrementally and in place.

    The session is reset to dense first and left dense afterwards (also when the caller stops early).
    """
    if not session.layer_names:
        raise PrunevizError("the model has no prunable layers (Conv/Linear): nothing to sweep")
    base = _baseline(session)
    evaluator, task, y = session.evaluator, session.task, session.data.y
    orders = _rankings(session, spec)
    for name in layers or session.layer_names:
        weight, dense = session.modules[name].weight, session.dense_weights[name]
        snapshot = evaluator.snapshot()
        try:
            for level in spec.levels:
                mask = spec.granularity.ranked_mask(orders[name], level, dense.shape)
                if mask.all():
                    score, loss = base
                else:
                    with torch.no_grad():
                        weight.copy_(dense * mask)
                    score, loss = task.quick(evaluator.update([name]), y)
                yield Row(name, level, score, loss)
        finally:
            with torch.no_grad():
                weight.copy_(dense)
            evaluator.restore(snapshot)


def sweep(
    session: PruneSession,
    spec: SweepSpec,
    progress: Callable[[float, str], None] | None = None,
    into: Sensitivity | None = None,
) -> Sensitivity:
    """Run the whole sweep on ``session`` (use a scratch session: it is reset to dense).

    Rows are appended to ``into`` as they are measured, when given, so another thread can draw them.
    """
    base = _baseline(session)
    result = into if into is not None else Sensitivity(spec, session.task.metric, *base)
    result.baseline_score, result.baseline_loss = base
    total = len(session.layer_names) * len(spec.levels)
    start = time.perf_counter()
    for i, row in enumerate(iter_sweep(session, spec)):
        result.rows.append(row)
        if progress:
            progress((i + 1) / total, sweep_status(row.layer, i + 1, total, time.perf_counter() - start))
    return result


@dataclass
class LiveSweep:
    """A sweep meant to run in a background job: the instant Taylor estimate first, then the measured
    rows as they arrive (both readable from the UI thread meanwhile)."""

    spec: SweepSpec
    estimate: dict[str, dict[float, float]] | None = None
    result: Sensitivity | None = None

    def run(self, session: PruneSession, progress: Callable[[float, str], None] | None = None) -> Sensitivity:
        self.estimate = taylor_estimate(session, self.spec)
        self.result = Sensitivity(self.spec, session.task.metric, float("nan"), float("nan"))
        return sweep(session, self.spec, progress, into=self.result)


def sweep_status(layer: str, done: int, total: int, elapsed: float) -> str:
    """ "conv2 · 12/40 · 3.1 s elapsed, about 7.2 s left" for a progress bar."""
    remaining = elapsed / done * (total - done) if done else 0.0
    return f"{layer} · {done}/{total} · {elapsed:.1f} s elapsed, about {remaining:.1f} s left"


def naive_sweep(session: PruneSession, spec: SweepSpec) -> Sensitivity:
    """The textbook loop: for every (layer, level) deep-copy the dense model, mask, run a full pass."""
    base = _baseline(session)
    dense_model, task, y = session.working, session.task, session.data.y
    orders = _rankings(session, spec)
    result = Sensitivity(spec, task.metric, *base)
    for name in session.layer_names:
        for level in spec.levels:
            model = clone_module(dense_model, session.device)
            weight = dict(model.named_modules())[name].weight
            with torch.no_grad():
                weight.mul_(spec.granularity.ranked_mask(orders[name], level, weight.shape))
            result.rows.append(Row(name, level, *task.quick(task.outputs(model, session.data.x), y)))
    return result


def taylor_estimate(session: PruneSession, spec: SweepSpec) -> dict[str, dict[float, float]]:
    """Estimated loss change per layer and level from one backward pass: removing weights P changes the
    loss by about -sum_{i in P} g_i w_i (first order), with g the mean gradient over calibration data."""
    calib = session.calibration()
    modules = {n: dict(calib.model.named_modules())[n] for n in session.layer_names}
    mean_grad, _ = calib.gradients(modules)
    orders = _rankings(session, spec)
    kind = spec.granularity
    out = {}
    for name in session.layer_names:
        contrib = kind.unit_scores(-(mean_grad[name] * session.dense_weights[name]))
        cumulative = torch.cat([contrib.new_zeros(1), contrib.flatten()[orders[name]].cumsum(0)])
        n = kind.units(session.dense_weights[name].shape)
        out[name] = {level: cumulative[M.prune_count(level, n)].item() for level in spec.levels}
    return out


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman rank correlation of two equally long sequences (ties broken by position)."""
    if len(a) != len(b) or len(a) < 2:
        raise PrunevizError("rank correlation needs two sequences of the same length, at least 2")
    ra = torch.tensor(a, dtype=torch.float64).argsort().argsort().double()
    rb = torch.tensor(b, dtype=torch.float64).argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = (ra.norm() * rb.norm()).item()
    return (ra @ rb).item() / denominator if denominator else 0.0


def estimate_correlation(result: Sensitivity, estimate: dict[str, dict[float, float]]) -> float:
    """Rank correlation between estimated and measured loss change over all measured points."""
    measured = [r.loss - result.baseline_loss for r in result.rows]  # in row order, as predicted below
    predicted = [estimate[r.layer][r.sparsity] for r in result.rows]
    return spearman(predicted, measured)


def most_sensitive(result: Sensitivity, sparsity: float) -> str:
    """The layer whose pruning alone at ``sparsity`` hurts the metric most (ties: the earlier)."""
    curves = result.curves()
    return max(curves, key=lambda n: result.metric.worse_by(result.baseline_score, curves[n][sparsity]))


def layer_sensitivity(
    session: PruneSession, sparsities: tuple[float, ...] = (0.5, 0.9), criterion: str = "magnitude"
) -> Sensitivity:
    """Each layer pruned alone at each of ``sparsities``: a short sweep."""
    return sweep(session, SweepSpec(tuple(sparsities), criterion))
