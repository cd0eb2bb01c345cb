"""Every configuration tried in a session, and which of them are Pareto-optimal.

The dashboard plots the task's metric (accuracy, perplexity, …) against remaining parameters for each
configuration and lets the user click one to restore it; the Pareto front shows the best trade-offs
found so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Trials kept per session: enough for an afternoon of dragging, small enough that a workshop server's
# memory and the per-rerun Pareto computation (quadratic in the count) stay bounded.
MAX_TRIALS = 300
# Seconds a configuration must stay on screen to count as tried: a slider moved with the keyboard shows
# every step on the way, and only where the move settles is a point worth keeping.
SETTLE_S = 1.0


@dataclass(frozen=True)
class Trial:
    """One evaluated configuration: per-layer sparsity (fractions), how it was made (criterion and
    granularity names), what it scored on the task's metric, its non-zero parameters, and the dense
    weights it was measured on (``basis``: the session's version of them — after a fine-tune the same
    sliders make another model)."""

    sparsity: tuple[tuple[str, float], ...]
    criterion: str
    granularity: str
    score: float
    params_nonzero: int
    basis: int = 0

    @property
    def config(self) -> dict[str, float]:
        return dict(self.sparsity)

    @property
    def key(self) -> tuple:
        return self.sparsity, self.criterion, self.granularity, self.basis


@dataclass
class History:
    """Trials in the order tried; re-trying a configuration does not add a duplicate.

    At most ``limit`` trials are kept: past it, the oldest trial off the Pareto front is forgotten,
    so the best trade-offs found are kept (unless the whole history is one front: then the oldest goes).
    """

    higher_is_better: bool = True  # the direction of the task's metric (accuracy up, perplexity down)
    trials: list[Trial] = field(default_factory=list)
    limit: int = MAX_TRIALS
    settle_s: float = SETTLE_S
    shown: tuple[Trial, float] | None = None  # the configuration on screen, and since when (seconds)

    def show(
        self,
        config: dict[str, float],
        criterion: str,
        granularity: str,
        score: float,
        params: int,
        basis: int = 0,
        now: float = 0.0,
    ) -> Trial:
        """The configuration on screen at time ``now`` (seconds, any monotonic clock). It becomes a trial
        once it has settled: when it has been shown for :attr:`settle_s` by the time the next one comes
        (or it is shown again that long after). Returns it, for the chart to mark."""
        trial = Trial(tuple(sorted(config.items())), criterion, granularity, score, params, basis)
        if self.shown is not None and self.shown[0].key != trial.key:
            if now - self.shown[1] >= self.settle_s:
                self._record(self.shown[0])
            self.shown = None
        if self.shown is None:
            self.shown = (trial, now)
        if now - self.shown[1] >= self.settle_s:
            self._record(self.shown[0])
        return self.shown[0]

    def add(
        self,
        config: dict[str, float],
        criterion: str,
        granularity: str,
        score: float,
        params: int,
        basis: int = 0,
    ) -> int:
        """Record a trial on the dense weights ``basis``; returns its index in :attr:`trials` (the earlier
        one if this configuration was already tried on these weights)."""
        return self._record(
            Trial(tuple(sorted(config.items())), criterion, granularity, score, params, basis)
        )

    def _record(self, trial: Trial) -> int:
        for i, t in enumerate(self.trials):
            if t.key == trial.key:
                return i
        self.trials.append(trial)
        if len(self.trials) > self.limit:
            front = {i for b in {t.basis for t in self.trials} for i in self.pareto(b)}
            oldest = next((i for i in range(len(self.trials)) if i not in front), 0)
            del self.trials[oldest]
        return len(self.trials) - 1

    def index(self, trial: Trial | None) -> int | None:
        """Where ``trial``'s configuration stands in :attr:`trials` (None: not tried yet)."""
        return next((i for i, t in enumerate(self.trials) if trial is not None and t.key == trial.key), None)

    def pareto(self, basis: int | None = None) -> list[int]:
        """Indices of trials that no other trial on the same weights (``basis``; None: any trial) beats
        on both the metric and params (fewer)."""
        sign = 1.0 if self.higher_is_better else -1.0
        chosen = [i for i, t in enumerate(self.trials) if basis is None or t.basis == basis]
        front = pareto_front([(sign * self.trials[i].score, self.trials[i].params_nonzero) for i in chosen])
        return [chosen[k] for k in front]


def pareto_front(points: list[tuple[float, int]]) -> list[int]:
    """Indices of (score, params) points not dominated by any other point (higher score is better,
    fewer params are better)."""
    front = []
    for i, (acc, params) in enumerate(points):
        dominated = any(
            a >= acc and p <= params and (a > acc or p < params) for j, (a, p) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return front
