"""The ``pruneviz`` command line: everything the dashboard does, headless, for scripts and pipelines.

Errors from any command are one line on stderr and exit status 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pruneviz.allocate import Target, auto_allocate
from pruneviz.checkpoint import save_checkpoint
from pruneviz.data import DataSet
from pruneviz.errors import PrunevizError
from pruneviz.evaluate import DEFAULT_BUDGET_BYTES
from pruneviz.export import EXPORTERS, export_model, verify_export
from pruneviz.importance import FILTER_CRITERIA, WEIGHT_CRITERIA
from pruneviz.latency import measure_latency
from pruneviz.layers import module_macs, prunable_modules
from pruneviz.lottery import lottery
from pruneviz.lottery import to_csv as lottery_csv
from pruneviz.metrics import param_counts
from pruneviz.models import ModelOptions
from pruneviz.recipe import (
    Recipe,
    apply_recipe,
    load_recipe,
    recipe_document,
    resolve,
    save_recipe,
    structured_plan,
)
from pruneviz.recovery import SCHEDULES, TrainConfig, finetune, train_split, train_steps
from pruneviz.report import html_report, write_png
from pruneviz.sensitivity import DEFAULT_LEVELS, SweepSpec, accuracy_and_loss, naive_sweep, sweep
from pruneviz.session import GlobalPlan, LayerPlan, PruneSession, open_session
from pruneviz.snippet import torch_prune_snippet

EXIT_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (like every other pruneviz error)."""

    def error(self, message: str):
        raise PrunevizError(f"{self.prog}: {message} (see --help)")


def _common(debug_only: bool = False) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    if debug_only:
        return p
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when present, else cpu)")
    return p


