"""Guided workshop exercises, each checked against the learner's own session state.

A check reads the working copy's actual weights and metrics (never a flag the UI set), so passing
means the learner really built the configuration asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pruneviz.core.granularity import NM
from pruneviz.core.humanize import percent, points
from pruneviz.tasks import CLASSIFICATION, Task
from pruneviz.workflows.sensitivity import layer_sensitivity, most_sensitive
from pruneviz.workflows.session import PruneSession, Report


@dataclass(frozen=True)
class Verdict:
    """Whether the check passed, and what it measured (for people)."""

    passed: bool
    message: str

    def __str__(self) -> str:
        return f"{'Passed' if self.passed else 'Not yet'} — {self.message}"


@dataclass(frozen=True)
class Exercise:
    """``check(session, baseline, answer)``; ``asks_layer`` means the learner answers with a layer name."""

    title: str
    task: str
    check: Callable[[PruneSession, Report, str | None], Verdict]
    asks_layer: bool = False


SENSITIVITY_SPARSITY = 0.9


def _check_sensitive(session: PruneSession, baseline: Report, answer: str | None) -> Verdict:
    sens = layer_sensitivity(session.fork(keep_weights=False), (SENSITIVITY_SPARSITY,))
    worst = most_sensitive(sens, SENSITIVITY_SPARSITY)
    curves = sens.curves()
    drop = baseline.score - curves[worst][SENSITIVITY_SPARSITY]
    if answer == worst:
        return Verdict(True, f"Yes: pruning {worst} alone to 90% costs {percent(drop)} accuracy.")
    if answer not in curves:
        return Verdict(False, "Pick a layer first.")
    yours = baseline.score - curves[answer][SENSITIVITY_SPARSITY]
    return Verdict(
        False, f"Not quite: {answer} alone at 90% costs {percent(yours)}; another layer costs more."
    )


def _check_80(session: PruneSession, baseline: Report, answer: str | None) -> Verdict:
    now = session.report()
    sparsity, delta = session.prunable_sparsity(), now.score - baseline.score
    ok = sparsity >= 0.8 and delta > -0.01
    return Verdict(ok, f"{percent(sparsity)} of prunable weights are zero; accuracy {points(delta)}.")


TWO_FOUR = NM(2, 4)
NM_ALLOWED_LOSS = 0.06  # 2:4 without retraining costs the demo CNN about 5 points at best


def _check_nm(session: PruneSession, baseline: Report, answer: str | None) -> Verdict:
    bad = []
    for x in session.layers:
        if not TWO_FOUR.eligible(x.shape):
            continue
        w = session.modules[x.name].weight.detach().movedim(1, -1).reshape(-1, 4)
        if int((w != 0).sum(1).max()) > 2:
            bad.append(x.name)
    delta = session.report().score - baseline.score
    if bad:
        return Verdict(False, f"Not 2:4 yet: {', '.join(bad)}.")
    ok = delta > -NM_ALLOWED_LOSS
    return Verdict(
        ok, f"Every eligible layer is 2:4; accuracy {points(delta)} (allowed: -{NM_ALLOWED_LOSS:.0%})."
    )


def _check_filters(session: PruneSession, baseline: Report, answer: str | None) -> Verdict:
    convs = [x.name for x in session.layers if x.type.startswith("Conv")]
    short = []
    for name in convs:
        w = session.modules[name].weight.detach().flatten(1)
        removed = int((w.abs().sum(1) == 0).sum())
        if removed < w.shape[0] / 2:
            short.append(f"{name} ({removed}/{w.shape[0]} filters zero)")
    accuracy = session.report().score
    if short:
        return Verdict(False, "Zero at least half the filters of: " + ", ".join(short) + ".")
    return Verdict(accuracy >= 0.9, f"Half the filters of every conv are gone; accuracy {percent(accuracy)}.")


EXERCISES = [
    Exercise(
        "Find the most sensitive layer",
        "Which layer loses the most accuracy when it *alone* is pruned to 90% (magnitude)? Experiment on the "
        "Prune page, then answer here.",
        _check_sensitive,
        asks_layer=True,
    ),
    Exercise(
        "80% sparse, under 1 point lost",
        "Zero at least 80% of all prunable weights while losing less than 1 accuracy point. "
        "Hint: global threshold, or spare the most sensitive layer.",
        _check_80,
    ),
    Exercise(
        "Ready for sparse tensor cores",
        "Give every layer whose input dimension is a multiple of 4 a 2:4 pattern, losing at most 6 "
        "accuracy points (no retraining yet). Try more than one criterion: they lose different amounts.",
        _check_nm,
    ),
    Exercise(
        "Half the filters",
        "Zero at least half the filters of every convolution and keep accuracy at 90% or more. "
        "Try more than one filter criterion: they keep different filters.",
        _check_filters,
    ),
]

# The exercises written for each task (by its name): a task with none has no exercises section yet.
EXERCISES_BY_TASK: dict[str, list[Exercise]] = {CLASSIFICATION.name: EXERCISES}


def exercises_for(task: Task) -> list[Exercise]:
    """The exercises a session of ``task`` can be checked on (none for a task nobody wrote any for)."""
    return EXERCISES_BY_TASK.get(task.name, [])
