"""Structured pruning of demo:gpt: parameters, perplexity before and after recovery, and prefill/decode
speed-ups of fewer heads, narrower MLPs and fewer blocks, each against the dense model in one run.

Every row is built for real (:func:`pruneviz.workflows.transformer.plan_transformer`, then surgery),
scored on the whole validation text (364 windows of 128 tokens), fine-tuned with distillation from the
dense model (``--steps`` steps, batch 16, lr 1e-3, T = 2, alpha = 0.5) and scored again. Speed: prefill
of 8 windows and greedy decoding of 32 tokens (batch 1, KV cache), dense and pruned timed alternately,
the median of ``--repeats`` ratios. Heads go by whole key/value groups: demo:gpt has 4 heads in 2 groups,
so 25% of heads (1 head) cannot be removed without breaking grouped-query attention; 50% is 1 group.
Blocks: the lowest Block Influence against the same number chosen at random (3 seeds).
Targets: prefill speed-up of MLP-width pruning within 1.3x of the parameter ratio; Block Influence
beats random block dropping in perplexity.
Run: ``.venv/bin/python benchmarks/transformer_structured.py [--steps N] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pruneviz.core.errors import PrunevizError
from pruneviz.core.timing import token_speed
from pruneviz.io.data import DataOptions
from pruneviz.workflows.recovery import TrainConfig, finetune_shrunk, train_split
from pruneviz.workflows.session import open_session
from pruneviz.workflows.transformer import (
    TransformerPlan,
    block_influence,
    depth_plan,
    plan_transformer,
    random_blocks,
)

WIDTH_TARGET = 1.3
SEEDS = (0, 1, 2)


def speedups(dense, pruned, windows, repeats: int) -> tuple[float, float]:
    """Median (prefill, decode) speed-up of ``pruned`` over ``dense``, timed alternately."""
    token_speed(dense, windows, 32, repeats=1)
    token_speed(pruned, windows, 32, repeats=1)
    prefill, decode = [], []
    for _ in range(repeats):
        d = token_speed(dense, windows, 32, repeats=1, warmup=0)
        p = token_speed(pruned, windows, 32, repeats=1, warmup=0)
        prefill.append(p.prefill / d.prefill)
        decode.append(p.decode / d.decode)
    return statistics.median(prefill), statistics.median(decode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="recovery steps per row (default 150)")
    parser.add_argument("--repeats", type=int, default=7, help="timing repeats (default 7)")
    parser.add_argument("--windows", type=int, default=364, help="validation windows (364 = all)")
    args = parser.parse_args()
    torch.manual_seed(0)
    session = open_session("demo:gpt", "text:pydoc", data_options=DataOptions(limit=args.windows))
    dense = session.calibration().model
    dense_params = sum(p.numel() for p in dense.parameters())
    dense_ppl = session.report().score
    train = train_split(session)
    windows = session.data.x[:8]
    config = TrainConfig(args.steps, 1e-3, 16, distill=True, eval_every=args.steps)
    influence = block_influence(session.calibration())
    print(f"demo:gpt: {dense_params:,} parameters, perplexity {dense_ppl:.3f} "
          f"({len(session.data.x)} windows); Block Influence {[round(b, 3) for b in influence]}")  # fmt: skip
    try:
        plan_transformer(session, TransformerPlan(heads=0.25))
    except PrunevizError as err:
        print(f"25% of heads: {err}")
    rows = [
        ("heads 50% (activation)", TransformerPlan(heads=0.5, criterion="activation")),
        ("MLP 25% (activation)", TransformerPlan(channels=0.25, criterion="activation")),
        ("MLP 50% (activation)", TransformerPlan(channels=0.5, criterion="activation")),
    ]
    criteria = [  # the same width by the other criteria: perplexity only (no recovery, no timing)
        ("MLP 50% (taylor)", TransformerPlan(channels=0.5, criterion="taylor")),
        ("MLP 50% (magnitude)", TransformerPlan(channels=0.5, criterion="magnitude")),
    ]
    for drop in (1, 2):
        rows.append(
            (f"{drop} block(s), Block Influence", TransformerPlan(drop_blocks=depth_plan(influence, drop)))
        )
        rows += [
            (f"{drop} block(s), random seed {s}", TransformerPlan(drop_blocks=random_blocks(4, drop, s)))
            for s in SEEDS
        ]
    header = (
        f"{'pruned':34} {'params':>9} {'x fewer':>7} {'ppl':>7} {'recovered':>9} {'prefill':>8} {'decode':>7}"
    )
    print(header)
    results = {}
    for label, plan in rows:
        removal = plan_transformer(session, plan)
        session.preview_removal(removal)
        pruned_ppl = session.report().score
        model = session.shrunk()
        params = sum(p.numel() for p in model.parameters())
        prefill, decode = speedups(dense, model, windows, args.repeats)
        recovered = finetune_shrunk(session, model, train, config)[-1].score
        results[label] = (params, pruned_ppl, recovered, prefill)
        blocks = f" {list(plan.drop_blocks)}" if plan.drop_blocks else ""
        print(f"{label + blocks:34} {params:>9,} {dense_params / params:>6.2f}x {pruned_ppl:>7.3f} "
              f"{recovered:>9.3f} {prefill:>7.2f}x {decode:>6.2f}x", flush=True)  # fmt: skip
    for label, plan in criteria:
        session.preview_removal(plan_transformer(session, plan))
        print(f"{label:34} {'':>9} {'':>7} {session.report().score:>7.3f}")
    print("targets:")
    for label in ("MLP 25% (activation)", "MLP 50% (activation)"):
        params, _, _, prefill = results[label]
        ratio = dense_params / params
        met = ratio / prefill <= WIDTH_TARGET and prefill / ratio <= WIDTH_TARGET
        print(f"  {label}: prefill x{prefill:.2f} vs parameter ratio x{ratio:.2f} "
              f"(within {WIDTH_TARGET}x: {'met' if met else 'MISSED'})")  # fmt: skip
    for drop in (1, 2):
        chosen = results[f"{drop} block(s), Block Influence"]
        randoms = [results[f"{drop} block(s), random seed {s}"] for s in SEEDS]
        mean = statistics.mean(r[1] for r in randoms)
        print(f"  {drop} block(s): Block Influence ppl {chosen[1]:.3f} vs random mean {mean:.3f} "
              f"({'met' if chosen[1] < mean else 'MISSED'}; after recovery {chosen[2]:.3f} vs "
              f"{statistics.mean(r[2] for r in randoms):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
