"""timm models on this CPU: dense and structurally pruned, parameters, MACs and latency side by side.

``deit_small_patch16_224`` loses a quarter of its heads (1 of 6 per block: qkv rows, proj columns and
``num_heads``) and 30% of its MLP channels, and so does the RoPE ViT ``vit_small_patch16_rope_224``
(EVA-style blocks with ``AttentionRope``); ``convnext_tiny`` and ``efficientnet_b0`` lose 30% of the
filters of every conv Torch-Pruning may shrink (the classifier kept). Random weights (latency does not
depend on them; no download). For each: parameters, MACs per image, and the median latency at batch 1
and 32 of the dense and the shrunk model, the dense one re-timed just before (the machine drifts).
Run: ``.venv/bin/python benchmarks/timm_models.py [--repeats N] [--models a,b]`` (a few minutes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from pruneviz.core.humanize import count
from pruneviz.core.layers import module_macs
from pruneviz.core.metrics import param_counts
from pruneviz.core.timing import measure_latency
from pruneviz.workflows.apply import apply_and_measure
from pruneviz.workflows.recipe import parse_recipe_text
from pruneviz.workflows.session import open_session

PLANS = {
    "deit_small_patch16_224": "structure: {heads: 0.25, channels: 0.3}",
    "vit_small_patch16_rope_224": "structure: {heads: 0.25, channels: 0.3}",
    "convnext_tiny": "default: {sparsity: 0.3, criterion: l1, granularity: filter}",
    "efficientnet_b0": "default: {sparsity: 0.3, criterion: l1, granularity: filter}",
}
BATCHES = (1, 32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=",".join(PLANS))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"{'model':26} {'pruning':34} {'params':>8} {'MACs':>8} {'b1 ms':>9} {'b32 ms':>9}  plan s")
    for name in args.models.split(","):
        session = open_session(f"timm:{name}", "synthetic:3x224x224:4", device="cpu")
        shape, example = session.data.sample_shape, session.data.x[:1]
        dense = session.calibration().model
        start = time.perf_counter()
        small = apply_and_measure(session, parse_recipe_text(f"pruneviz: 1\n{PLANS[name]}\n")).model
        planned = time.perf_counter() - start

        for label, model in (("dense", dense), (PLANS[name].split(": ", 1)[1], small)):
            ms = timed(model, shape, args.repeats)
            params, macs = param_counts(model)[0], module_macs(model, example)[0]
            print(
                f"{name:26} {label:34} {count(params):>8} {count(macs):>8} "
                + " ".join(f"{m:9.1f}" for m in ms)
                + (f"  {planned:6.1f}" if model is small else "")
            )


def timed(model: torch.nn.Module, shape: tuple[int, ...], repeats: int) -> list[float]:
    """Median milliseconds per batch at each of :data:`BATCHES`."""
    with torch.no_grad():
        return [measure_latency(model, shape, b, repeats=repeats, warmup=1) for b in BATCHES]


if __name__ == "__main__":
    main()
