"""Sensitivity: how much accuracy and loss each layer loses when it alone is pruned, level by level.

The sweep never copies the model: a level's mask is applied in place, only the part of the network
downstream of that layer is re-run from cached activations (:class:`~pruneviz.evaluate.Evaluator`),
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
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from pruneviz import masks as M
from pruneviz.errors import PrunevizError
from pruneviz.models import clone_module
from pruneviz.session import PruneSession

DEFAULT_LEVELS = tuple(round(0.05 * i, 2) for i in range(20))  # 0, 0.05, ..., 0.95
GRANULARITIES = ("unstructured", "filter")


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: sparsity levels (fractions in [0, 1)), criterion, granularity."""

    levels: tuple[float, ...] = DEFAULT_LEVELS
    criterion: str = "magnitude"
    granularity: str = "unstructured"

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise PrunevizError(f"sensitivity granularity must be one of {', '.join(GRANULARITIES)}")
        if not self.levels:
            raise PrunevizError("give at least one sparsity level")
        for level in self.levels:
            M.check_sparsity(level)


@dataclass(frozen=True)
class Row:
    """One measurement: ``layer`` pruned alone to ``sparsity``; accuracy as a fraction, mean loss."""

    layer: str
    sparsity: float
    accuracy: float
    loss: float


@dataclass
class Sensitivity:
    """A finished (or partial) sweep with the unpruned baseline it is measured against."""

    spec: SweepSpec
    baseline_accuracy: float
    baseline_loss: float
    rows: list[Row] = field(default_factory=list)

    def curves(self, metric: str = "accuracy") -> dict[str, dict[float, float]]:
        """``{layer: {sparsity: value}}`` for ``metric`` ("accuracy" or "loss")."""
        out: dict[str, dict[float, float]] = {}
        for row in self.rows:
            out.setdefault(row.layer, {})[row.sparsity] = getattr(row, metric)
        return out

    def finished_layers(self) -> Sensitivity:
        """The layers swept at every level so far (what a stopped sweep can keep)."""
        complete = {layer for layer, c in self.curves().items() if set(self.spec.levels) <= set(c)}
        rows = [r for r in self.rows if r.layer in complete]
        return Sensitivity(self.spec, self.baseline_accuracy, self.baseline_loss, rows)

    def max_sparsity_within(self, drop: float) -> dict[str, float]:
        """Per layer, the largest swept sparsity whose accuracy is within ``drop`` (fraction) of the
        baseline, with every lower level also within it."""
        out = {}
        for layer, curve in self.curves().items():
            best = 0.0
            for level in sorted(curve):
                if self.baseline_accuracy - curve[level] > drop:
                    break
                best = level
            out[layer] = best
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["layer", "sparsity", "accuracy", "loss"])
        for r in self.rows:
            writer.writerow([r.layer, r.sparsity, f"{r.accuracy:.6f}", f"{r.loss:.6f}"])
        return buf.getvalue()

    def to_json(self) -> str:
        return json.dumps(
            {
                "spec": asdict(self.spec),
                "baseline": {"accuracy": self.baseline_accuracy, "loss": self.baseline_loss},
                "rows": [asdict(r) for r in self.rows],
            },
            indent=2,
        )


