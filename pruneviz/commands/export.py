"""``apply``, ``snippet`` and ``report``: a recipe turned into a verified file, code, or an HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pruneviz.commands.common import by_metric, print_table, printed_as_json, recipe_session, stderr_progress
from pruneviz.core.humanize import size
from pruneviz.views.report import html_report, write_png
from pruneviz.workflows.apply import apply_and_measure, dense_export_bytes, disk_bytes, export_faithfully
from pruneviz.workflows.llm_compressor import FORMAT as LLM_COMPRESSOR_RECIPE
from pruneviz.workflows.llm_compressor import llm_compressor_recipe, write_llm_compressor_recipe
from pruneviz.workflows.recipe import (
    Recipe,
    apply_recipe,
    resolve_for,
)
from pruneviz.workflows.session import PruneSession
from pruneviz.workflows.snippet import torch_prune_snippet


def cmd_apply(args: argparse.Namespace) -> int:
    session, recipe = recipe_session(args)
    if args.format == LLM_COMPRESSOR_RECIPE:
        return _llm_compressor_recipe(args, session, recipe)
    applied = apply_and_measure(session, recipe)
    metric, dense, pruned = session.task.metric, applied.dense, applied.pruned
    check = export_faithfully(session, applied, args.out, args.format)
    on_disk, dense_on_disk = disk_bytes(Path(args.out)), dense_export_bytes(session)
    summary = {
        "out": args.out,
        "format": args.format,
        "bytes_on_disk": on_disk,
        "bytes_dense_export": dense_on_disk,
        **by_metric(metric, "{metric}_{name}", dense=dense.score, pruned=pruned.score, reloaded=check.score),
        "verified": check.ok,
        **applied.counts(),
    }
    if printed_as_json(args, summary):
        return 0
    key = metric.key
    print(f"wrote {args.out} ({args.format}); reloaded and verified: {key} {metric.format(check.score)}")
    dense_format = session.task.export_formats[0]
    print(
        f"on disk  {size(on_disk)} ({args.format}); the dense model: {size(dense_on_disk)} ({dense_format})"
    )
    share = applied.params / dense.params_total
    print(f"params   {dense.params_total:,} -> {applied.params:,} ({share:.1%})")
    print(f"MACs     {dense.macs_dense:,} -> {applied.macs:,} ({applied.macs / dense.macs_dense:.1%})")
    print(f"{key:<8} {metric.format(dense.score)} -> {metric.format(pruned.score)} (before any fine-tuning)")
    if applied.shapes:
        rows = [(n, "x".join(map(str, a)), "x".join(map(str, b))) for n, (a, b) in applied.shapes.items()]
        print_table(("layer", "before", "after"), rows)
    for note in applied.skipped:
        print(f"kept intact: {note}", file=sys.stderr)
    return 0


def _llm_compressor_recipe(args: argparse.Namespace, session: PruneSession, recipe: Recipe | None) -> int:
    """The session's per-layer sparsities (after ``recipe``) as an llm-compressor recipe."""
    if recipe is not None:
        apply_recipe(session, recipe, stderr_progress)
    path = write_llm_compressor_recipe(session, args.out)
    found = llm_compressor_recipe(session)["sparsity_stage"]["sparsity_modifiers"]
    layers = {name: s for m in found.values() for name, s in zip(m["targets"], m["sparsity"])}
    if printed_as_json(args, {"out": str(path), "format": args.format, "layers": layers}):
        return 0
    print(f"wrote {path} ({args.format}): {len(layers)} layers in {', '.join(found)}")
    return 0


def cmd_snippet(args: argparse.Namespace) -> int:
    session, recipe = recipe_session(args)
    code = torch_prune_snippet(resolve_for(session, recipe), session.layers)
    if args.out:
        Path(args.out).write_text(code)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(code, end="")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    session, recipe = recipe_session(args)
    baseline = session.report()
    apply_recipe(session, recipe, stderr_progress)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html_report(session, baseline, f"pruneviz report: {Path(args.recipe).name}"))
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, self-contained)", file=sys.stderr)
    if args.png:
        problem = write_png(session, baseline, Path(args.png))
        print(problem or f"wrote {args.png}", file=sys.stderr)
    return 0
