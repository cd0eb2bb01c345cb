"""The hardware figures in docs/hardware.md, measured on this machine in one run:

1. dense vs CSR time per layer (``torch.sparse``, the hardware report's kernel) for demo:cnn and
   resnet18 (random weights, 3×224×224) with every layer at 50/80/90/95 % unstructured sparsity, at
   batch 1 and a larger batch, and each layer's measured break-even sparsity;
2. demo:gpt on disk: the dense ``hf`` export beside compressed-tensors at 50 % (sparse-bitmask), 2:4
   (sparse-24-bitmask), 50 % + int8, and int8 alone (compressed-tensors-dense);
3. what int8 weights (torchao) change in the metric: demo:cnn accuracy and demo:gpt perplexity, dense
   and at 50 %.

Times are medians (timed calls adding up to at least 20 ms each) on a noisy 2-core machine: read the
ratios. ::

    .venv/bin/python benchmarks/hardware_figures.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pruneviz.io.models import ModelOptions
from pruneviz.workflows.apply import apply_and_measure, disk_bytes, export_and_verify
from pruneviz.workflows.hardware import TimingCache, measure_hardware, pays_off
from pruneviz.workflows.recipe import parse_recipe
from pruneviz.workflows.session import LayerPlan, PruneSession, open_session

LEVELS = (0.5, 0.8, 0.9, 0.95)


def csr_table(session: PruneSession, batches: tuple[int, int], levels: tuple[float, ...]) -> None:
    """Per layer: dense ms and CSR ms at each level, at both batch sizes, then the break-even."""
    timed = {}
    for level in levels:
        session.apply_layer_plans({n: LayerPlan(level) for n in session.layer_names})
        timed[level] = measure_hardware(
            session, batches, kernels=("csr",), break_even=level == levels[0], cache=TimingCache(None)
        )
    first = timed[levels[0]]
    for b in batches:
        head = ["layer", "dense ms", *(f"CSR {lv:.0%}" for lv in levels), "break-even"]
        print(f"\n{session.model.spec}, batch {b}: ms per forward (× faster than dense)")
        print("  ".join(f"{h:>16}" if i else f"{h:<22}" for i, h in enumerate(head)))
        for i, layer in enumerate(first.layers):
            dense = layer.row("dense").ms[b]
            cells = [f"{dense:.4f}"]
            for level in levels:
                csr = timed[level].layers[i].row("csr")
                cells.append(
                    f"{csr.ms[b]:.4f} (x{dense / csr.ms[b]:.2f})" if csr.unavailable is None else "-"
                )
            at = layer.row("csr").break_even.get(b)
            cells.append(pays_off(at) if layer.row("csr").unavailable is None else "no kernel")
            print(f"{layer.name:<22}" + "".join(f"  {c:>16}" for c in cells))


def sizes_on_disk() -> None:
    cases = {
        "dense (hf)": ("hf", {}),
        "50% (compressed-tensors, sparse-bitmask)": ("compressed-tensors", {"default": {"sparsity": 0.5}}),
        "2:4 (compressed-tensors, sparse-24-bitmask)": (
            "compressed-tensors",
            {"default": {"sparsity": 0.5, "granularity": "2:4"}},
        ),
        "50% + int8 (compressed-tensors)": (
            "compressed-tensors",
            {"default": {"sparsity": 0.5}, "quantize": {"weights": "int8"}},
        ),
        "int8 (compressed-tensors-dense)": ("compressed-tensors-dense", {"quantize": {"weights": "int8"}}),
    }
    print("\ndemo:gpt on disk (every export reloaded and verified)")
    session = open_session("demo:gpt", device="cpu")
    dense = None
    for name, (fmt, body) in cases.items():
        applied = apply_and_measure(session, parse_recipe({"pruneviz": 1} | body))
        with tempfile.TemporaryDirectory() as tmp:
            check = export_and_verify(session, applied, Path(tmp) / "out", fmt)
            size = disk_bytes(Path(tmp) / "out")
        dense = dense or size
        shown = f"{size:>10,} B  {size / dense:6.1%}"
        print(f"  {name:<46} {shown}  perplexity {check.score:.4f} verified {check.ok}")


def int8_change() -> None:
    print("\nint8 weights (torchao, Linear layers): the metric before and after")
    for spec in ("demo:cnn", "demo:gpt"):
        session = open_session(spec, device="cpu")
        metric = session.task.metric
        for sparsity in (0.0, 0.5):
            session.apply_layer_plans({n: LayerPlan(sparsity) for n in session.layer_names})
            session.quantize(None)
            before = session.report().score
            session.quantize("int8")
            after = session.report().score
            print(
                f"  {spec:<9} {sparsity:4.0%} sparse: {metric.key} {metric.format(before)} -> "
                f"{metric.format(after)} with int8 weights"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo:cnn only for the CSR table")
    args = parser.parse_args()
    csr_table(open_session("demo:cnn", device="cpu"), (1, 64), LEVELS)
    if not args.quick:
        resnet = open_session(
            "torchvision:resnet18", "synthetic:3x224x224:16", ModelOptions(weights="none"), device="cpu"
        )
        csr_table(resnet, (1, 8), LEVELS)
    sizes_on_disk()
    int8_change()


if __name__ == "__main__":
    main()
