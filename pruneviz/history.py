"""Every configuration tried in a session, and which of them are Pareto-optimal.

The dashboard plots accuracy against remaining parameters for each configuration and lets the user
click one to restore it; the Pareto front shows the best trade-offs found so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Trial:
    """One evaluated configuration: per-layer sparsity (fractions), how it was made, what it scored."""

    sparsity: tuple[tuple[str, float], ...]
    criterion: str
    granularity: str
    accuracy: float
    params_nonzero: int

    @property
    def config(self) -> dict[str, float]:
        return dict(self.sparsity)


@dataclass
class History:
    """Trials in the order tried; re-trying a configuration does not add a duplicate."""

    trials: list[Trial] = field(default_factory=list)

    def add(
        self, config: dict[str, float], criterion: str, granularity: str, accuracy: float, params: int
    ) -> None:
        trial = Trial(tuple(sorted(config.items())), criterion, granularity, accuracy, params)
        if all(
            (t.sparsity, t.criterion, t.granularity) != (trial.sparsity, criterion, granularity)
            for t in self.trials
        ):
            self.trials.append(trial)

    def pareto(self) -> list[int]:
        """Indices of trials no other trial beats on both accuracy (higher) and params (fewer)."""
        return pareto_front([(t.accuracy, t.params_nonzero) for t in self.trials])


def pareto_front(points: list[tuple[float, int]]) -> list[int]:
    """Indices of (accuracy, params) points not dominated by any other point."""
    front = []
    for i, (acc, params) in enumerate(points):
        dominated = any(
            a >= acc and p <= params and (a > acc or p < params) for j, (a, p) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return front
