"""``hardware``: every prunable layer timed on the kernels this device offers, beside their promise."""

from __future__ import annotations

import argparse

from pruneviz.commands.common import print_table, printed_as_json, recipe_session, stderr_progress
from pruneviz.core.errors import PrunevizError
from pruneviz.workflows.hardware import HardwareReport, TimingCache, measure_hardware
from pruneviz.workflows.recipe import apply_recipe


def cmd_hardware(args: argparse.Namespace) -> int:
    if args.batch < 2:
        raise PrunevizError(f"--batch is the larger batch beside batch 1; give 2 or more, got {args.batch}")
    session, recipe = recipe_session(args)
    if recipe:
        apply_recipe(session, recipe, stderr_progress)
    kernels = tuple(k for k in args.kernels.split(",") if k) if args.kernels else None
    report = measure_hardware(
        session,
        batches=(1, args.batch),
        kernels=kernels,
        break_even=not args.no_break_even,
        cache=TimingCache(None) if args.fresh else TimingCache.default(),
        repeats=args.repeats,
        progress=stderr_progress,
    )
    if printed_as_json(args, {"model": session.model.spec} | report.as_dict()):
        return 0
    print_report(report, session.model.spec)
    return 0


def print_report(report: HardwareReport, model: str) -> None:
    big = report.batches[-1]
    print(f"{model} on {report.device}: median ms per forward of each layer, batch 1 and {big}")
    rows, missing = [], {}
    for layer in report.layers:
        for r in layer.rows:
            if r.unavailable:
                missing.setdefault((r.label, r.unavailable), []).append(layer.name)
                continue
            rows.append(
                (
                    layer.name,
                    "x".join(map(str, layer.shape)),
                    f"{layer.sparsity:.0%}",
                    r.label,
                    *(f"{r.ms[b]:.4f} (x{r.speedup(b):.2f})" for b in report.batches),
                    f"x{r.promised_macs:.2f} / x{r.promised_bytes:.2f}",
                )
            )
    print_table(("layer", "shape", "zeros", "kernel", "batch 1", f"batch {big}", "promised MACs/bytes"), rows)
    print("\nall prunable layers (a layer a kernel cannot run stays on its reference):")
    totals = [
        (
            kernel,
            f"{t['layers']}/{len(report.layers)}",
            *(f"{t['ms'][b]:.3f} ms (x{t['speedup'][b]:.2f})" for b in report.batches),
            f"x{t['promised_macs']:.2f}",
        )
        for kernel, t in report.totals().items()
    ]
    print_table(("kernel", "layers", "batch 1", f"batch {big}", "promised MACs"), totals)
    lines = report.break_even_lines()
    if lines:
        print("\nbreak-even sparsity, measured (random masks at 0-99%, interpolated):")
        print("\n".join(f"  {line}" for line in lines))
    for (label, reason), layers in missing.items():
        where = "any layer" if len(layers) == len(report.layers) else ", ".join(layers)
        print(f"no {label} kernel for {where} on this device: {reason}")
    print("\nwhere each choice pays:")
    for choice, where in report.where_it_pays():
        print(f"  {choice}: {where}")