def accuracy_and_loss(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Top-1 accuracy (fraction) and mean cross-entropy: the two numbers a sweep records."""
    return (logits.argmax(1) == y).float().mean().item(), F.cross_entropy(logits.float(), y).item()


def _rankings(session: PruneSession, spec: SweepSpec) -> dict[str, torch.Tensor]:
    kind = "filter" if spec.granularity == "filter" else "unstructured"
    scores = session.scores(spec.criterion, kind)
    missing = [n for n in session.layer_names if n not in scores]
    if missing:
        raise PrunevizError(f"criterion '{spec.criterion}' cannot score layer '{missing[0]}'")
    return {n: M.ranking(scores[n]) for n in session.layer_names}


def _level_mask(order: torch.Tensor, level: float, shape: torch.Size, granularity: str) -> torch.Tensor:
    if granularity == "filter":
        keep = M.mask_from_ranking(order, M.prune_count(level, shape[0]), torch.Size([shape[0]]))
        return M.expand_filters(keep, shape)
    return M.mask_from_ranking(order, M.prune_count(level, order.numel()), shape)


def iter_sweep(session: PruneSession, spec: SweepSpec, layers: list[str] | None = None) -> Iterator[Row]:
    """Yield one :class:`Row` per (layer, level) as it is measured, incrementally and in place.

    The session is reset to dense first and left dense afterwards (also when the caller stops early).
    """
    if not session.layer_names:
        raise PrunevizError("the model has no prunable layers (Conv/Linear): nothing to sweep")
    session.reset()
    evaluator = session.evaluator
    base_logits = session.logits()
    base = accuracy_and_loss(base_logits, session.data.y)
    orders = _rankings(session, spec)
    for name in layers or session.layer_names:
        weight, dense = session.modules[name].weight, session.dense_weights[name]
        snapshot = evaluator.snapshot()
        try:
            for level in spec.levels:
                mask = _level_mask(orders[name], level, dense.shape, spec.granularity)
                if mask.all():
                    acc, loss = base
                else:
                    with torch.no_grad():
                        weight.copy_(dense * mask)
                    acc, loss = accuracy_and_loss(evaluator.update([name]), session.data.y)
                yield Row(name, level, acc, loss)
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
    session.reset()
    base = accuracy_and_loss(session.logits(), session.data.y)
    result = into if into is not None else Sensitivity(spec, *base)
    result.baseline_accuracy, result.baseline_loss = base
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
        self.result = Sensitivity(self.spec, float("nan"), float("nan"))
        return sweep(session, self.spec, progress, into=self.result)


def sweep_status(layer: str, done: int, total: int, elapsed: float) -> str:
    """ "conv2 · 12/40 · 3.1 s elapsed, about 7.2 s left" for a progress bar."""
    remaining = elapsed / done * (total - done) if done else 0.0
    return f"{layer} · {done}/{total} · {elapsed:.1f} s elapsed, about {remaining:.1f} s left"


def naive_sweep(session: PruneSession, spec: SweepSpec) -> Sensitivity:
    """The textbook loop: for every (layer, level) deep-copy the dense model, mask, run a full pass."""
    session.reset()
    dense_model = session.working
    base = accuracy_and_loss(session.logits(), session.data.y)
    orders = _rankings(session, spec)
    result = Sensitivity(spec, *base)
    for name in session.layer_names:
        for level in spec.levels:
            model = clone_module(dense_model, session.device)
            weight = dict(model.named_modules())[name].weight
            with torch.no_grad():
                weight.mul_(_level_mask(orders[name], level, weight.shape, spec.granularity))
                logits = torch.cat([model(b) for b in session.evaluator.batches])
            result.rows.append(Row(name, level, *accuracy_and_loss(logits, session.data.y)))
    return result


def taylor_estimate(session: PruneSession, spec: SweepSpec) -> dict[str, dict[float, float]]:
    """Estimated loss change per layer and level from one backward pass: removing weights P changes the
    loss by about -sum_{i in P} g_i w_i (first order), with g the mean gradient over calibration data."""
    calib = session.calibration()
    modules = {n: dict(calib.model.named_modules())[n] for n in session.layer_names}
    mean_grad, _ = calib.gradients(modules)
    orders = _rankings(session, spec)
    out = {}
    for name in session.layer_names:
        contrib = -(mean_grad[name] * session.dense_weights[name])
        if spec.granularity == "filter":
            contrib = contrib.flatten(1).sum(1)
        cumulative = torch.cat([contrib.new_zeros(1), contrib.flatten()[orders[name]].cumsum(0)])
        n = contrib.shape[0] if spec.granularity == "filter" else contrib.numel()
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
    measured = [r.loss - result.baseline_loss for r in result.rows]
    predicted = [estimate[r.layer][r.sparsity] for r in result.rows]
    return spearman(predicted, measured)


def most_sensitive(sensitivity: dict[str, dict[float, float]], sparsity: float) -> str:
    """The layer whose pruning alone at ``sparsity`` leaves the lowest accuracy (ties: the earlier)."""
    return min(sensitivity, key=lambda n: sensitivity[n][sparsity])


def layer_sensitivity(
    session: PruneSession, sparsities: tuple[float, ...] = (0.5, 0.9), criterion: str = "magnitude"
) -> dict[str, dict[float, float]]:
    """Accuracy per layer and sparsity (the layer pruned alone): a sweep's accuracy curves."""
    return sweep(session, SweepSpec(tuple(sparsities), criterion)).curves()
