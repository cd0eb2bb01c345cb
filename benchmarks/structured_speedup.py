"""Real speed-up of structured vs unstructured pruning on torchvision:resnet18 and vit_b_16 (CPU).

resnet18, batch 64: for 50% of the filters of every conv removed (Torch-Pruning) and for 90%
unstructured sparsity (masks on dense kernels), at 64x64 and 224x224 inputs, prints side by side: the
MACs ratio (dense / pruned), the measured latency ratio (median of repeated runs) and their quotient
(1.0 = the speed-up MACs promise is fully realised).

vit_b_16 at 224x224 (``--vit``), batch 1 and 64: 25% and 50% of every block's MLP channels removed
for real, and the same fractions of heads asked for (refused: the line says why); parameters, MACs and
latency, promised (MACs) vs measured. Run:
``.venv/bin/python benchmarks/structured_speedup.py [--repeats N] [--vit]``.
"""

from __future__ import annotations

import argparse

import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.core.humanize import count
from pruneviz.core.layers import module_macs
from pruneviz.core.metrics import param_counts
from pruneviz.core.timing import measure_latency
from pruneviz.workflows.recipe import plan_structure
from pruneviz.workflows.session import LayerPlan, open_session
from pruneviz.workflows.structured import StructuredPlan
from pruneviz.workflows.transformer import TransformerPlan

BATCH = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--vit", action="store_true", help="vit_b_16 instead of resnet18 (minutes)")
    args = parser.parse_args()
    if args.vit:
        vit_rows(args.repeats)
        return
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


def vit_rows(repeats: int) -> None:
    """vit_b_16 (random weights: latency does not depend on them) losing MLP channels, and asked for
    heads."""
    session = open_session("torchvision:vit_b_16", "synthetic:3x224x224:8", device="cpu")
    shape, example = session.data.sample_shape, session.data.x[:1]
    dense = session.calibration().model
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, vit_b_16 at 224x224, "
          f"median of {repeats} (1 warm-up)")  # fmt: skip
    header = ("removed", "params", "MACs", "MACs ratio", "b1 ms", "b1 ratio", "b64 ms", "b64 ratio")
    print(
        f"{header[0]:24} {header[1]:>8} {header[2]:>8} {header[3]:>10} "
        + " ".join(f"{h:>9}" for h in header[4:])
    )

    def timed(model) -> dict[int, float]:
        return {b: measure_latency(model, shape, b, repeats=repeats, warmup=1) for b in (1, 64)}

    macs = session.macs_dense
    vit_row("nothing (dense)", param_counts(dense)[0], macs, macs, *[timed(dense)] * 2)
    for what in ("channels", "heads"):
        for ratio in (0.25, 0.5):
            label = f"{ratio:.0%} of MLP channels" if what == "channels" else f"{ratio:.0%} of heads"
            try:
                removal = plan_structure(session, TransformerPlan(**{what: ratio}))
            except PrunevizError as err:
                print(f"{label:24} refused: {err}")
                continue
            session.preview_removal(removal)
            small = session.shrunk()
            small_macs = module_macs(small, example)[0]
            # the dense model re-timed just before: the machine drifts over minutes
            vit_row(label, param_counts(small)[0], small_macs, macs, timed(dense), timed(small))
            session.reset()


def vit_row(label: str, params: int, macs: int, dense_macs: int, dense: dict, measured: dict) -> None:
    ratios = " ".join(f"{measured[b]:9.1f} {dense[b] / measured[b]:8.2f}x" for b in (1, 64))
    print(f"{label:24} {count(params):>8} {count(macs):>8} {dense_macs / macs:9.2f}x {ratios}")


def row(size: int, label: str, macs_ratio: float, dense_ms: float, pruned_ms: float) -> None:
    latency_ratio = dense_ms / pruned_ms
    print(
        f"{f'{size}x{size}':8} {label:28} {macs_ratio:9.2f}x {dense_ms:12.1f} / {pruned_ms:<11.1f} "
        f"{latency_ratio:12.2f}x {latency_ratio / macs_ratio:9.2f}"
    )


if __name__ == "__main__":
    main()
