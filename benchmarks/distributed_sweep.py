"""A sensitivity sweep in this process vs on Ray actors, side by side in one run, and Ray's per-task
overhead.

torchvision resnet18 (random weights, seeded) over 256 synthetic 3×64×64 images, 21 layers × 10 levels
(210 points): the local sweep (2 torch threads, then 1), then an embedded Ray runtime with 1 and with 2
single-thread actors (one layer per task, 21 tasks). Each time is the whole sweep's wall time including
Ray's actor start-up; the rows must equal the local ones float for float. Overhead: the median round
trip of an empty actor call, and the sweep on 1 actor minus the local single-thread sweep, per task.
Run: ``.venv/bin/python benchmarks/distributed_sweep.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pruneviz.io.data import DataOptions
from pruneviz.workflows.distributed import RayExecutor
from pruneviz.workflows.sensitivity import SweepSpec, sweep
from pruneviz.workflows.session import open_session

LEVELS = tuple(round(0.1 * i, 1) for i in range(10))


class Empty:
    def ping(self) -> int:
        return 0


def timed_sweep(threads: int, executor: RayExecutor | None = None):
    torch.set_num_threads(threads)
    session = open_session(
        "torchvision:resnet18", "synthetic:3x64x64:256", data_options=DataOptions(limit=256), device="cpu"
    )
    start = time.perf_counter()
    result = sweep(session, SweepSpec(LEVELS), executor=executor)
    return time.perf_counter() - start, result


def ray_round_trip_ms(calls: int = 300) -> float:
    import ray

    actor = ray.remote(Empty).options(num_cpus=1).remote()
    ray.get(actor.ping.remote())
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        ray.get(actor.ping.remote())
        times.append(time.perf_counter() - start)
    ray.kill(actor)
    return 1e3 * statistics.median(times)


def main() -> None:
    import ray

    local2, expected = timed_sweep(2)
    local1, _ = timed_sweep(1)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    rows = [("local, 2 threads", local2, True), ("local, 1 thread", local1, True)]
    for workers in (1, 2):
        seconds, result = timed_sweep(2, RayExecutor(workers=workers))
        rows.append((f"Ray, {workers} single-thread actor(s)", seconds, result.rows == expected.rows))
    n = len(expected.rows)
    print(f"resnet18, 256 x 3x64x64, {n} points ({n // len(LEVELS)} layers x {len(LEVELS)} levels)")
    print(f"{'executor':34} {'seconds':>8} {'points/s':>9} {'vs local (2 thr)':>17} {'rows equal':>11}")
    for label, seconds, same in rows:
        print(f"{label:34} {seconds:8.1f} {n / seconds:9.1f} {local2 / seconds:16.2f}x {same!s:>11}")
    tasks = n // len(LEVELS)
    print(f"Ray per task: empty actor call {ray_round_trip_ms():.2f} ms (median round trip); "
          f"1 actor vs local 1 thread: {1e3 * (rows[2][1] - local1) / tasks:.0f} ms per task "
          "(start-up, object store, result transfer)")  # fmt: skip


if __name__ == "__main__":
    main()
