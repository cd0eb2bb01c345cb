"""``sensitivity``, ``compare-criteria``, ``auto`` and ``depth``: per-layer sweeps, criteria compared
layer by layer, allocations from sweeps, and blocks to drop."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pruneviz.commands.common import (
    by_metric,
    executor_of,
    for_metric,
    print_table,
    printed_as_json,
    session_of,
    stderr_progress,
    sweep_spec,
    tolerated_drop,
)
from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import granularity
from pruneviz.views.charts import criteria_overlap
from pruneviz.workflows.allocate import Target, auto_allocate, owl_allocate
from pruneviz.workflows.compare import compare_criteria
from pruneviz.workflows.distributed import RayExecutor
from pruneviz.workflows.recipe import (
    recipe_document,
    save_recipe,
    structure_document,
    uniform_plans,
)
from pruneviz.workflows.sensitivity import (
    Sensitivity,
    SweepFile,
    SweepSpec,
    naive_sweep,
    sweep,
)
from pruneviz.workflows.session import PruneSession
from pruneviz.workflows.transformer import TransformerPlan, block_influence, depth_plan


def cmd_sensitivity(args: argparse.Namespace) -> int:
    spec, executor = sweep_spec(args), executor_of(args)
    if args.naive and (executor or args.resume):
        raise PrunevizError("--naive runs the textbook loop in this process: no --executor ray, no --resume")
    if args.naive and args.adaptive:
        raise PrunevizError("--naive measures every point: it has no --adaptive")
    session = session_of(args)
    metric, out, start = session.task.metric, Path(args.out), time.perf_counter()
    spec = for_metric(spec, args, metric)
    if args.naive:
        result = naive_sweep(session, spec)
        SweepFile(out, spec, metric).start(result)
    else:
        result = _resumable_sweep(args, session, spec, executor)
    print(f"\r{len(result.rows)} points in {time.perf_counter() - start:.1f} s -> {out}", file=sys.stderr)
    drop = tolerated_drop(args, metric)
    within = result.max_sparsity_within(drop)
    header = f"max sparsity within {metric.change(drop, 0.0).lstrip('+')}"
    if not spec.adaptive:
        print_table(("layer", header), [(n, f"{100 * s:.0f}%") for n, s in within.items()])
        return 0
    points, every, exhaustive = result.points(), len(spec.levels), result.exhaustive_points()
    print(
        f"adaptive: {len(result.rows)} of the exhaustive sweep's {exhaustive} points "
        f"({len(result.rows) / exhaustive:.0%})",
        file=sys.stderr,
    )
    rows = [(n, f"{100 * s:.0f}%", f"{points[n]} of {every}") for n, s in within.items()]
    print_table(("layer", header, "points measured"), rows)
    return 0


def cmd_compare_criteria(args: argparse.Namespace) -> int:
    criteria = tuple(c.strip() for c in args.criteria.split(",") if c.strip())
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix not in (".csv", ".json", ".html"):
        raise PrunevizError(f"--out must end in .csv, .json or .html, got '{out.name}'")
    session = session_of(args)
    result = compare_criteria(
        session, criteria, args.sparsity, granularity(args.granularity), stderr_progress
    )
    print(file=sys.stderr)
    if out is not None:
        if out.suffix == ".html":
            criteria_overlap(result).write_html(out, include_plotlyjs=True)
        else:
            out.write_text(result.to_csv() if out.suffix == ".csv" else result.to_json())
    if printed_as_json(args, json.loads(result.to_json())):
        return 0
    metric = result.metric
    print(f"{metric.label} dense {metric.format(result.baseline)}; each layer alone at {args.sparsity:.0%}")
    pairs = [f"{a}~{b}" for a, b in result.pairs]
    header = ("layer", *pairs, *(f"{c} {metric.label.lower()}" for c in result.criteria))
    rows = []
    for layer in result.layers:
        overlaps = [result.overlap[pair].get(layer) for pair in result.pairs]
        scores = [result.score[c].get(layer) for c in result.criteria]
        rows.append(
            [layer]
            + ["-" if v is None else f"{v:.2f}" for v in overlaps]
            + ["-" if v is None else metric.change(v, result.baseline) for v in scores]
        )
    print_table(header, rows)
    return 0


def _sweep_summary(swept: Sensitivity | None) -> dict | None:
    """How a sweep behind an allocation was run (None: there was none)."""
    if swept is None:
        return None
    return {"adaptive": swept.spec.adaptive, "drop": swept.spec.drop, "points": len(swept.rows),
            "exhaustive_points": swept.exhaustive_points()}  # fmt: skip


def _resumable_sweep(
    args: argparse.Namespace, session: PruneSession, spec: SweepSpec, executor: RayExecutor | None
) -> Sensitivity:
    """The sweep with every row written to --out as it arrives; an interruption or a lost cluster
    keeps them (and says how to continue)."""
    file = SweepFile(args.out, spec, session.task.metric)
    done = file.done(session.layer_names) if args.resume else []
    result = Sensitivity(spec, session.task.metric, float("nan"), float("nan"), list(done))
    file.start(result)
    total = "" if spec.adaptive else f" of {len(session.layer_names) * len(spec.levels)}"
    try:
        sweep(session, spec, stderr_progress, result, executor, on_row=lambda row: file.add(row, result))
    except (KeyboardInterrupt, PrunevizError) as err:
        why = "interrupted" if isinstance(err, KeyboardInterrupt) else str(err)
        raise PrunevizError(
            f"{why}; {len(result.rows)}{total} points are in {args.out} (--resume continues)"
        ) from None
    file.write(result)
    return result


def cmd_auto(args: argparse.Namespace) -> int:
    owl = args.allocation == "owl"
    if owl and not args.criterion:
        args.criterion = "wanda"
    if owl and args.adaptive:
        raise PrunevizError("OWL allocates from outlier ratios, without a sweep: it has no --adaptive")
    spec = sweep_spec(args)
    target = Target(params=args.target_params, macs=args.target_macs, max_drop=args.max_drop)
    session = session_of(args)
    spec = for_metric(spec, args, session.task.metric)
    swept = None
    if owl:
        result = owl_allocate(session, target, spec.criterion, spec.granularity)
    else:
        swept = sweep(session.fork(), spec, stderr_progress, executor=executor_of(args))
        result = auto_allocate(session, swept, target)
    layers = uniform_plans(session.layers, result.sparsity, spec.criterion, spec.granularity)
    doc = recipe_document(session.model.spec, session.data.spec, layers)
    save_recipe(args.out, doc)
    metric = session.task.metric
    summary = {
        "out": args.out,
        "sparsity": result.sparsity,
        **by_metric(metric, "{name}_{metric}", predicted=result.predicted, measured=result.measured),
        "removed_params": result.removed_params,
        "removed_macs": result.removed_macs,
        "rounds": result.rounds,
        "baselines_at_same_size": result.baselines,
        "sweep": _sweep_summary(swept),
    }
    if printed_as_json(args, summary):
        return 0
    print(f"wrote {args.out}")
    measured = metric.format(result.measured)
    if result.predicted is None:
        print(f"{metric.key} measured {measured} (OWL allocation, verified)")
    else:
        rounds = f"{result.rounds} verification round(s)"
        print(f"{metric.key} predicted {metric.format(result.predicted)}, measured {measured} ({rounds})")
        done = _sweep_summary(swept)
        kind = f"adaptive (drop {metric.format(spec.drop)})" if spec.adaptive else "exhaustive"
        print(f"from an {kind} sweep: {done['points']} of {done['exhaustive_points']} points measured")
    print(
        f"removed  {100 * result.removed_params:.1f}% of parameters, {100 * result.removed_macs:.1f}% of MACs"
    )
    for name, value in result.baselines.items():
        print(f"  {name} at the same parameter count: {metric.format(value)}")
    print_table(("layer", "sparsity"), [(n, f"{100 * s:.0f}%") for n, s in result.sparsity.items()])
    return 0


def cmd_depth(args: argparse.Namespace) -> int:
    session = session_of(args)
    calibration = session.calibration()
    influence = block_influence(calibration)
    drop = depth_plan(influence, args.drop)
    save_recipe(
        args.out, structure_document(session.model.spec, session.data.spec, TransformerPlan(drop_blocks=drop))
    )
    if printed_as_json(args, {"out": args.out, "block_influence": influence, "drop_blocks": list(drop)}):
        return 0
    rows = [(str(i), f"{bi:.4f}", "drop" if i in drop else "") for i, bi in enumerate(influence)]
    print_table(("block", "influence (1 - cos in/out)", ""), rows)
    print(f"wrote {args.out}: drop blocks {', '.join(map(str, drop))}")
    return 0
