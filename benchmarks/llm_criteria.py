"""Magnitude, Wanda, RIA, DSnoT and SparseGPT (and OWL on top of Wanda): perplexity and time.

For 50%, 60% and 70% unstructured sparsity and 2:4, every projection in the transformer blocks is
pruned by each method (the output head stays dense, as the methods' own code does); perplexity is
measured on every validation window of the pydoc text (demo:gpt: 364 × 128 tokens), and the time is
that of choosing the masks (the methods reading inputs: sequentially, block by block, each block
calibrated on the outputs of the already-pruned blocks before it, on 128 calibration windows, as
``evaluate`` runs them). ``--shape smollm2-135m`` runs SmolLM2-135M's shape with random weights
(built as ``benchmarks/llm_scale.py`` builds it): its times are real, its perplexities mean nothing.
Run: ``.venv/bin/python benchmarks/llm_criteria.py`` (about two minutes on two cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pruneviz.io.data import DataOptions
from pruneviz.workflows.allocate import owl_sparsity
from pruneviz.workflows.sequential import apply_plans
from pruneviz.workflows.session import LayerPlan, PruneSession, open_session

SETTINGS = [("unstructured", 0.5), ("unstructured", 0.6), ("unstructured", 0.7), ("2:4", 0.5)]
METHODS = ("magnitude", "wanda", "ria", "dsnot", "sparsegpt")


def prune(session: PruneSession, criterion: str, granularity: str, sparsity: float, owl: bool = False):
    """(perplexity, seconds to choose the masks) of a fresh fork pruned as asked."""
    fork = session.fork(keep_weights=False)
    start = time.perf_counter()
    names = fork.layer_names
    levels = owl_sparsity(fork, names, sparsity) if owl else dict.fromkeys(names, sparsity)
    apply_plans(fork, {n: LayerPlan(levels[n], criterion, granularity) for n in names})
    seconds = time.perf_counter() - start
    return fork.report().score, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=364, help="validation windows (364 = all)")
    parser.add_argument("--shape", help="a benchmarks/llm_scale.py shape instead of demo:gpt")
    args = parser.parse_args()
    spec = "demo:gpt"
    if args.shape:
        from benchmarks.llm_scale import build

        spec = f"hf:{build(args.shape, Path(tempfile.gettempdir()) / 'pruneviz-llm-shapes')}"
    session = open_session(spec, data_options=DataOptions(limit=args.windows), device="cpu")
    dense = session.report().score
    print(f"{args.shape or spec}, {session.task.size_of(session.data)}; dense perplexity {dense:.3f}")
    print(f"{'setting':18}" + "".join(f"{m:>22}" for m in METHODS) + f"{'wanda + OWL':>22}")
    for granularity, sparsity in SETTINGS:
        label = f"{sparsity:.0%} unstructured" if granularity == "unstructured" else granularity
        cells = []
        for method in METHODS:
            ppl, seconds = prune(session, method, granularity, sparsity)
            cells.append(f"{ppl:8.3f} ({seconds:5.1f} s)")
        if granularity == "unstructured" and sparsity == 0.7:
            ppl, seconds = prune(session, "wanda", granularity, sparsity, owl=True)
            cells.append(f"{ppl:8.3f} ({seconds:5.1f} s)")
        print(f"{label:18}" + "".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()
