"""``info``, ``evaluate``, ``latency`` and ``generate``: look at a model, pruned by a recipe or not."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pruneviz.commands.common import (
    print_table,
    printed_as_json,
    recipe_session,
    save_model,
    session_of,
    stderr_progress,
)
from pruneviz.tasks import LatencyOptions
from pruneviz.workflows.apply import apply_and_measure
from pruneviz.workflows.generate import side_by_side
from pruneviz.workflows.recipe import (
    apply_recipe,
)


def cmd_info(args: argparse.Namespace) -> int:
    session = session_of(args)
    if printed_as_json(args, [layer.as_dict() for layer in session.layers]):
        return 0
    rows = [
        (x.name, x.type, "x".join(map(str, x.shape)), f"{x.params:,}", f"{100 * x.macs_share:.1f}%")
        for x in session.layers
    ]
    print_table(("layer", "type", "shape", "params", "MACs"), rows)
    print(f"\n{len(rows)} prunable layers of {session.model.spec}, measured on {session.data.spec}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    session, recipe = recipe_session(args)
    if recipe:
        apply_recipe(session, recipe, stderr_progress)
    if args.progress:  # an estimate after every batch, on stderr: how many samples it rests on
        metric, batches = session.task.metric, len(session.evaluator.batches)
        for k in range(1, batches):
            e = session.report(k).estimate
            interval = f"95%: {metric.format(e.low)}-{metric.format(e.high)}"
            print(
                f"{metric.key} {metric.format(e.score)} ({interval}) on {e.samples} of {e.total} {e.unit}",
                file=sys.stderr,
                flush=True,
            )
    report = session.report()
    if args.save:
        save_model(session, Path(args.save))
    out = {"model": session.model.spec, "data": session.data.spec, "samples": len(session.data)}
    if printed_as_json(args, out | report.as_dict()):
        return 0
    metric = session.task.metric
    print(f"model    {session.model.spec}")
    print(f"data     {session.data.spec} ({session.task.size_of(session.data)})")
    extras = "".join(
        f"   {label.lower()} {100 * report.figures[key]:.2f}%"
        for key, label in session.task.extra_figures.items()
        if report.figures.get(key) is not None
    )
    print(f"{metric.key:<8} {metric.format(report.score)}{extras}   loss {report.loss:.4f}")
    print(f"params   {report.params_nonzero:,} non-zero of {report.params_total:,}")
    print(f"MACs     {report.macs_effective:,} effective of {report.macs_dense:,} dense")
    stored = f"sparse + {report.quantize}" if report.quantize else "sparse"
    print(f"size     {report.size_bytes_sparse:,} B {stored}, {report.size_bytes_dense:,} B dense fp32")
    print_table(("layer", "sparsity"), [(n, f"{100 * s:.1f}%") for n, s in report.layers.items()])
    return 0


def cmd_latency(args: argparse.Namespace) -> int:
    session, recipe = recipe_session(args)
    applied = apply_and_measure(session, recipe)
    options = LatencyOptions(
        tuple(int(b) for b in args.batch_sizes.split(",")), args.repeats, args.windows, args.decode_tokens
    )
    dense_model = session.calibration().copy()
    timings, fields = session.task.latency(dense_model, applied.model, session.data, session.device, options)
    kind = {"masked": "unstructured"}.get(applied.kind, applied.kind)
    dense = applied.dense
    out = {
        "model": session.model.spec,
        "kind": kind,
        "device": str(session.device),
        "params_dense": dense.params_total,
        "params_pruned": applied.params,
        "macs_dense": dense.macs_dense,
        "macs_pruned": applied.macs,
        **fields,
    }
    if printed_as_json(args, out):
        return 0
    sample = "x".join(map(str, session.data.sample_shape))
    print(f"{session.model.spec} ({kind}) on {session.device}, sample {sample}, median of {args.repeats}")
    print(f"params {dense.params_total:,} -> {applied.params:,}")
    ratio = dense.macs_dense / max(applied.macs, 1)
    print(f"MACs   {dense.macs_dense:,} -> {applied.macs:,} (x{ratio:.2f} fewer)")
    rows = [(t.what, t.unit, f"{t.dense:,.2f}", f"{t.pruned:,.2f}", f"x{t.speedup:.2f}") for t in timings]
    print_table(("timed", "unit", "dense", "pruned", "speed-up"), rows)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    session, recipe = recipe_session(args)
    if recipe:
        apply_recipe(session, recipe, stderr_progress)
    out = side_by_side(session, args.prompt, args.tokens)
    if printed_as_json(args, {"prompt": out.prompt, "dense": out.dense, "pruned": out.pruned}):
        return 0
    for label, text in (("dense", out.dense), ("pruned", out.pruned)):
        print(f"--- {label} ---\n{out.prompt}{text}\n")
    return 0
