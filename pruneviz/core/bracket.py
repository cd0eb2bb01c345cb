"""Where a curve first crosses a tolerance, from few measured points: the search behind adaptive
sensitivity sweeps.

A layer's sensitivity curve (how much worse the metric gets as the layer alone is pruned harder) is
measured at a few of the sweep's levels only: the ends and the middle for the curve's shape, then
points inside the one bracket that matters — between the highest level known to stay within the
tolerance and the lowest level known to exceed it. Each probe halves the bracket; given an estimate of
the curve (the first-order Taylor one), the first probe goes where the estimate, rescaled to the
bracket's measured ends, crosses the tolerance, and the next one beside it, so a right estimate finishes
in two probes (on the demo models the Taylor estimate was right too rarely to beat plain bisection:
``benchmarks/sensitivity_speed.py`` measures both). Every decision is a function of the measured points
alone: a resumed sweep asks for exactly the points it would have asked for.

The answer is the largest level whose measured point and every measured point below it stay within
the tolerance (what an exhaustive sweep reports when the curve is monotone up to its first crossing).
A measured point that exceeds the tolerance below the current bracket moves the bracket down: the
bracket is always the one below the lowest point found outside. A curve that leaves the tolerance and
comes back between two measured points is not seen: there the answer can be higher than an exhaustive
sweep's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bracket:
    """Indices into the levels: ``low`` is within the tolerance (measured, or the first level),
    ``high`` the lowest measured index outside it (None: none measured outside)."""

    low: int
    high: int | None

    @property
    def interior(self) -> range:
        """The unmeasured indices the crossing may still lie between."""
        return range(self.low + 1, self.high) if self.high is not None else range(0)


def coarse_grid(count: int) -> list[int]:
    """The indices every layer is measured at first: both ends and the middle (the curve's shape; a
    finer grid cost more points than it saved in bisection on the demo models)."""
    return sorted({0, count // 2, count - 1})


def bracket(within: Mapping[int, bool]) -> Bracket:
    """The bracket the measured indices (``{index: within the tolerance}``) leave."""
    outside = [i for i, ok in within.items() if not ok]
    high = min(outside) if outside else None
    below = [i for i, ok in within.items() if ok and (high is None or i < high)]
    return Bracket(max(below, default=0), high)


def next_probes(
    count: int,
    within: Mapping[int, bool],
    drops: Mapping[int, float],
    estimate: Sequence[float] | None,
    tolerance: float,
) -> list[int]:
    """The indices to measure next for one layer of ``count`` levels (empty: the answer is known).

    ``within`` and ``drops`` hold the measured indices (drop: how much worse than the baseline);
    ``estimate`` is an estimated curve at every level (any increasing proxy of the drop, such as the
    Taylor loss change), used to place a bracket's first two probes."""
    missing = [i for i in coarse_grid(count) if i not in within]
    if missing:
        return missing
    found = bracket(within)
    interior = found.interior
    if not interior:
        return []
    if estimate is not None:
        grid = coarse_grid(count)
        segment = bracket({i: within[i] for i in grid})  # the grid's bracket, before any probe
        guess = _guess(segment, drops, estimate, tolerance) if segment.interior else None
        if guess is not None and guess not in within:
            return [guess]
        if found.low == guess and guess + 1 in interior:  # the guess held: is the next level outside?
            return [guess + 1]
    return [interior[len(interior) // 2]]  # halve the bracket


def _guess(found: Bracket, drops: Mapping[int, float], estimate: Sequence[float], tolerance: float) -> int:
    """The highest interior index the estimate keeps within ``tolerance`` once mapped linearly onto
    the bracket's measured drops (probed first; the index above it next, which closes the bracket when
    the estimate was right). The middle for a flat estimate."""
    low, high, interior = found.low, found.high, found.interior
    e_low, e_high = estimate[low], estimate[high]
    d_low, d_high = drops.get(low, 0.0), drops[high]
    if not e_high > e_low:
        return interior[len(interior) // 2]
    for i in interior:
        predicted = d_low + (estimate[i] - e_low) / (e_high - e_low) * (d_high - d_low)
        if predicted > tolerance:
            return max(i - 1, interior[0])
    return interior[-1]


def answer(levels: Sequence[float], within: Mapping[int, bool]) -> float:
    """The largest level within the tolerance with every measured level below it within too."""
    found = bracket(within)
    if found.high is None:
        return levels[max(within, default=0)]
    return levels[found.low]
