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


@dataclass(frozen=True)
class Trial:
    """One evaluated configuration: per-layer sparsity (fractions), how it was made (criterion and
    granularity names), what it scored on the task's metric, and its non-zero parameters."""

    sparsity: tuple[tuple[str, float], ...]
    criterion: str
    granularity: str
    score: float
    params_nonzero: int

    @property
    def config(self) -> dict[str, float]:
        return dict(self.sparsity)

    @property
    def key(self) -> tuple:
        return self.sparsity, self.criterion, self.granularity


@dataclass
class History:
    """Trials in the order tried; re-trying a configuration does not add a duplicate.

    At most ``limit`` trials are kept: past it, the oldest trial off the Pareto front is forgotten,
    so the best trade-offs found are kept (unless the whole history is one front: then the oldest goes).
    """

    higher_is_better: bool = True  # the direction of the task's metric (accuracy up, perplexity down)
    trials: list[Trial] = field(default_factory=list)
    limit: int = MAX_TRIALS

    def add(
        self, config: dict[str, float], criterion: str, granularity: str, score: float, params: int
    ) -> int:
        """Record a trial; returns its index in :attr:`trials` (the earlier one if already tried)."""
        trial = Trial(tuple(sorted(config.items())), criterion, granularity, score, params)
        for i, t in enumerate(self.trials):
            if t.key == trial.key:
                return i
        self.trials.append(trial)
        if len(self.trials) > self.limit:
            front = set(self.pareto())
            oldest = next((i for i in range(len(self.trials)) if i not in front), 0)
            del self.trials[oldest]
        return len(self.trials) - 1

    def pareto(self) -> list[int]:
        """Indices of trials no other trial beats on both the metric and params (fewer)."""
        sign = 1.0 if self.higher_is_better else -1.0
        return pareto_front([(sign * t.score, t.params_nonzero) for t in self.trials])


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
