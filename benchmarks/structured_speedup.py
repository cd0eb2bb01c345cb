"""Real speed-up of structured vs unstructured pruning on torchvision:resnet18 (CPU, batch 64).

For 50% of the filters of every conv removed (Torch-Pruning) and for 90% unstructured sparsity
(masks on dense kernels), at 64x64 and 224x224 inputs, prints side by side: the MACs ratio
(dense / pruned), the measured latency ratio (median of repeated runs) and their quotient
(1.0 = the speed-up MACs promise is fully realised). Run:
``.venv/bin/python benchmarks/structured_speedup.py [--repeats N]``.
"""

from __future__ import annotations

import argparse

import torch

from pruneviz.core.layers import module_macs
from pruneviz.core.timing import measure_latency
from pruneviz.workflows.session import LayerPlan, open_session
from pruneviz.workflows.structured import StructuredPlan

BATCH = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, batch {BATCH}, median of {args.repeats}")
    header = ("input", "pruning", "MACs ratio", "dense ms / pruned ms", "latency ratio", "quotient")
    print(f"{header[0]:8} {header[1]:28} {header[2]:>10} {header[3]:>26} {header[4]:>13} {header[5]:>9}")
    for size in (64, 224):
        session = open_session("torchvision:resnet18", f"synthetic:3x{size}x{size}:8", device="cpu")
        shape = session.data.sample_shape
        dense_model = session.calibration().model
        convs = [x.name for x in session.layers if x.type == "Conv2d"]

        session.preview_removal(session.plan_removal(StructuredPlan(ratios=dict.fromkeys(convs, 0.5))))
        small = session.shrunk()
        macs_ratio = session.macs_dense / module_macs(small, session.data.x[:1])[0]
        dense_ms = measure_latency(dense_model, shape, BATCH, repeats=args.repeats)  # measured just before
        small_ms = measure_latency(small, shape, BATCH, repeats=args.repeats)
        row(size, "structured: 50% of filters", macs_ratio, dense_ms, small_ms)

        session.reset()
        session.apply_layer_plans({n: LayerPlan(0.9) for n in session.layer_names})
        report = session.report()
        dense_ms = measure_latency(dense_model, shape, BATCH, repeats=args.repeats)
        masked_ms = measure_latency(session.working, shape, BATCH, repeats=args.repeats)
        row(
            size,
            "unstructured: 90% of weights",
            report.macs_dense / report.macs_effective,
            dense_ms,
            masked_ms,
        )


def row(size: int, label: str, macs_ratio: float, dense_ms: float, pruned_ms: float) -> None:
    latency_ratio = dense_ms / pruned_ms
    print(
        f"{f'{size}x{size}':8} {label:28} {macs_ratio:9.2f}x {dense_ms:12.1f} / {pruned_ms:<11.1f} "
        f"{latency_ratio:12.2f}x {latency_ratio / macs_ratio:9.2f}"
    )


if __name__ == "__main__":
    main()
