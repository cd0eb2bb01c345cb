"""Re-evaluation latency after one layer's mask changes: incremental (torch.fx cache) vs full forward.

Both are measured side by side in one run, on the same session, for the first, middle and last
prunable layer and as the median over all layers. Run: ``make bench`` or
``.venv/bin/python benchmarks/incremental_eval.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from pruneviz.workflows.session import LayerPlan, PruneSession, open_session

CASES = [
    ("torchvision:resnet18", "synthetic:3x64x64:256"),
    ("demo:cnn", "digits"),
]


def full_forward(session: PruneSession) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([session.working(b) for b in session.evaluator.batches])


def time_layer(session: PruneSession, name: str, repeats: int) -> tuple[float, float]:
    """Median seconds of (incremental, full) re-evaluation after changing layer ``name``'s mask."""
    incremental, full = [], []
    for i in range(repeats):
        session.prune_layer(name, LayerPlan(0.5 if i % 2 else 0.6))
        start = time.perf_counter()
        fast = session.outputs()
        incremental.append(time.perf_counter() - start)
        start = time.perf_counter()
        slow = full_forward(session)
        full.append(time.perf_counter() - start)
        assert torch.equal(fast, slow), "incremental result differs from the full forward"
    session.prune_layer(name, LayerPlan(0.0))
    session.outputs()
    return statistics.median(incremental), statistics.median(full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats} runs")
    print(f"{'model':24} {'layer':22} {'incremental ms':>15} {'full ms':>9} {'speed-up':>9}")
    for spec, data in CASES:
        session = open_session(spec, data, device="cpu")
        session.outputs()
        names = session.layer_names
        results = {name: time_layer(session, name, args.repeats) for name in names}
        picks = {"first: " + names[0]: results[names[0]]}
        picks["middle: " + names[len(names) // 2]] = results[names[len(names) // 2]]
        picks["last: " + names[-1]] = results[names[-1]]
        ratios = [full / inc for inc, full in results.values()]
        for label, (inc, full) in picks.items():
            print(f"{spec:24} {label:22} {1e3 * inc:15.1f} {1e3 * full:9.1f} {full / inc:8.1f}x")
        inc_med = statistics.median(r[0] for r in results.values())
        full_med = statistics.median(r[1] for r in results.values())
        print(
            f"{spec:24} {'median of ' + str(len(names)) + ' layers':22} {1e3 * inc_med:15.1f} "
            f"{1e3 * full_med:9.1f} {statistics.median(ratios):8.1f}x"
        )


if __name__ == "__main__":
    main()
