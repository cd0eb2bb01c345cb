"""The crossing search behind adaptive sweeps, on curves whose answer is known."""

import math

import pytest

from pruneviz.core.bracket import answer, bracket, coarse_grid, next_probes

LEVELS = [round(0.05 * i, 2) for i in range(20)]
TOLERANCE = 1.0


def search(curve: list[float], estimate: list[float] | None) -> tuple[float, int]:
    """Run the search to the end on ``curve`` (drops per level): (answer, points measured)."""
    drops: dict[int, float] = {}
    while probes := next_probes(len(curve), {i: d <= TOLERANCE for i, d in drops.items()}, drops, estimate,
                                TOLERANCE):  # fmt: skip
        assert not set(probes) & set(drops), "a point was asked for twice"
        drops |= {i: curve[i] for i in probes}
    return answer(LEVELS, {i: d <= TOLERANCE for i, d in drops.items()}), len(drops)


def exhaustive(curve: list[float]) -> float:
    best = 0.0
    for level, drop in zip(LEVELS, curve):
        if drop > TOLERANCE:
            break
        best = level
    return best


def step_curve(crossing: int) -> list[float]:
    """Monotone: within the tolerance below index ``crossing``, outside from it on (20: never)."""
    return [
        0.9 * TOLERANCE * i / max(crossing, 1) if i < crossing else TOLERANCE * (1 + i) for i in range(20)
    ]


@pytest.mark.parametrize("crossing", range(1, 21))
def test_every_crossing_of_a_monotone_curve_is_found_exactly(crossing):
    curve = step_curve(crossing)
    perfect = [2 * d for d in curve]  # any increasing function of the drop places the probe right
    backwards = [-i for i in range(20)]  # an estimate that is no help at all
    bound = len(coarse_grid(20)) + math.ceil(math.log2(20))
    for estimate in (None, perfect, backwards):
        found, points = search(curve, estimate)
        assert found == exhaustive(curve)
        assert points <= bound
    assert search(curve, perfect)[1] <= len(coarse_grid(20)) + 2  # a good estimate: at most two probes


def test_a_point_outside_below_the_bracket_moves_it_down():
    assert bracket({0: True, 10: True, 19: False}).interior == range(11, 19)
    assert bracket({0: True, 10: True, 12: False, 19: False}).interior == range(11, 12)
    assert bracket({0: True, 5: False, 10: True, 19: False}).interior == range(1, 5)  # not monotone
    assert answer(LEVELS, {0: True, 5: False, 10: True, 19: True}) == LEVELS[0]


def test_a_dip_between_measured_points_is_not_seen():
    """The documented limit: the curve leaves the tolerance between two points found within."""
    curve = [0.0] * 20
    curve[14] = 2 * TOLERANCE
    assert exhaustive(curve) == LEVELS[13]
    assert search(curve, None)[0] == LEVELS[19]
