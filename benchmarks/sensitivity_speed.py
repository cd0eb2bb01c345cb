"""Sensitivity sweep speed: pruneviz's in-place incremental sweep vs the naive loop, in one process.

The naive loop is what Distiller's ``perform_sensitivity_analysis`` and NNI's ``SensitivityAnalysis``
do: for every (layer, level) deep-copy the model, mask, and run a full validation pass. The limit is
the summed cost of re-running only each layer's downstream part once per level (what no sweep that
evaluates every point can beat). Both sweeps' results are checked identical.
Run: ``.venv/bin/python benchmarks/sensitivity_speed.py`` (torchvision:resnet18, random weights,
256 images of 3x64x64, 21 layers x 10 levels).
"""

from __future__ import annotations

import argparse
import statistics
import time

from pruneviz.workflows.sensitivity import SweepSpec, naive_sweep, sweep
from pruneviz.workflows.session import LayerPlan, open_session

LEVELS = tuple(round(0.1 * i, 1) for i in range(10))


def downstream_limit(session, levels: int) -> float:
    """Seconds to re-run each layer's downstream part once per non-zero level (median of 3 timings)."""
    session.reset()
    session.outputs()
    total = 0.0
    for name in session.layer_names:
        times = []
        for sparsity in (0.3, 0.5, 0.7):
            session.prune_layer(name, LayerPlan(sparsity))
            start = time.perf_counter()
            session.outputs()
            times.append(time.perf_counter() - start)
        total += statistics.median(times) * levels
        session.prune_layer(name, LayerPlan(0.0))
        session.outputs()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="torchvision:resnet18")
    parser.add_argument("--data", default="synthetic:3x64x64:256")
    args = parser.parse_args()
    session = open_session(args.model, args.data, device="cpu")
    spec = SweepSpec(LEVELS)
    points = len(session.layer_names) * len(LEVELS)
    layers = len(session.layer_names)
    print(f"{args.model} on {args.data}: {layers} layers x {len(LEVELS)} levels = {points} points")
    start = time.perf_counter()
    fast = sweep(session, spec)
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    slow = naive_sweep(session, spec)
    naive_s = time.perf_counter() - start
    assert fast.rows == slow.rows, "incremental sweep differs from the naive loop"
    limit_s = downstream_limit(session, len(LEVELS) - 1)
    print(f"naive (deep copy + full pass): {naive_s:7.1f} s")
    print(f"pruneviz (in place, incremental): {fast_s:7.1f} s   speed-up {naive_s / fast_s:.2f}x")
    print(
        f"limit (downstream parts only):   {limit_s:7.1f} s   pruneviz is {fast_s / limit_s:.2f}x the limit"
    )
    print("results identical: yes")


if __name__ == "__main__":
    main()