def _model_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "model",
        nargs=None if required else "?",
        help="model spec: demo:cnn|mlp|resnet, torchvision:NAME, file:PATH, python:MODULE:FUNCTION",
    )
    p.add_argument("--data", help="data spec: digits, synthetic:3x64x64:256, folder:PATH, ...")
    p.add_argument("--limit", type=int, help="evaluate a fixed, seeded subset of N samples")
    p.add_argument("--weights", help="weights: a state_dict path, DEFAULT (download) or none")
    p.add_argument("--arch", help="architecture spec for a bare state_dict given as file:PATH")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow loading pickled Python objects (runs code from the file; only for trusted files)",
    )
    p.add_argument(
        "--extra-layer",
        action="append",
        default=[],
        metavar="NAME",
        help="also treat this module (any module with a weight) as prunable; repeatable",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(prog="pruneviz", description=__doc__.splitlines()[0], parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    info = sub.add_parser("info", parents=[common], help="list the prunable layers of a model")
    _model_args(info)
    info.set_defaults(run=cmd_info)

    ev = sub.add_parser("evaluate", parents=[common], help="accuracy, parameters, MACs and size")
    _model_args(ev, required=False)
    ev.add_argument("--recipe", help="YAML/JSON recipe to apply before evaluating")
    ev.add_argument("--save", help="write the pruned model to this file (loads back as file:PATH)")
    ev.set_defaults(run=cmd_evaluate)

    ap = sub.add_parser("apply", parents=[common], help="prune (filters for real) and export, verified")
    _model_args(ap, required=False)
    ap.add_argument(
        "--recipe", required=True, help="recipe with granularity: filter layers (or a filter global)"
    )
    ap.add_argument("--out", required=True, help="file to write the shrunk model to")
    ap.add_argument("--format", default="state_dict", choices=EXPORTERS.names(), help="default: state_dict")
    ap.set_defaults(run=cmd_apply)

    la = sub.add_parser("latency", parents=[common], help="measured latency of the dense and pruned model")
    _model_args(la, required=False)
    la.add_argument("--recipe", help="recipe to apply (filter layers are removed, others masked)")
    la.add_argument("--batch-sizes", default="1,64", help="comma-separated batch sizes (default 1,64)")
    la.add_argument("--repeats", type=int, default=10, help="timed runs per measurement (median)")
    la.set_defaults(run=cmd_latency)

    se = sub.add_parser(
        "sensitivity", parents=[common], help="accuracy per layer pruned alone, level by level"
    )
    _model_args(se)
    _sweep_args(se)
    se.add_argument("--out", required=True, help="results file: .csv (layer,sparsity,accuracy,loss) or .json")
    se.add_argument("--naive", action="store_true", help="deep-copy + full pass per point (for comparison)")
    se.set_defaults(run=cmd_sensitivity)

    au = sub.add_parser("auto", parents=[common], help="per-layer sparsities from sensitivity, verified")
    _model_args(au)
    _sweep_args(au)
    goal = au.add_mutually_exclusive_group(required=True)
    goal.add_argument("--target-params", type=float, help="remove this fraction of the parameters")
    goal.add_argument("--target-macs", type=float, help="remove this fraction of the MACs")
    goal.add_argument("--max-drop", type=float, help="prune as much as possible losing at most this accuracy")
    au.add_argument("--out", required=True, help="recipe file to write (.yaml or .json)")
    au.set_defaults(run=cmd_auto)

    ft = sub.add_parser(
        "finetune", parents=[common], help="prune on a schedule and fine-tune with masks held"
    )
    _model_args(ft, required=False)
    ft.add_argument("--recipe", required=True, help="the target pruning (per-layer plans or global)")
    ft.add_argument("--schedule", default="oneshot", choices=list(SCHEDULES))
    ft.add_argument("--rounds", type=int, default=3, help="pruning steps for iterative / gradual")
    _train_args(ft, steps=300)
    ft.add_argument("--train-data", help="training split spec (default: the data's own training split)")
    ft.add_argument("--out", required=True, help="file to write the fine-tuned model to")
    ft.set_defaults(run=cmd_finetune)

    lt = sub.add_parser("lottery", parents=[common], help="iterative magnitude pruning with rewinding")
    _model_args(lt)
    lt.add_argument("--rounds", type=int, default=6)
    lt.add_argument("--rate", type=float, default=0.2, help="fraction of remaining weights pruned per round")
    lt.add_argument("--rewind-iter", type=int, default=0, help="rewind to this training step (0 = init)")
    _train_args(lt, steps=400)
    lt.add_argument("--train-data", help="training split spec (default: the data's own training split)")
    lt.add_argument("--out", required=True, help="CSV of rounds")
    lt.set_defaults(run=cmd_lottery)

    sn = sub.add_parser(
        "snippet", parents=[common], help="Python code applying a recipe with torch prune only"
    )
    _model_args(sn, required=False)
    sn.add_argument("--recipe", required=True)
    sn.add_argument("--out", help="file to write (default: stdout)")
    sn.set_defaults(run=cmd_snippet)

    rp = sub.add_parser("report", parents=[common], help="a self-contained HTML report of a recipe")
    _model_args(rp, required=False)
    rp.add_argument("--recipe", required=True)
    rp.add_argument("--out", required=True, help="report.html")
    rp.add_argument("--png", help="also write the main chart as PNG (needs kaleido)")
    rp.set_defaults(run=cmd_report)

    td = sub.add_parser("train-demo", parents=[_common(debug_only=True)], help="retrain the demo weights")
    td.add_argument("--out", default=None, help="directory to write demo_NAME.pt into (default: assets/)")
    td.add_argument("--models", default="cnn,mlp,resnet", help="comma-separated demo names")
    td.add_argument("--epochs", type=int, default=30)
    td.set_defaults(run=cmd_train_demo)
    return parser


def _train_args(p: argparse.ArgumentParser, steps: int) -> None:
    p.add_argument("--steps", type=int, default=steps, help=f"optimiser steps (default {steps})")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--seed", type=int, default=0)


def _train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(args.steps, args.lr, args.batch_size, args.optimizer, args.seed)


def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--levels", help="comma-separated sparsities (default 0,0.05,...,0.95)")
    p.add_argument("--granularity", default="unstructured", choices=["unstructured", "filter"])
    p.add_argument("--criterion", help="default: magnitude (unstructured) or l1 (filter)")
    p.add_argument("--memory-budget-mb", type=int, help="activation cache for incremental evaluation (MiB)")


def _sweep_spec(args: argparse.Namespace) -> SweepSpec:
    try:
        levels = tuple(float(v) for v in args.levels.split(",")) if args.levels else DEFAULT_LEVELS
    except ValueError:
        raise PrunevizError(f"--levels must be comma-separated numbers, got '{args.levels}'") from None
    criterion = args.criterion or ("l1" if args.granularity == "filter" else "magnitude")
    registry = FILTER_CRITERIA if args.granularity == "filter" else WEIGHT_CRITERIA
    registry.get(criterion)
    return SweepSpec(levels, criterion, args.granularity)


def _session(args: argparse.Namespace, model: str | None = None, data: str | None = None) -> PruneSession:
    spec = model or args.model
    if not spec:
        raise PrunevizError("name a model (e.g. demo:cnn) or give a recipe that names one")
    options = ModelOptions(weights=args.weights, arch=args.arch, trust_pickle=args.trust_pickle)
    budget = getattr(args, "memory_budget_mb", None)
    return open_session(
        spec,
        data or args.data,
        options,
        args.limit,
        args.device,
        extra_layers=tuple(args.extra_layer),
        memory_budget=budget * 2**20 if budget else DEFAULT_BUDGET_BYTES,
    )


def cmd_info(args: argparse.Namespace) -> int:
    session = _session(args)
    if _printed_as_json(args, [layer.as_dict() for layer in session.layers]):
        return 0
    rows = [
        (x.name, x.type, "x".join(map(str, x.shape)), f"{x.params:,}", f"{100 * x.macs_share:.1f}%")
        for x in session.layers
    ]
    _print_table(("layer", "type", "shape", "params", "MACs"), rows)
    print(f"\n{len(rows)} prunable layers of {session.model.spec}, measured on {session.data.spec}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    session, recipe = _recipe_session(args)
    if recipe:
        apply_recipe(session, recipe)
    report = session.report()
    if args.save:
        _save(session, Path(args.save))
    out = {"model": session.model.spec, "data": session.data.spec, "samples": len(session.data)}
    if _printed_as_json(args, out | report.as_dict()):
        return 0
    print(f"model    {session.model.spec}")
    print(f"data     {session.data.spec} ({len(session.data)} samples)")
    top5 = f"   top-5 {100 * report.top5:.2f}%" if report.top5 is not None else ""
    print(f"accuracy {100 * report.accuracy:.2f}%{top5}   loss {report.loss:.4f}")
    print(f"params   {report.params_nonzero:,} non-zero of {report.params_total:,}")
    print(f"MACs     {report.macs_effective:,} effective of {report.macs_dense:,} dense")
    print(f"size     {report.size_bytes_sparse:,} B sparse, {report.size_bytes_dense:,} B dense fp32")
    _print_table(("layer", "sparsity"), [(n, f"{100 * s:.1f}%") for n, s in report.layers.items()])
    return 0


def _recipe_session(args: argparse.Namespace) -> tuple[PruneSession, Recipe | None]:
    recipe = load_recipe(args.recipe) if args.recipe else None
    model = args.model or (recipe and recipe.model)
    data = args.data or (recipe and recipe.data)
    return _session(args, model, data), recipe


def _structured(session: PruneSession, recipe: Recipe) -> nn.Module:
    """Preview the recipe's filter removal on the session and return the shrunk model."""
    session.preview_removal(session.plan_removal(structured_plan(recipe, session.layer_names)))
    return session.shrunk()


def cmd_apply(args: argparse.Namespace) -> int:
    session, recipe = _recipe_session(args)
    dense = session.report()
    if _has_filter_removal(recipe, session):
        model = _structured(session, recipe)
        params_pred, macs_pred = session.predicted_counts()
    else:  # masks: the model keeps its shapes, the pruned weights are exact zeros
        apply_recipe(session, recipe)
        model = session.working
    pruned = session.report()
    params, _ = param_counts(model)
    macs, _ = module_macs(model, session.data.x[:1])
    if session.removal is None:
        params, macs = pruned.params_nonzero, pruned.macs_effective
        params_pred, macs_pred = params, macs
    export_model(model.cpu(), args.out, args.format, session.export_meta())
    check = verify_export(args.out, args.format, session.data.x, session.data.y, pruned.accuracy)
    summary = {
        "out": args.out,
        "format": args.format,
        "kind": "structured" if session.removal is not None else "masked",
        "accuracy_dense": dense.accuracy,
        "accuracy_pruned": pruned.accuracy,
        "accuracy_reloaded": check.accuracy,
        "verified": check.ok,
        "params_dense": dense.params_total,
        "params_pruned": params,
        "params_predicted": params_pred,
        "macs_dense": dense.macs_dense,
        "macs_pruned": macs,
        "macs_predicted": macs_pred,
        "skipped_groups": session.removal.skipped if session.removal else [],
        "layers": _shape_changes(session.working, model) if session.removal else {},
    }
    if not check.ok:
        raise PrunevizError(
            f"the exported file gives {check.accuracy:.2%} accuracy but the session {check.expected:.2%}; "
            f"{args.out} is not a faithful export"
        )
    if _printed_as_json(args, summary):
        return 0
    print(f"wrote {args.out} ({args.format}); reloaded and verified: accuracy {100 * check.accuracy:.2f}%")
    print(f"params   {dense.params_total:,} -> {params:,} ({params / dense.params_total:.1%})")
    print(f"MACs     {dense.macs_dense:,} -> {macs:,} ({macs / dense.macs_dense:.1%})")
    print(f"accuracy {100 * dense.accuracy:.2f}% -> {100 * pruned.accuracy:.2f}% (before any fine-tuning)")
    if summary["layers"]:
        rows = [(n, "x".join(map(str, a)), "x".join(map(str, b))) for n, (a, b) in summary["layers"].items()]
        _print_table(("layer", "before", "after"), rows)
    for note in summary["skipped_groups"]:
        print(f"kept intact: {note}", file=sys.stderr)
    return 0


def _shape_changes(before: nn.Module, after: nn.Module) -> dict[str, tuple[list[int], list[int]]]:
    """Weight shapes that changed, by layer: (before, after)."""
    old = {n: list(m.weight.shape) for n, m in prunable_modules(before).items()}
    new = {n: list(m.weight.shape) for n, m in prunable_modules(after).items()}
    return {n: (old[n], new[n]) for n in old if n in new and old[n] != new[n]}


def cmd_latency(args: argparse.Namespace) -> int:
    session, recipe = _recipe_session(args)
    dense = session.report()
    batches = [int(b) for b in args.batch_sizes.split(",")]
    if recipe is None:
        pruned_model, kind = session.working, "dense"
        params_pruned, macs_pruned = dense.params_total, dense.macs_dense
    elif _has_filter_removal(recipe, session):
        pruned_model, kind = _structured(session, recipe), "structured"
        params_pruned, _ = param_counts(pruned_model)
        macs_pruned, _ = module_macs(pruned_model, session.data.x[:1])
    else:
        apply_recipe(session, recipe)
        now = session.report()
        pruned_model, kind = session.working, "unstructured"
        params_pruned, macs_pruned = now.params_nonzero, now.macs_effective
    dense_model = session.calibration().model
    shape, device = session.data.sample_shape, session.device
    timings = {
        b: {
            "dense": measure_latency(dense_model, shape, b, device, repeats=args.repeats),
            "pruned": measure_latency(pruned_model, shape, b, device, repeats=args.repeats),
        }
        for b in batches
    }
    ref = max(batches) if 64 not in batches else 64
    out = {
        "model": session.model.spec,
        "kind": kind,
        "device": str(device),
        "params_dense": dense.params_total,
        "params_pruned": params_pruned,
        "macs_dense": dense.macs_dense,
        "macs_pruned": macs_pruned,
        "latency_ms_dense": timings[ref]["dense"],
        "latency_ms_pruned": timings[ref]["pruned"],
        "batch_size": ref,
        "latency_ms": {str(b): t for b, t in timings.items()},
    }
    if _printed_as_json(args, out):
        return 0
    sample = "x".join(map(str, shape))
    print(f"{session.model.spec} ({kind}) on {device}, sample {sample}, median of {args.repeats}")
    print(f"params {dense.params_total:,} -> {params_pruned:,}")
    ratio = dense.macs_dense / max(macs_pruned, 1)
    print(f"MACs   {dense.macs_dense:,} -> {macs_pruned:,} (x{ratio:.2f} fewer)")
    rows = [
        (str(b), f"{t['dense']:.2f}", f"{t['pruned']:.2f}", f"x{t['dense'] / t['pruned']:.2f}")
        for b, t in timings.items()
    ]
    _print_table(("batch", "dense ms", "pruned ms", "speed-up"), rows)
    return 0


def _has_filter_removal(recipe: Recipe, session: PruneSession) -> bool:
    plan = resolve(recipe, session.layer_names)
    if isinstance(plan, GlobalPlan):
        return plan.granularity == "filter"
    return any(p.granularity == "filter" and p.sparsity > 0 for p in plan.values())


def cmd_sensitivity(args: argparse.Namespace) -> int:
    spec = _sweep_spec(args)
    session = _session(args)
    start = time.perf_counter()
    result = naive_sweep(session, spec) if args.naive else sweep(session, spec, progress=_stderr_progress)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result.to_json() if out.suffix == ".json" else result.to_csv())
    print(f"\r{len(result.rows)} points in {time.perf_counter() - start:.1f} s -> {out}", file=sys.stderr)
    within = result.max_sparsity_within(0.01)
    _print_table(("layer", "max sparsity within 1 pt"), [(n, f"{100 * s:.0f}%") for n, s in within.items()])
    return 0


def _stderr_progress(fraction: float, message: str) -> None:
    if sys.stderr.isatty():
        print(f"\r[{fraction:6.1%}] {message}".ljust(100), end="", file=sys.stderr, flush=True)


def cmd_auto(args: argparse.Namespace) -> int:
    spec = _sweep_spec(args)
    target = Target(params=args.target_params, macs=args.target_macs, max_drop=args.max_drop)
    session = _session(args)
    result = auto_allocate(session, sweep(session, spec, progress=_stderr_progress), target)
    layers = {n: LayerPlan(s, spec.criterion, spec.granularity) for n, s in result.sparsity.items()}
    doc = recipe_document(session.model.spec, session.data.spec, layers)
    save_recipe(args.out, doc)
    summary = {
        "out": args.out,
        "sparsity": result.sparsity,
        "predicted_accuracy": result.predicted_accuracy,
        "measured_accuracy": result.measured_accuracy,
        "removed_params": result.removed_params,
        "removed_macs": result.removed_macs,
        "rounds": result.rounds,
        "baselines_at_same_size": result.baselines,
    }
    if _printed_as_json(args, summary):
        return 0
    print(f"wrote {args.out}")
    predicted, measured = 100 * result.predicted_accuracy, 100 * result.measured_accuracy
    rounds = f"{result.rounds} verification round(s)"
    print(f"accuracy predicted {predicted:.2f}%, measured {measured:.2f}% ({rounds})")
    print(
        f"removed  {100 * result.removed_params:.1f}% of parameters, {100 * result.removed_macs:.1f}% of MACs"
    )
    for name, acc in result.baselines.items():
        print(f"  {name} at the same parameter count: {100 * acc:.2f}%")
    _print_table(("layer", "sparsity"), [(n, f"{100 * s:.0f}%") for n, s in result.sparsity.items()])
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    config = _train_config(args)
    session, recipe = _recipe_session(args)
    train = train_split(session, args.train_data)
    if _has_filter_removal(recipe, session):
        return _finetune_shrunk(args, session, recipe, train, config)
    plan = resolve(recipe, session.layer_names)
    if isinstance(plan, GlobalPlan):  # a global ranking, turned into the per-layer fractions it gives
        session.apply_global(plan)
        plan = {n: LayerPlan(s, plan.criterion) for n, s in session.layer_sparsity().items()}
        session.reset()
    dense = session.report()
    session.apply_layer_plans(plan)
    pruned = session.report()
    points = finetune(session, plan, train, config, args.schedule, args.rounds, progress=_stderr_progress)
    tuned = session.report()
    _save(session, Path(args.out))
    summary = {
        "out": args.out,
        "schedule": args.schedule,
        "accuracy_dense": dense.accuracy,
        "accuracy_pruned": pruned.accuracy,
        "accuracy_finetuned": tuned.accuracy,
        "params_nonzero": tuned.params_nonzero,
        "params_total": tuned.params_total,
        "curve": [asdict(p) for p in points],
    }
    if _printed_as_json(args, summary):
        return 0
    print(
        f"accuracy dense {100 * dense.accuracy:.2f}%  pruned {100 * pruned.accuracy:.2f}%  "
        f"fine-tuned {100 * tuned.accuracy:.2f}%  ({args.schedule}, {config.steps} steps)"
    )
    print(f"params   {tuned.params_nonzero:,} non-zero of {tuned.params_total:,}; wrote {args.out}")
    return 0


def _finetune_shrunk(
    args: argparse.Namespace, session: PruneSession, recipe: Recipe, train: DataSet, config: TrainConfig
) -> int:
    """Filter recipes: remove the filters for real, then train the smaller model (nothing to hold at zero)."""
    dense = session.report()
    small = _structured(session, recipe)
    pruned = session.report().accuracy
    train_steps(small, train, config.steps, config)
    with torch.inference_mode():
        tuned = accuracy_and_loss(torch.cat([small(b) for b in session.evaluator.batches]), session.data.y)[0]
    export_model(small, args.out, "state_dict", session.export_meta())
    params, _ = param_counts(small)
    summary = {
        "out": args.out,
        "schedule": "oneshot (filters removed)",
        "accuracy_dense": dense.accuracy,
        "accuracy_pruned": pruned,
        "accuracy_finetuned": tuned,
        "params_total": params,
    }
    if _printed_as_json(args, summary):
        return 0
    print(
        f"accuracy dense {100 * dense.accuracy:.2f}%  filters removed {100 * pruned:.2f}%  "
        f"fine-tuned {100 * tuned:.2f}%; {params:,} parameters; wrote {args.out}"
    )
    return 0


def cmd_snippet(args: argparse.Namespace) -> int:
    session, recipe = _recipe_session(args)
    code = torch_prune_snippet(recipe, session.layers)
    if args.out:
        Path(args.out).write_text(code)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(code, end="")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    session, recipe = _recipe_session(args)
    baseline = session.report()
    apply_recipe(session, recipe)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html_report(session, baseline, f"pruneviz report: {Path(args.recipe).name}"))
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, self-contained)", file=sys.stderr)
    if args.png:
        problem = write_png(session, baseline, Path(args.png))
        print(problem or f"wrote {args.png}", file=sys.stderr)
    return 0


