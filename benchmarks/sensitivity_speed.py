"""Sensitivity sweep speed: pruneviz's in-place incremental sweep vs the naive loop, in one process.

The naive loop is what Distiller's ``perform_sensitivity_analysis`` and NNI's ``SensitivityAnalysis``
do: for every (layer, level) deep-copy the model, mask, and run a full validation pass. The limit is
the summed cost of re-running only each layer's downstream part once per level (what no sweep that
evaluates every point can beat). Both sweeps' results are checked identical.
Run: ``.venv/bin/python benchmarks/sensitivity_speed.py`` (torchvision:resnet18, random weights,
256 images of 3x64x64, 21 layers x 10 levels).

``--adaptive``: adaptive sweeps (bisection, and Taylor-guided) against the exhaustive sweep on
torchvision:resnet18 (the data above), demo:cnn and demo:gpt (32 windows), 20 levels, at drops of 1, 2
and 5 points of accuracy (perplexity: 2, 5 and 10 % of the baseline): points measured, layers whose
largest sparsity within the drop is the exhaustive answer within one level (5 points of sparsity), and
wall time, end to end (the Taylor-guided one includes its backward pass), side by side in one run.
"""

from __future__ import annotations

import argparse
import statistics
import time

from pruneviz.io.data import DataOptions
from pruneviz.workflows.sensitivity import SweepSpec, naive_sweep, sweep, taylor_estimate
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
    parser.add_argument("--adaptive", action="store_true", help="adaptive vs exhaustive sweeps instead")
    args = parser.parse_args()
    if args.adaptive:
        for model, data, limit in (
            (args.model, args.data, None),
            ("demo:cnn", None, None),
            ("demo:gpt", None, 32),
        ):
            adaptive_rows(model, data, limit)
        return
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


def adaptive_rows(model: str, data: str | None, limit: int | None) -> None:
    """One model: the exhaustive sweep once, then each drop's adaptive sweeps on fresh forks."""
    session = open_session(model, data, data_options=DataOptions(limit=limit), device="cpu")
    start = time.perf_counter()
    exhaustive = sweep(session.fork(), SweepSpec())
    exhaustive_s = time.perf_counter() - start
    metric, base = exhaustive.metric, exhaustive.baseline_score
    layers = len(session.layer_names)
    print(f"\n{model}: {layers} layers x 20 levels = {len(exhaustive.rows)} points in {exhaustive_s:.1f} s "
          f"({metric.key} {metric.format(base)})")  # fmt: skip
    header = ("drop", "search", "points", "within one level", "exact", "time", "faster")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (10, 8, 14, 17, 7, 9, 7))))
    drops = (0.01, 0.02, 0.05) if metric.is_fraction else tuple(f * base for f in (0.02, 0.05, 0.10))
    for drop in drops:
        answers = exhaustive.max_sparsity_within(drop)
        for search in ("bisect", "taylor"):
            start = time.perf_counter()
            spec, scratch = SweepSpec(drop=drop), session.fork()
            estimate = taylor_estimate(scratch, spec) if search == "taylor" else None
            found = sweep(scratch, spec, estimate=estimate)
            seconds = time.perf_counter() - start
            got = found.max_sparsity_within(drop)
            close = sum(abs(got[n] - answers[n]) <= 0.05 + 1e-9 for n in answers)
            exact = sum(got[n] == answers[n] for n in answers)
            points = f"{len(found.rows)} ({len(found.rows) / len(exhaustive.rows):.0%})"
            print(f"{metric.format(drop):>10} {search:>8} {points:>14} {f'{close}/{layers}':>17} {exact:>7} "
                  f"{seconds:8.1f}s {exhaustive_s / seconds:6.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
