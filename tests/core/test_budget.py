"""A job that grows past its memory budget stops with one readable line, and the process carries on."""

import time

import pytest

from pruneviz.core.budget import ENV, PLAN_ENV, check_estimate, job_budget_bytes, plan_seconds, within_budget
from pruneviz.core.errors import PrunevizError


def grow(mib: int, held: list) -> list:
    """Allocate ``mib`` MiB into ``held`` in small Python steps (as a graph being built does)."""
    for _ in range(mib):
        held.append(bytearray(2**20))
        time.sleep(0.002)
    return held


STOPPED = r"planning filters stopped: it grew the process by .* MiB, past the job memory budget of 64 MiB"


def test_a_job_growing_past_its_budget_is_stopped_and_named():
    held: list = []
    with (
        pytest.raises(PrunevizError, match=rf"{STOPPED} \({ENV}\)"),
        within_budget("planning filters", 64 * 2**20),
    ):
        grow(2000, held)  # 2 GB if nothing stopped it
    assert 64 <= len(held) < 200  # stopped soon after 64 MiB
    held.clear()
    with within_budget("the next job", budget=64 * 2**20):  # the thread is clean: no exception pending
        time.sleep(0.2)


def test_a_job_within_its_budget_runs_to_the_end_and_keeps_its_result():
    with within_budget("a small job", budget=512 * 2**20):
        held = grow(32, [])
    assert len(held) == 32


def test_an_estimate_over_the_budget_is_refused_before_anything_is_built():
    with pytest.raises(
        PrunevizError, match="would need about 2,048 MiB, over the job memory budget of 1,024 MiB"
    ):
        check_estimate("planning resnet", 2 * 2**30, budget=2**30)
    check_estimate("planning resnet", 2**20, budget=2**30)


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(ENV, "300")
    assert job_budget_bytes() == 300 * 2**20
    monkeypatch.setenv(ENV, "lots")
    with pytest.raises(PrunevizError, match="must be a number of MiB"):
        job_budget_bytes()
    monkeypatch.delenv(ENV)
    assert job_budget_bytes() > 2**30  # half of this machine


def test_an_enclosing_jobs_budget_stops_the_inner_job_with_the_enclosing_name():
    held: list = []
    sweep, layer = within_budget("the sweep", 64 * 2**20), within_budget("one layer", 4 * 2**30)
    with pytest.raises(PrunevizError, match="the sweep stopped"), sweep, layer:  # the layer's is far away
        grow(2000, held)
    assert len(held) < 200


def test_a_plan_past_its_time_limit_is_stopped_and_named(monkeypatch):
    """Torch-Pruning's grouping can grow in time without growing in memory (timm's FocalNet)."""
    monkeypatch.setenv(PLAN_ENV, "0.3")
    spins = 0
    with (
        pytest.raises(
            PrunevizError,
            match=rf"^planning focalnet stopped after 0 s, the planning time limit \({PLAN_ENV}\)$",
        ),
        within_budget("planning focalnet", seconds=plan_seconds()),
    ):
        while True:  # Python steps, as the grouping loop is
            spins += 1
    assert spins > 0
    with within_budget("the next plan", seconds=plan_seconds()):  # the thread is clean
        time.sleep(0.05)
    monkeypatch.setenv(PLAN_ENV, "-1")
    with pytest.raises(PrunevizError, match="must be above 0"):
        plan_seconds()
    monkeypatch.delenv(PLAN_ENV)
    assert plan_seconds() == 300
