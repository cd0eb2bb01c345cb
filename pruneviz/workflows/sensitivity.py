"""Sensitivity: how much the task's metric and loss suffer when one layer alone is pruned, level by level.

The sweep never copies the model: a level's mask is applied in place, only the part of the network
downstream of that layer is re-run from cached activations (:class:`~pruneviz.core.evaluate.Evaluator`),
and the layer's weights and the cache are restored before the next layer. The results are identical
to the naive loop (deep copy + full validation pass per layer and level, as Distiller and NNI do),
which :func:`naive_sweep` implements for comparison.

An instant first-order Taylor estimate of every curve (:func:`taylor_estimate`) needs one backward pass.

An adaptive sweep (``SweepSpec(drop=...)``) measures only what the largest sparsity within a drop
tolerance needs: the ends and the middle of every layer, then a bisection of the bracket where the
curve crosses the tolerance (:mod:`pruneviz.core.bracket`), in rounds of one probe per undecided layer,
each round run by the same executors as an exhaustive sweep.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch

from pruneviz.core import bracket as B
from pruneviz.core import masks as M
from pruneviz.core.budget import within_budget
from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import UNSTRUCTURED, Granularity, granularity, rankable
from pruneviz.io.models import clone_module
from pruneviz.tasks import Metric
from pruneviz.workflows.session import PruneSession

DEFAULT_LEVELS = tuple(round(0.05 * i, 2) for i in range(20))  # 0, 0.05, ..., 0.95


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: sparsity levels (fractions in [0, 1)), criterion (default: the granularity's),
    a granularity that does not fix the sparsity, and for an adaptive sweep the ``drop`` tolerance (in
    the metric's units) whose crossing it looks for (None: every level of every layer)."""

    levels: tuple[float, ...] = DEFAULT_LEVELS
    criterion: str | None = None
    granularity: Granularity = UNSTRUCTURED
    drop: float | None = None

    def __post_init__(self) -> None:
        g = granularity(self.granularity)
        if not g.rankable:
            names = ", ".join(x.name for x in rankable())
            raise PrunevizError(f"sensitivity granularity must be one of {names}, got {g}")
        object.__setattr__(self, "granularity", g)
        object.__setattr__(self, "criterion", g.check_criterion(self.criterion or g.default_criterion))
        if self.criterion not in g.ranking_criteria():
            raise PrunevizError(
                f"{self.criterion} decides each layer's mask instead of ranking weights; sweep a "
                f"criterion that ranks ({', '.join(g.ranking_criteria())})"
            )
        if not self.levels:
            raise PrunevizError("give at least one sparsity level")
        for level in self.levels:
            M.check_sparsity(level)
        if self.drop is not None:
            if not self.drop > 0:
                raise PrunevizError(f"an adaptive sweep needs a positive drop tolerance, got {self.drop}")
            object.__setattr__(self, "levels", tuple(sorted(set(self.levels))))

    @property
    def adaptive(self) -> bool:
        return self.drop is not None

    def as_dict(self) -> dict:
        adaptive = {} if self.drop is None else {"drop": self.drop}
        return {
            "levels": list(self.levels),
            "criterion": self.criterion,
            "granularity": self.granularity.name,
            **adaptive,
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

    def within(self, layer_curve: dict[float, float]) -> dict[int, bool]:
        """``{level index: within the adaptive tolerance}`` for one layer's measured points."""
        index = {level: i for i, level in enumerate(self.spec.levels)}
        drop = self.spec.drop if self.spec.drop is not None else float("inf")
        worse = {index[s]: self.metric.worse_by(self.baseline_score, v) for s, v in layer_curve.items()}
        return {i: w <= drop for i, w in worse.items()}

    def decided(self, layer_curve: dict[float, float]) -> bool:
        """Whether a layer needs no more points: every level measured, or (adaptive) the coarse grid
        and an empty bracket around the tolerance's crossing."""
        if not self.spec.adaptive:
            return set(self.spec.levels) <= set(layer_curve)
        within = self.within(layer_curve)
        count = len(self.spec.levels)
        return set(B.coarse_grid(count)) <= set(within) and not B.bracket(within).interior

    def points(self) -> dict[str, int]:
        """How many points were measured per layer."""
        return {layer: len(c) for layer, c in self.curves().items()}

    def exhaustive_points(self) -> int:
        """How many points an exhaustive sweep of the same layers measures (what an adaptive one saves
        is counted against)."""
        return len(self.spec.levels) * len(self.curves())

    def finished_layers(self) -> Sensitivity:
        """The layers swept to the end so far (what a stopped sweep can keep)."""
        complete = {layer for layer, c in self.curves().items() if self.decided(c)}
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
        """One row per point, each naming the criterion and granularity it was measured with (so that a
        resumed sweep can tell a file of another sweep)."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(csv_header(self.metric))
        for r in self.rows:
            writer.writerow(_csv_row(r, self.spec))
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


class SweepFile:
    """A sweep's results file, written as rows arrive so that an interrupted sweep keeps them: CSV rows
    are appended (and flushed) one by one, JSON is rewritten whole (atomically) after each row.
    :meth:`done` reads back what an earlier, interrupted run wrote, for ``--resume``."""

    def __init__(self, path: str | Path, spec: SweepSpec, metric: Metric) -> None:
        self.path, self.spec, self.metric = Path(path), spec, metric
        self.json = self.path.suffix == ".json"

    def done(self, layers: list[str]) -> list[Row]:
        """The rows already in the file (none when it does not exist), checked against this sweep."""
        if not self.path.exists():
            return []
        rows = self._read_json() if self.json else self._read_csv()
        for r in rows:
            if r.layer not in layers or r.sparsity not in self.spec.levels:
                raise PrunevizError(
                    f"{self.path} holds a point of another sweep ({r.layer} at {r.sparsity}): resume with "
                    "the same model, layers and --levels, or write to another file"
                )
        unique = {(r.layer, r.sparsity): r for r in rows}
        return list(unique.values())

    def _read_csv(self) -> list[Row]:
        with self.path.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            expected = csv_header(self.metric)
            if header != expected:
                raise PrunevizError(
                    f"{self.path} is not a sweep's CSV (its header is not {','.join(expected)})"
                )
            rows = [r for r in reader if len(r) == len(expected)]
        made = (self.spec.criterion, self.spec.granularity.name)
        other = next((r for r in rows if (r[4], r[5]) != made), None)
        if other is not None:
            raise PrunevizError(
                f"{self.path} holds a sweep with other settings (criterion {other[4]}, granularity "
                f"{other[5]}; this one is {made[0]}, {made[1]}): resume with those, or write to another file"
            )
        try:
            return [Row(r[0], float(r[1]), float(r[2]), float(r[3])) for r in rows]
        except ValueError as err:
            raise PrunevizError(f"{self.path} has a malformed row: {err}") from None

    def _read_json(self) -> list[Row]:
        try:
            doc = json.loads(self.path.read_text())
            if doc["spec"] != self.spec.as_dict():
                raise PrunevizError(f"{self.path} holds a sweep with other settings: {doc['spec']}")
            key = self.metric.key
            return [Row(r["layer"], r["sparsity"], r[key], r["loss"]) for r in doc["rows"]]
        except (ValueError, KeyError, TypeError) as err:
            raise PrunevizError(f"{self.path} is not a sweep's JSON ({type(err).__name__}: {err})") from None

    def start(self, result: Sensitivity) -> None:
        """Write what ``result`` holds so far (the rows kept from before, if any)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write(result)

    def add(self, row: Row, result: Sensitivity) -> None:
        """Record ``row`` (already appended to ``result``)."""
        if self.json:
            self.write(result)
            return
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow(_csv_row(row, self.spec))

    def write(self, result: Sensitivity) -> None:
        """Replace the file with ``result`` as it stands (the end of a sweep: rows in canonical order)."""
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(result.to_json() if self.json else result.to_csv())
        partial.replace(self.path)


def csv_header(metric: Metric) -> list[str]:
    return ["layer", "sparsity", metric.key, "loss", "criterion", "granularity"]


def _csv_row(row: Row, spec: SweepSpec) -> list:
    return [
        row.layer,
        row.sparsity,
        f"{row.score:.6f}",
        f"{row.loss:.6f}",
        spec.criterion,
        spec.granularity.name,
    ]


def rankings(session: PruneSession, spec: SweepSpec) -> dict[str, torch.Tensor]:
    """Per layer, the order its weights (or units) are pruned in under ``spec``'s criterion."""
    scores = session.scores(spec.criterion, spec.granularity)
    missing = [n for n in session.layer_names if n not in scores]
    if missing:
        raise PrunevizError(f"criterion '{spec.criterion}' cannot score layer '{missing[0]}'")
    return {n: M.ranking(scores[n]) for n in session.layer_names}


def _baseline(session: PruneSession) -> tuple[float, float]:
    """The dense session's (metric, loss); the session is reset to dense first."""
    session.reset()
    return session.task.quick(session.outputs(), session.data.y)


Work = list[tuple[str, tuple[float, ...]]]  # (layer, the levels to measure it at)


def all_work(session: PruneSession, spec: SweepSpec) -> Work:
    """Every prunable layer at every level of ``spec``, in the model's order."""
    return [(name, spec.levels) for name in session.layer_names]


def remaining_work(session: PruneSession, spec: SweepSpec, done: list[Row]) -> Work:
    """What is left of the sweep after the points in ``done`` (a resumed sweep skips those)."""
    measured = {(r.layer, r.sparsity) for r in done}
    work = [
        (n, tuple(lv for lv in levels if (n, lv) not in measured)) for n, levels in all_work(session, spec)
    ]
    return [(n, levels) for n, levels in work if levels]


def require_layers(session: PruneSession) -> None:
    if not session.layer_names:
        raise PrunevizError("the model has no prunable layers (Conv/Linear): nothing to sweep")


class LayerSweeper:
    """Measures one layer at a time at some levels, in place on ``session``: the baseline and the
    rankings are computed once (or given: a worker process takes the rankings its driver computed, so
    every process prunes the very same weights)."""

    def __init__(
        self, session: PruneSession, spec: SweepSpec, orders: dict[str, torch.Tensor] | None = None
    ) -> None:
        require_layers(session)
        self.session, self.spec = session, spec
        session.writable()  # layers are masked in place, level after level
        self.base = _baseline(session)
        self.orders = orders if orders is not None else rankings(session, spec)

    def layer(self, name: str, levels: tuple[float, ...]) -> Iterator[Row]:
        """One :class:`Row` per level of layer ``name``; the layer and the cache are restored after
        (also when the caller stops early)."""
        dense = self.session.dense_weights[name]
        with layer_trials(self.session, name) as measure:
            for level in levels:
                mask = self.spec.granularity.ranked_mask(self.orders[name], level, dense.shape)
                score, loss = self.base if mask.all() else measure(dense * mask)
                yield Row(name, level, score, loss)


@contextmanager
def layer_trials(session: PruneSession, name: str) -> Iterator[Callable[[torch.Tensor], tuple[float, float]]]:
    """A function giving the task's (metric, loss) with layer ``name`` holding a weight and every other
    layer as it is, re-running only what is downstream of it from cached activations; the layer and the
    cache are restored when the block ends (also on an error)."""
    evaluator, task, y = session.evaluator, session.task, session.data.y
    param, dense = session.modules[name].weight, session.dense_weights[name]
    snapshot = evaluator.snapshot()

    def measure(weight: torch.Tensor) -> tuple[float, float]:
        with torch.no_grad():
            param.copy_(weight.to(param.device, param.dtype))
        return task.quick(evaluator.update([name]), y)

    try:
        yield measure
    finally:
        with torch.no_grad():
            param.copy_(dense)
        evaluator.restore(snapshot)


def iter_sweep(session: PruneSession, spec: SweepSpec, work: Work | None = None) -> Iterator[Row]:
    """Yield one :class:`Row` per (layer, level) of ``work`` (default: all) as it is measured,
    incrementally and in place. The session is reset to dense first and left dense afterwards."""
    sweeper = LayerSweeper(session, spec)
    for name, levels in all_work(session, spec) if work is None else work:
        yield from sweeper.layer(name, levels)


class Executor(Protocol):
    """Where a sweep's points are measured (:mod:`pruneviz.workflows.distributed`): rows of ``work``
    in any order, each exactly once; ``alive`` says how many workers are alive (and were started)."""

    def rows(self, session: PruneSession, spec: SweepSpec, work: Work) -> Iterator[Row]: ...

    def alive(self) -> tuple[int, int]: ...


def adaptive_work(
    result: Sensitivity, layers: list[str], estimate: dict[str, dict[float, float]] | None
) -> Work:
    """The next round of an adaptive sweep: per undecided layer, the points it needs next."""
    spec, curves = result.spec, result.curves()
    work = []
    for name in layers:
        curve = curves.get(name, {})
        within = result.within(curve)
        drops = {i: result.metric.worse_by(result.baseline_score, curve[spec.levels[i]]) for i in within}
        guess = [estimate[name][s] for s in spec.levels] if estimate else None
        probes = B.next_probes(len(spec.levels), within, drops, guess, spec.drop)
        if probes:
            work.append((name, tuple(spec.levels[i] for i in probes)))
    return work


def sweep(
    session: PruneSession,
    spec: SweepSpec,
    progress: Callable[[float, str], None] | None = None,
    into: Sensitivity | None = None,
    executor: Executor | None = None,
    done: list[Row] | None = None,
    on_row: Callable[[Row], None] | None = None,
    estimate: dict[str, dict[float, float]] | None = None,
) -> Sensitivity:
    """Run the whole sweep on ``session`` (use a scratch session: it is reset to dense), in this
    process or on ``executor``.

    ``done`` holds points measured before (a resumed sweep): they are kept and not measured again.
    Rows are appended to ``into`` as they arrive, when given, so another thread can draw them, and
    passed to ``on_row`` (to write them down at once); the result lists them in the model's layer
    order and the levels' order, whatever order they arrived in. An adaptive sweep runs in rounds,
    bisecting each layer's bracket, or with ``estimate`` (a Taylor estimate) placing the first probes
    where the estimate crosses the drop (benchmarks/sensitivity_speed.py compares the two: bisection
    measured fewer points on every model tried, so it is what the CLI and the page run).
    """
    require_layers(session)
    with within_budget(f"the sensitivity sweep of {session.model.spec}"):
        base = _baseline(session)
        result = into if into is not None else Sensitivity(spec, session.task.metric, *base)
        result.baseline_score, result.baseline_loss = base
        result.rows.extend(done or [])
        names = session.layer_names
        before, start = len(result.rows), time.perf_counter()
        while True:
            if spec.adaptive:
                work = adaptive_work(result, names, estimate)
            else:
                work = remaining_work(session, spec, result.rows)
            if not work:
                break
            rows = executor.rows(session, spec, work) if executor else iter_sweep(session, spec, work)
            for row in rows:
                result.rows.append(row)
                if on_row:
                    on_row(row)
                if progress:
                    progress(*_progress(result, names, row, start, before, executor))
            if not spec.adaptive:
                break
        order = {name: i for i, name in enumerate(names)}
        result.rows = sorted(result.rows, key=lambda r: (order[r.layer], spec.levels.index(r.sparsity)))
        return result


def _progress(
    result: Sensitivity, names: list[str], row: Row, start: float, before: int, executor: Executor | None
) -> tuple[float, str]:
    """(fraction done, status line) after ``row``: points of all points for an exhaustive sweep,
    decided layers of all layers for an adaptive one (whose number of points is not known ahead)."""
    elapsed, workers = time.perf_counter() - start, executor.alive() if executor else None
    done = len(result.rows)
    if not result.spec.adaptive:
        total = len(names) * len(result.spec.levels)
        return done / total, sweep_status(row.layer, done, total, elapsed, done - before, workers)
    curves = result.curves()
    decided = sum(result.decided(curves.get(n, {})) for n in names)
    counted = f" layers decided, {done} points"
    return decided / len(names), sweep_status(row.layer, decided, len(names), elapsed, None, workers, counted)


@dataclass
class LiveSweep:
    """A sweep meant to run in a background job: the instant Taylor estimate first, then the measured
    rows as they arrive (both readable from the UI thread meanwhile)."""

    spec: SweepSpec
    executor: Executor | None = None
    estimate: dict[str, dict[float, float]] | None = None
    result: Sensitivity | None = None

    def run(self, session: PruneSession, progress: Callable[[float, str], None] | None = None) -> Sensitivity:
        self.estimate = taylor_estimate(session, self.spec)
        self.result = Sensitivity(self.spec, session.task.metric, float("nan"), float("nan"))
        return sweep(session, self.spec, progress, into=self.result, executor=self.executor)


def sweep_status(
    layer: str, done: int, total: int, elapsed: float, measured: int | None = None,
    workers: tuple[int, int] | None = None, counted: str = "",
) -> str:  # fmt: skip
    """ "conv2 · 12/40 · 3.1 s elapsed, about 7.2 s left" for a progress bar; with ``measured`` (points
    measured in this run, when some were done before) the rate, with ``workers`` (alive, started)
    how many workers are alive; ``counted`` says what was counted (" layers decided")."""
    measured = done if measured is None else measured
    rate = measured / elapsed if elapsed > 0 else 0.0
    remaining = (total - done) / rate if rate else 0.0
    text = f"{layer} · {done}/{total}{counted} · {elapsed:.1f} s elapsed, about {remaining:.1f} s left"
    if workers is not None:
        text += f" · {rate:.1f} points/s · {workers[0]} of {workers[1]} workers alive"
    return text


def naive_sweep(session: PruneSession, spec: SweepSpec) -> Sensitivity:
    """The textbook loop: for every (layer, level) deep-copy the dense model, mask, run a full pass."""
    base = _baseline(session)
    dense_model, task, y = session.working, session.task, session.data.y
    orders = rankings(session, spec)
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
    orders = rankings(session, spec)
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