def cmd_lottery(args: argparse.Namespace) -> int:
    config = _train_config(args)
    session = _session(args)
    train = train_split(session, args.train_data)
    results, _, _ = lottery(
        session.working,
        train,
        session.data,
        args.rounds,
        args.rate,
        args.rewind_iter,
        config,
        _stderr_progress,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(lottery_csv(results))
    if _printed_as_json(args, [asdict(r) for r in results]):
        return 0
    rows = [
        (
            str(r.round),
            f"{100 * r.remaining:.1f}%",
            f"{100 * r.accuracy:.2f}%",
            str(r.early_stop_iter),
            f"{100 * r.control_accuracy:.2f}%",
            str(r.control_early_stop_iter),
        )
        for r in results
    ]
    _print_table(("round", "remaining", "ticket acc", "stop iter", "control acc", "stop iter"), rows)
    return 0


def _save(session: PruneSession, path: Path) -> None:
    arch = session.model.arch_spec
    if arch is None:
        raise PrunevizError(f"cannot save {session.model.spec}: pruneviz cannot rebuild its architecture")
    save_checkpoint(path, session.working, arch, session.data.spec)
    print(f"saved {path}", file=sys.stderr)


def cmd_train_demo(args: argparse.Namespace) -> int:
    from pruneviz.demo import ASSETS, train_demo

    out = Path(args.out) if args.out else ASSETS
    for name in args.models.split(","):
        path = train_demo(name.strip(), out, epochs=args.epochs, log=lambda s: print(s, file=sys.stderr))
        print(path)
    return 0


def _printed_as_json(args: argparse.Namespace, data: Any) -> bool:
    """With ``--json``, print ``data`` as the command's only output and return True (the command is
    done); otherwise print nothing and return False (it goes on to print for people)."""
    if args.json:
        print(json.dumps(data, indent=2))
    return bool(args.json)


def _print_table(header: Sequence[str], rows: list[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except KeyboardInterrupt:
        print("pruneviz: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - every failure becomes one line unless --debug
        if debug:
            traceback.print_exc()
        message = str(err) if isinstance(err, PrunevizError) else f"{type(err).__name__}: {err}"
        print(f"pruneviz: error: {' '.join(message.split())}", file=sys.stderr)
        return EXIT_ERROR
