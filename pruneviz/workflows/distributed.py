"""Sensitivity sweeps on a Ray cluster: a pool of actors, each with its own session and incremental
evaluator, measuring one layer at a time.

The model, the data, the dense weights and the rankings go into Ray's object store once; every actor
builds its session from them (so it prunes exactly the weights the driver would, and measures the same
batches: the rows equal the local sweep's, float for float). Layers are handed out one at a time to
whichever actor is free and their rows stream back as each layer finishes.

Faults: actors restart when their process dies (``max_restarts``) and Ray re-runs the call that was in
flight (``max_task_retries``), so a killed worker loses and duplicates nothing: each layer's rows arrive
exactly once. An actor that is gone for good (its node left) has its layer handed to another; when no
actor is left, when the cluster's head stops answering for ``lost_s`` seconds, or when nothing arrives
for ``stall_s`` seconds, the sweep ends with one line and the rows already received are kept by the
caller. The head is watched by this module because Ray itself would end the whole process a minute
after losing it, with a page of C++ log lines and nothing said of the rows kept.

Ray is imported when a sweep starts, not with this module: the CLI and the dashboard start as fast
without it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.workflows.sensitivity import LayerSweeper, Row, SweepSpec, Work, rankings
from pruneviz.workflows.session import Opaque, PruneSession

CONNECT_TIMEOUT_S = 5.0
HEAD_PROBE_TIMEOUT_S = 1.0
_CONNECTING = threading.Lock()  # one ray.init per process, whichever session's sweep comes first


class SweepWorker:
    """One Ray actor: a session over the driver's model, data and dense weights, sweeping the layers
    it is handed with the driver's rankings.

    Each call carries ``shared``, a list holding one object reference to all of those; the first call
    fetches it (again after a restart). Ray warns about actors restarted with object references in
    their constructor (ray-project/ray#53727), so there are none there."""

    def __init__(self, threads: int) -> None:
        torch.set_num_threads(threads)
        self.sweeper: LayerSweeper | None = None

    def pid(self) -> int:
        """This worker's process id (tests kill it)."""
        return os.getpid()

    def measure(self, shared: list, layer: str, levels: tuple[float, ...]) -> list[Row]:
        if self.sweeper is None:
            import ray

            model, data, state, orders, spec, extra_layers, memory_budget = ray.get(shared[0])
            session = PruneSession(model, data, data.x.device, extra_layers, memory_budget)
            session.take_weights(state, Opaque("a sweep worker's copy"))
            self.sweeper = LayerSweeper(session, spec, orders)
        return list(self.sweeper.layer(layer, levels))


@dataclass
class RayExecutor:
    """Run a sweep's layers on Ray: on the cluster at ``address`` (``host:port``, ``ray://host:port``
    or ``auto``), or on a local runtime started for the sweep when ``address`` is None and
    ``RAY_ADDRESS`` is unset. ``workers`` actors (default: one per CPU of the cluster), each with
    ``threads`` torch threads."""

    address: str | None = None
    workers: int | None = None
    threads: int = 1
    stall_s: float = 600.0  # no row for this long, with work outstanding: the cluster is gone
    lost_s: float = 10.0  # the head unreachable this long: the cluster is gone (Ray gives up at 60 s)
    actors: list = field(default_factory=list, repr=False)  # the live handles while a sweep runs
    _dead: set[int] = field(default_factory=set, repr=False)

    def rows(self, session: PruneSession, spec: SweepSpec, work: Work) -> Iterator[Row]:
        if not work:
            return
        import ray

        self._connect(ray)
        try:
            yield from self._run(ray, session, spec, work)
        finally:
            for actor in self.actors:
                with contextlib.suppress(Exception):  # a cluster already gone has nothing left to stop
                    ray.kill(actor, no_restart=True)
            self.actors = []

    def alive(self) -> tuple[int, int]:
        """(actors alive, actors started)."""
        return len(self.actors) - len(self._dead), len(self.actors)

    def _target(self) -> str | None:
        """The cluster to join: ``address``, else ``RAY_ADDRESS`` (None: start a local runtime)."""
        return self.address or os.environ.get("RAY_ADDRESS") or None

    def _joined(self) -> str | None:
        """The address whose head this sweep watches (None: a local runtime, or Ray's ``auto``)."""
        address = self._target()
        return None if address == "auto" else address

    def _connect(self, ray) -> None:
        """Join the cluster, or start a local runtime. The connection stays for the life of the process:
        a dashboard serving several sweeps at once shares it (two sessions starting at once make one
        ``ray.init`` between them), and Ray closes it at exit."""
        with _CONNECTING:
            if not ray.is_initialized():
                self._init(ray)

    def _init(self, ray) -> None:
        # Ray logs an error line a second for every call it is still retrying (a restarting actor, a
        # lost head) and would bury the one line a sweep ends with; the outcome is reported anyway.
        os.environ.setdefault("RAY_enable_output_error_log_if_still_retry", "0")
        address = self._target()
        if address:
            check_reachable(address)
            try:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            except (ConnectionError, RuntimeError) as err:
                raise PrunevizError(f"cannot join the Ray cluster at {address}: {_first_line(err)}") from None
            return
        ray.init(address="local", num_cpus=self.workers or os.cpu_count(), include_dashboard=False,
                 logging_level="ERROR", log_to_driver=False)  # fmt: skip

    def _run(self, ray, session: PruneSession, spec: SweepSpec, work: Work) -> Iterator[Row]:
        count = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // self.threads)
        shared = ray.put(
            (session.model, session.data, session.dense_state(), rankings(session, spec), spec,
             session.extra_layers, session.memory_budget)
        )  # fmt: skip
        actor = ray.remote(SweepWorker).options(num_cpus=self.threads, max_restarts=-1, max_task_retries=-1)
        self.actors = [actor.remote(self.threads) for _ in range(count)]
        self._dead = set()
        queue, pending, last = list(work), {}, time.monotonic()
        head, answered = self._joined(), time.monotonic()
        while queue or pending:
            busy = {i for i, _ in pending.values()}
            for i, handle in enumerate(self.actors):
                if queue and i not in busy and i not in self._dead:
                    layer, levels = queue.pop(0)
                    pending[handle.measure.remote([shared], layer, levels)] = (i, (layer, levels))
            if not pending:
                raise PrunevizError("every Ray worker died: the cluster has no room left for the sweep")
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            if not ready:
                if head and reachable(head, HEAD_PROBE_TIMEOUT_S):
                    answered = time.monotonic()
                elif head and time.monotonic() - answered > self.lost_s:
                    raise PrunevizError(
                        f"lost the Ray cluster at {head}: its head has not answered for {self.lost_s:.0f} s"
                    )
                if time.monotonic() - last > self.stall_s:
                    raise PrunevizError(
                        f"no result from the Ray cluster for {self.stall_s:.0f} s: it is unreachable or "
                        "has no room for the workers"
                    )
                continue
            i, task = pending.pop(ready[0])
            try:
                rows = ray.get(ready[0])
            except ray.exceptions.ActorDiedError:
                self._dead.add(i)  # gone for good: another actor takes its layer
                queue.insert(0, task)
                continue
            except ray.exceptions.ActorUnavailableError:
                queue.insert(0, task)  # restarting: its layer goes to whichever actor is free first
                continue
            except ray.exceptions.RayError as err:
                raise PrunevizError(f"the Ray cluster failed the sweep: {_first_line(err)}") from None
            last = time.monotonic()
            yield from rows


def check_reachable(address: str) -> None:
    """Refuse, in one line and within seconds, a cluster address nothing answers at (``ray.init``
    itself retries for minutes)."""
    if address == "auto":
        return
    try:
        _knock(address, CONNECT_TIMEOUT_S)
    except OSError as err:
        raise PrunevizError(f"cannot reach the Ray cluster at {address}: {err.strerror or err}") from None


def reachable(address: str, timeout_s: float) -> bool:
    """Whether the head at ``address`` accepts a connection within ``timeout_s``."""
    try:
        _knock(address, timeout_s)
    except OSError:
        return False
    return True


def _knock(address: str, timeout_s: float) -> None:
    """Open and close a TCP connection to ``host:port`` (or ``ray://host:port``); OSError if none."""
    host, _, port = address.split("://")[-1].rpartition(":")
    if not host or not port.isdigit():
        raise PrunevizError(f"a Ray address is host:port (or ray://host:port), got {address!r}")
    socket.create_connection((host, int(port)), timeout=timeout_s).close()


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
