"""A memory budget for work that can grow without bound: a job stops with one readable line instead of
growing until the kernel kills the process — on a workshop server, every session in the room with it.

Two checks. Before a job builds anything, :func:`check_estimate` refuses one whose estimated need
(parameters to copy, activations at the chosen input, …) is already over the budget. While it runs,
:func:`within_budget` watches the process's resident memory from a second thread and, once it has
grown past the budget since the job started, raises an exception *in the job's thread*
(``PyThreadState_SetAsyncExc``): it arrives at the job's next Python instruction, unwinds it like any
exception (``with`` blocks close, private copies are dropped) and is turned into a
:class:`~pruneviz.core.errors.PrunevizError`. Torch-Pruning's dependency graph — what grew without
bound on Swin's window reshapes — is built in Python, so the exception arrives within one sample of
the watch (50 ms).

The budget is ``PRUNEVIZ_JOB_MEMORY_MB`` (MiB), else half of this machine's memory. Resident memory is
the whole process's: on a server, growth from other sessions' work in the same interval counts too,
which errs on the side of the server staying up.

A job may also be given a time limit, stopped the same way: planning a structured removal has one
(``PRUNEVIZ_PLAN_SECONDS``, default 300 s), because Torch-Pruning's grouping can also grow in time
without growing in memory (timm's FocalNet: every layer of a stage in one group, each root's group
rebuilt and scanned again — over ten minutes of one core at 1 GB, never finishing).
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pruneviz.core.errors import PrunevizError

ENV = "PRUNEVIZ_JOB_MEMORY_MB"
MACHINE_SHARE = 0.5  # the default budget: this share of the machine's memory
POLL_S = 0.05
PLAN_ENV = "PRUNEVIZ_PLAN_SECONDS"
PLAN_SECONDS = 300.0  # the slowest plan of the torchvision zoo took under 30 s


def machine_bytes() -> int:
    """This machine's memory (``MemTotal``)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def rss_bytes() -> int:
    """The process's resident memory now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def job_budget_bytes() -> int:
    """How far one job may grow the process: ``PRUNEVIZ_JOB_MEMORY_MB``, else half the machine."""
    return int(_positive(ENV, machine_bytes() * MACHINE_SHARE / 2**20, "a number of MiB") * 2**20)


def plan_seconds() -> float:
    """How long planning one structured removal may take: ``PRUNEVIZ_PLAN_SECONDS``, else 300 s."""
    return _positive(PLAN_ENV, PLAN_SECONDS, "a number of seconds")


def _positive(env: str, default: float, what: str) -> float:
    given = os.environ.get(env)
    if given is None or not given.strip():
        return default
    try:
        value = float(given)
    except ValueError:
        raise PrunevizError(f"{env} must be {what}, got {given!r}") from None
    if not value > 0:
        raise PrunevizError(f"{env} must be above 0, got {given!r}")
    return value


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n < 10 * 2**20 else f"{n / 2**20:,.0f} MiB"


def check_estimate(what: str, needs: int, budget: int | None = None) -> None:
    """Refuse ``what`` before it starts when its estimated need is over the budget."""
    budget = job_budget_bytes() if budget is None else budget
    if needs > budget:
        raise PrunevizError(
            f"{what} would need about {mib(needs)}, over the job memory budget of {mib(budget)} ({ENV})"
        )


class _OverBudget(BaseException):
    """Raised in a job's thread by the watch (a BaseException: no library's ``except Exception``
    swallows it on the way out)."""


@contextmanager
def within_budget(what: str, budget: int | None = None, seconds: float | None = None) -> Iterator[None]:
    """Run the block as a job that may grow the process by at most ``budget`` bytes (default
    :func:`job_budget_bytes`) and, with ``seconds``, take at most that long (the planning limit,
    :func:`plan_seconds`); past either, the block is stopped and ``PrunevizError`` names ``what`` and
    the limit."""
    budget = job_budget_bytes() if budget is None else budget
    start, target, began = rss_bytes(), threading.get_ident(), time.monotonic()
    done, seen = threading.Event(), []

    def watch() -> None:
        while not done.wait(POLL_S):
            grown = rss_bytes() - start
            late = seconds is not None and time.monotonic() - began > seconds
            if grown > budget or late:
                seen.append(
                    f"{what} stopped after {seconds:.0f} s, the planning time limit ({PLAN_ENV})"
                    if late and grown <= budget
                    else f"{what} stopped: it grew the process by {mib(grown)}, past the job memory "
                    f"budget of {mib(budget)} ({ENV})"
                )
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(target), ctypes.py_object(_OverBudget)
                )
                return

    watcher = threading.Thread(target=watch, name=f"memory budget: {what}", daemon=True)
    watcher.start()
    try:
        try:
            yield
        finally:
            done.set()
            watcher.join()
            if seen:  # set but perhaps not delivered yet (the job ended first): take it back
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)
    except _OverBudget:
        if not seen:  # an enclosing job's watch fired: that job stops, with its own message
            raise
    if seen:
        gc.collect()  # what the stopped job built is garbage now
        raise PrunevizError(seen[0])
