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

from pruneviz.core.errors import PrunevizError
from pruneviz.core.evaluate import DEFAULT_BUDGET_BYTES
from pruneviz.core.granularity import rankable
from pruneviz.io.checkpoint import save_checkpoint
from pruneviz.io.data import DataOptions, DataSet
from pruneviz.io.demo import ASSETS
from pruneviz.io.formats import export_model, writable
from pruneviz.io.gate import Gate
from pruneviz.io.models import ModelOptions
from pruneviz.io.room import RoomStore
from pruneviz.tasks import LatencyOptions, Metric
from pruneviz.views.report import html_report, write_png
from pruneviz.workflows.allocate import Target, auto_allocate, owl_allocate
from pruneviz.workflows.apply import apply_and_measure, export_and_verify
from pruneviz.workflows.demo_training import DEMOS, train
from pruneviz.workflows.distributed import RayExecutor
from pruneviz.workflows.generate import side_by_side
from pruneviz.workflows.lottery import lottery
from pruneviz.workflows.lottery import to_csv as lottery_csv
from pruneviz.workflows.recipe import (
    Recipe,
    apply_recipe,
    check_model,
    load_recipe,
    recipe_document,
    removes_filters,
    resolve,
    resolve_for,
    save_recipe,
    skipped_by_default,
    structure_document,
    uniform_plans,
)
from pruneviz.workflows.recovery import SCHEDULES, TrainConfig, finetune, finetune_shrunk, train_split
from pruneviz.workflows.sensitivity import (
    DEFAULT_LEVELS,
    Sensitivity,
    SweepFile,
    SweepSpec,
    naive_sweep,
    sweep,
)
from pruneviz.workflows.session import GlobalPlan, LayerPlan, PruneSession, open_session, resolve_device
from pruneviz.workflows.snippet import torch_prune_snippet
from pruneviz.workflows.transformer import TransformerPlan, block_influence, depth_plan

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
        help="model spec: demo:cnn|mlp|resnet|vit|gpt, torchvision:NAME, hf:PATH, file:PATH, "
        "python:MODULE:FUNCTION",
    )
    p.add_argument(
        "--data", help="data spec: digits, synthetic:3x64x64:256, folder:PATH, text:pydoc, text:PATH, ..."
    )
    p.add_argument("--limit", type=int, help="evaluate a fixed, seeded subset of N samples (text: N windows)")
    p.add_argument("--context", type=int, help="language models: tokens per window (default min(model, 128))")
    p.add_argument(
        "--calibration",
        type=int,
        help="language models: calibration windows from the training text (default 128)",
    )
    p.add_argument(
        "--allow-download", action="store_true", help="hf: models may come from the Hugging Face hub"
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16", "auto"],
        help="hf: the dtype weights are held in (default: float32 on the CPU, the checkpoint's own on a "
        "GPU); masks, norms and Hessians are computed in float32 either way",
    )
    p.add_argument("--weights", help="weights: a state_dict path, DEFAULT (download) or none")
    p.add_argument("--arch", help="architecture spec for a bare state_dict given as file:PATH")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="trust the model file: allow its pickled Python objects and the python: specs it names "
        "(both run code from the file; only for files you trust)",
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
    ev.add_argument(
        "--progress",
        action="store_true",
        help="print the metric on stderr as the samples come in (a shuffled order, with its 95%% interval)",
    )
    ev.set_defaults(run=cmd_evaluate)

    ap = sub.add_parser("apply", parents=[common], help="prune (filters for real) and export, verified")
    _model_args(ap, required=False)
    ap.add_argument(
        "--recipe", required=True, help="recipe with granularity: filter layers (or a filter global)"
    )
    ap.add_argument("--out", required=True, help="file to write the shrunk model to")
    ap.add_argument("--format", default="state_dict", choices=writable(), help="default: state_dict")
    ap.set_defaults(run=cmd_apply)

    la = sub.add_parser("latency", parents=[common], help="measured latency of the dense and pruned model")
    _model_args(la, required=False)
    la.add_argument("--recipe", help="recipe to apply (filter layers are removed, others masked)")
    la.add_argument("--batch-sizes", default="1,64", help="comma-separated batch sizes (default 1,64)")
    la.add_argument("--repeats", type=int, default=10, help="timed runs per measurement (median)")
    la.add_argument("--windows", type=int, default=8, help="language models: windows prefilled at once")
    la.add_argument("--decode-tokens", type=int, default=64, help="language models: tokens decoded (batch 1)")
    la.set_defaults(run=cmd_latency)

    se = sub.add_parser(
        "sensitivity", parents=[common], help="the metric per layer pruned alone, level by level"
    )
    _model_args(se)
    _sweep_args(se)
    se.add_argument(
        "--out",
        required=True,
        help="results file: .csv (layer,sparsity,<metric>,loss,criterion,granularity) or .json",
    )
    se.add_argument("--naive", action="store_true", help="deep-copy + full pass per point (for comparison)")
    se.add_argument(
        "--resume", action="store_true", help="keep the points already in --out, measure the rest"
    )
    se.set_defaults(run=cmd_sensitivity)

    au = sub.add_parser("auto", parents=[common], help="per-layer sparsities from sensitivity, verified")
    _model_args(au)
    _sweep_args(au)
    goal = au.add_mutually_exclusive_group(required=True)
    goal.add_argument("--target-params", type=float, help="remove this fraction of the parameters")
    goal.add_argument("--target-macs", type=float, help="remove this fraction of the MACs")
    goal.add_argument(
        "--max-drop", type=float, help="prune as much as possible losing at most this much of the metric"
    )
    au.add_argument(
        "--allocation",
        choices=["sensitivity", "owl"],
        default="sensitivity",
        help="sensitivity: greedy over measured curves; owl: outlier-weighted (language models, "
        "--target-params, criterion wanda by default)",
    )
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

    de = sub.add_parser("depth", parents=[common], help="blocks of a transformer to drop, by Block Influence")
    _model_args(de)
    de.add_argument("--drop", type=int, required=True, help="how many blocks to drop")
    de.add_argument("--out", required=True, help="recipe file to write (drop_blocks: [...])")
    de.set_defaults(run=cmd_depth)

    ro = sub.add_parser("room", parents=[common], help="the workshop room's store: export or clear it")
    room = ro.add_subparsers(dest="action", required=True, metavar="ACTION")
    rx = room.add_parser("export", parents=[common], help="every share (hidden ones marked) as CSV")
    rx.add_argument("--db", required=True, help="the room's SQLite file (the server's PRUNEVIZ_ROOM_DB)")
    rx.add_argument("--out", required=True, help="CSV file to write")
    rx.set_defaults(run=cmd_room_export)
    rc = room.add_parser("clear", parents=[common], help="delete every share (the room's model stays)")
    rc.add_argument("--db", required=True, help="the room's SQLite file (the server's PRUNEVIZ_ROOM_DB)")
    rc.set_defaults(run=cmd_room_clear)

    ge = sub.add_parser(
        "generate", parents=[common], help="continue a prompt with the dense and the pruned language model"
    )
    _model_args(ge, required=False)
    ge.add_argument("--recipe", help="recipe to prune with (default: the dense model twice)")
    ge.add_argument("--prompt", required=True, help="text to continue")
    ge.add_argument("--tokens", type=int, default=120, help="new tokens (greedy decoding; default 120)")
    ge.set_defaults(run=cmd_generate)

    td = sub.add_parser("train-demo", parents=[_common(debug_only=True)], help="retrain the demo weights")
    td.add_argument("--out", default=None, help="directory to write demo_NAME.pt into (default: assets/)")
    td.add_argument(
        "--models", default="cnn,mlp,resnet,vit", help=f"comma-separated demo names: {', '.join(DEMOS)}"
    )
    td.add_argument(
        "--epochs", type=int, default=None, help="classifiers: epochs over the digits (30; vit 100)"
    )
    td.add_argument("--steps", type=int, default=1200, help="gpt: AdamW steps of 32 windows of 128 tokens")
    td.set_defaults(run=cmd_train_demo)
    return parser


def _train_args(p: argparse.ArgumentParser, steps: int) -> None:
    p.add_argument("--steps", type=int, default=steps, help=f"optimiser steps (default {steps})")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--distill", action="store_true", help="also learn from the dense model's outputs (KL)")
    p.add_argument("--temperature", type=float, default=2.0, help="distillation temperature (default 2)")
    p.add_argument("--alpha", type=float, default=0.5, help="distillation's share of the loss (default 0.5)")


def _train_config(args: argparse.Namespace) -> TrainConfig:
    distill = {"distill": args.distill, "temperature": args.temperature, "alpha": args.alpha}
    return TrainConfig(args.steps, args.lr, args.batch_size, args.optimizer, args.seed, **distill)


def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--levels", help="comma-separated sparsities (default 0,0.05,...,0.95)")
    p.add_argument("--granularity", default="unstructured", choices=[g.name for g in rankable()])
    p.add_argument("--criterion", help="default: the granularity's (magnitude; l1 for filters)")
    p.add_argument(
        "--memory-budget-mb", type=int, default=DEFAULT_BUDGET_BYTES // 2**20,
        help="activation cache for incremental evaluation (MiB; default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--executor", choices=["local", "ray"], default="local",
        help="local: in this process (default); ray: a pool of Ray actors (a local runtime, or the cluster "
        "at --ray-address / RAY_ADDRESS)",
    )  # fmt: skip
    p.add_argument("--ray-address", help="the Ray cluster to join (host:port, ray://host:port or auto)")
    p.add_argument("--workers", type=int, help="Ray actors (default: one per CPU of the cluster)")


def _sweep_spec(args: argparse.Namespace) -> SweepSpec:
    try:
        levels = tuple(float(v) for v in args.levels.split(",")) if args.levels else DEFAULT_LEVELS
    except ValueError:
        raise PrunevizError(f"--levels must be comma-separated numbers, got '{args.levels}'") from None
    return SweepSpec(levels, args.criterion, args.granularity)


def _session(args: argparse.Namespace, model: str | None = None, data: str | None = None) -> PruneSession:
    spec = model or args.model
    if not spec:
        raise PrunevizError("name a model (e.g. demo:cnn) or give a recipe that names one")
    gate = _gate(args)
    device = resolve_device(args.device)
    dtype = args.dtype or ("auto" if device.type == "cuda" else None)  # a GPU runs the checkpoint's dtype
    options = ModelOptions(args.weights, args.arch, args.trust_pickle, args.allow_download, gate, dtype)
    # Only sweeps evaluate the same model again and again (their parser sets the budget): other
    # commands keep no activation cache.
    budget = getattr(args, "memory_budget_mb", 0)
    return open_session(
        spec,
        data or args.data,
        options,
        DataOptions(args.limit, args.context, args.calibration, gate),
        args.device,
        extra_layers=tuple(args.extra_layer),
        memory_budget=budget * 2**20,
    )


def _gate(args: argparse.Namespace) -> Gate:
    """Typed specs are the user's; what a file names runs code only when the user trusts the file."""
    return Gate(python_in_files=args.trust_pickle)


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
        apply_recipe(session, recipe, _stderr_progress)
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
        _save(session, Path(args.save))
    out = {"model": session.model.spec, "data": session.data.spec, "samples": len(session.data)}
    if _printed_as_json(args, out | report.as_dict()):
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
    print(f"size     {report.size_bytes_sparse:,} B sparse, {report.size_bytes_dense:,} B dense fp32")
    _print_table(("layer", "sparsity"), [(n, f"{100 * s:.1f}%") for n, s in report.layers.items()])
    return 0


def _recipe_session(args: argparse.Namespace) -> tuple[PruneSession, Recipe | None]:
    """The session the command works on and the recipe it names (layers a ``default`` cannot reach
    are named on stderr)."""
    recipe = load_recipe(args.recipe) if args.recipe else None
    model = args.model or (recipe and recipe.model)
    data = args.data or (recipe and recipe.data)
    for spec, typed in ((model, args.model), (data, args.data)):
        if spec and not typed:  # named by the recipe, a file: it may not run code unless trusted
            _gate(args).check_spec(spec, named_in=args.recipe)
    session = _session(args, model, data)
    if recipe is not None:
        check_model(recipe, session.model, args.recipe)
        for name in skipped_by_default(recipe, session.layers):
            reason = recipe.default.granularity.ineligible(session.shape(name))
            print(f"left dense: {name} ({reason})", file=sys.stderr)
    return session, recipe


def cmd_apply(args: argparse.Namespace) -> int:
    session, recipe = _recipe_session(args)
    applied = apply_and_measure(session, recipe)
    metric, dense, pruned = session.task.metric, applied.dense, applied.pruned
    check = export_and_verify(session, applied, args.out, args.format)
    if not check.ok:
        raise PrunevizError(
            f"the exported file gives {metric.format(check.score)} {metric.key} but the session "
            f"{metric.format(check.expected)}; {args.out} is not a faithful export"
        )
    summary = {
        "out": args.out,
        "format": args.format,
        **_by_metric(metric, "{metric}_{name}", dense=dense.score, pruned=pruned.score, reloaded=check.score),
        "verified": check.ok,
        **applied.counts(),
    }
    if _printed_as_json(args, summary):
        return 0
    key = metric.key
    print(f"wrote {args.out} ({args.format}); reloaded and verified: {key} {metric.format(check.score)}")
    share = applied.params / dense.params_total
    print(f"params   {dense.params_total:,} -> {applied.params:,} ({share:.1%})")
    print(f"MACs     {dense.macs_dense:,} -> {applied.macs:,} ({applied.macs / dense.macs_dense:.1%})")
    print(f"{key:<8} {metric.format(dense.score)} -> {metric.format(pruned.score)} (before any fine-tuning)")
    if applied.shapes:
        rows = [(n, "x".join(map(str, a)), "x".join(map(str, b))) for n, (a, b) in applied.shapes.items()]
        _print_table(("layer", "before", "after"), rows)
    for note in applied.skipped:
        print(f"kept intact: {note}", file=sys.stderr)
    return 0


def cmd_latency(args: argparse.Namespace) -> int:
    session, recipe = _recipe_session(args)
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
    if _printed_as_json(args, out):
        return 0
    sample = "x".join(map(str, session.data.sample_shape))
    print(f"{session.model.spec} ({kind}) on {session.device}, sample {sample}, median of {args.repeats}")
    print(f"params {dense.params_total:,} -> {applied.params:,}")
    ratio = dense.macs_dense / max(applied.macs, 1)
    print(f"MACs   {dense.macs_dense:,} -> {applied.macs:,} (x{ratio:.2f} fewer)")
    rows = [(t.what, t.unit, f"{t.dense:,.2f}", f"{t.pruned:,.2f}", f"x{t.speedup:.2f}") for t in timings]
    _print_table(("timed", "unit", "dense", "pruned", "speed-up"), rows)
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    spec, executor = _sweep_spec(args), _executor(args)
    if args.naive and (executor or args.resume):
        raise PrunevizError("--naive runs the textbook loop in this process: no --executor ray, no --resume")
    session = _session(args)
    metric, out, start = session.task.metric, Path(args.out), time.perf_counter()
    if args.naive:
        result = naive_sweep(session, spec)
        SweepFile(out, spec, metric).start(result)
    else:
        result = _resumable_sweep(args, session, spec, executor)
    print(f"\r{len(result.rows)} points in {time.perf_counter() - start:.1f} s -> {out}", file=sys.stderr)
    drop = 0.01 if metric.is_fraction else 0.1
    within = result.max_sparsity_within(drop)
    header = f"max sparsity within {metric.change(drop, 0.0).lstrip('+')}"
    _print_table(("layer", header), [(n, f"{100 * s:.0f}%") for n, s in within.items()])
    return 0


def _resumable_sweep(
    args: argparse.Namespace, session: PruneSession, spec: SweepSpec, executor: RayExecutor | None
) -> Sensitivity:
    """The sweep with every row written to --out as it arrives; an interruption or a lost cluster
    keeps them (and says how to continue)."""
    file = SweepFile(args.out, spec, session.task.metric)
    done = file.done(session.layer_names) if args.resume else []
    result = Sensitivity(spec, session.task.metric, float("nan"), float("nan"), list(done))
    file.start(result)
    total = len(session.layer_names) * len(spec.levels)
    try:
        sweep(session, spec, _stderr_progress, result, executor, on_row=lambda row: file.add(row, result))
    except (KeyboardInterrupt, PrunevizError) as err:
        why = "interrupted" if isinstance(err, KeyboardInterrupt) else str(err)
        raise PrunevizError(
            f"{why}; {len(result.rows)} of {total} points are in {args.out} (--resume continues)"
        ) from None
    file.write(result)
    return result


def _executor(args: argparse.Namespace) -> RayExecutor | None:
    """The executor --executor names (None: this process)."""
    if args.executor == "local":
        if args.ray_address or args.workers:
            raise PrunevizError("--ray-address and --workers need --executor ray")
        return None
    if args.workers is not None and args.workers < 1:
        raise PrunevizError(f"--workers must be at least 1, got {args.workers}")
    return RayExecutor(args.ray_address, args.workers)


def _stderr_progress(fraction: float, message: str) -> None:
    if sys.stderr.isatty():
        print(f"\r[{fraction:6.1%}] {message}".ljust(100), end="", file=sys.stderr, flush=True)


def cmd_auto(args: argparse.Namespace) -> int:
    owl = args.allocation == "owl"
    if owl and not args.criterion:
        args.criterion = "wanda"
    spec = _sweep_spec(args)
    target = Target(params=args.target_params, macs=args.target_macs, max_drop=args.max_drop)
    session = _session(args)
    if owl:
        result = owl_allocate(session, target, spec.criterion, spec.granularity)
    else:
        swept = sweep(session.fork(), spec, _stderr_progress, executor=_executor(args))
        result = auto_allocate(session, swept, target)
    layers = uniform_plans(session.layers, result.sparsity, spec.criterion, spec.granularity)
    doc = recipe_document(session.model.spec, session.data.spec, layers)
    save_recipe(args.out, doc)
    metric = session.task.metric
    summary = {
        "out": args.out,
        "sparsity": result.sparsity,
        **_by_metric(metric, "{name}_{metric}", predicted=result.predicted, measured=result.measured),
        "removed_params": result.removed_params,
        "removed_macs": result.removed_macs,
        "rounds": result.rounds,
        "baselines_at_same_size": result.baselines,
    }
    if _printed_as_json(args, summary):
        return 0
    print(f"wrote {args.out}")
    measured = metric.format(result.measured)
    if result.predicted is None:
        print(f"{metric.key} measured {measured} (OWL allocation, verified)")
    else:
        rounds = f"{result.rounds} verification round(s)"
        print(f"{metric.key} predicted {metric.format(result.predicted)}, measured {measured} ({rounds})")
    print(
        f"removed  {100 * result.removed_params:.1f}% of parameters, {100 * result.removed_macs:.1f}% of MACs"
    )
    for name, value in result.baselines.items():
        print(f"  {name} at the same parameter count: {metric.format(value)}")
    _print_table(("layer", "sparsity"), [(n, f"{100 * s:.0f}%") for n, s in result.sparsity.items()])
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    config = _train_config(args)
    session, recipe = _recipe_session(args)
    train = train_split(session, args.train_data)
    metric = session.task.metric
    if removes_filters(recipe, session.layers):
        return _finetune_shrunk(args, session, recipe, train, config)
    plan = resolve(recipe, session.layers)
    if isinstance(plan, GlobalPlan):  # a global ranking, turned into the per-layer fractions it gives
        ranked = session.fork()
        ranked.apply_global(plan)
        plan = {n: LayerPlan(s, plan.criterion) for n, s in ranked.layer_sparsity().items()}
    dense = session.report()
    session.apply_layer_plans(plan)
    pruned = session.report()
    points = finetune(session, plan, train, config, args.schedule, args.rounds, progress=_stderr_progress)
    tuned = session.report()
    _save(session, Path(args.out))
    summary = {
        "out": args.out,
        "schedule": args.schedule,
        **_by_metric(
            metric, "{metric}_{name}", dense=dense.score, pruned=pruned.score, finetuned=tuned.score
        ),
        "params_nonzero": tuned.params_nonzero,
        "params_total": tuned.params_total,
        "curve": [p.as_dict(metric) for p in points],
    }
    if _printed_as_json(args, summary):
        return 0
    print(
        f"{metric.key} dense {metric.format(dense.score)}  pruned {metric.format(pruned.score)}  "
        f"fine-tuned {metric.format(tuned.score)}  ({args.schedule}, {config.steps} steps)"
    )
    print(f"params   {tuned.params_nonzero:,} non-zero of {tuned.params_total:,}; wrote {args.out}")
    return 0


def _finetune_shrunk(
    args: argparse.Namespace, session: PruneSession, recipe: Recipe, train: DataSet, config: TrainConfig
) -> int:
    """Filter recipes: remove the filters for real, then train the smaller model (nothing to hold at zero)."""
    applied = apply_and_measure(session, recipe)
    curve = finetune_shrunk(session, applied.model, train, config, progress=_stderr_progress)
    tuned = curve[-1].score
    export_model(applied.model, args.out, session.task.export_formats[0], applied.meta)
    metric = session.task.metric
    summary = {
        "out": args.out,
        "schedule": "oneshot (filters removed)",
        **_by_metric(
            metric, "{metric}_{name}", dense=applied.dense.score, pruned=applied.pruned.score, finetuned=tuned
        ),
        "params_total": applied.params,
        "curve": [p.as_dict(metric) for p in curve],
    }
    if _printed_as_json(args, summary):
        return 0
    print(
        f"{metric.key} dense {metric.format(applied.dense.score)}  filters removed "
        f"{metric.format(applied.pruned.score)}  fine-tuned {metric.format(tuned)}; "
        f"{applied.params:,} parameters; wrote {args.out}"
    )
    return 0


def cmd_snippet(args: argparse.Namespace) -> int:
    session, recipe = _recipe_session(args)
    code = torch_prune_snippet(resolve_for(session, recipe), session.layers)
    if args.out:
        Path(args.out).write_text(code)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(code, end="")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    session, recipe = _recipe_session(args)
    baseline = session.report()
    apply_recipe(session, recipe, _stderr_progress)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html_report(session, baseline, f"pruneviz report: {Path(args.recipe).name}"))
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, self-contained)", file=sys.stderr)
    if args.png:
        problem = write_png(session, baseline, Path(args.png))
        print(problem or f"wrote {args.png}", file=sys.stderr)
    return 0


def cmd_depth(args: argparse.Namespace) -> int:
    session = _session(args)
    calibration = session.calibration()
    influence = block_influence(calibration)
    drop = depth_plan(influence, args.drop)
    save_recipe(
        args.out, structure_document(session.model.spec, session.data.spec, TransformerPlan(drop_blocks=drop))
    )
    if _printed_as_json(args, {"out": args.out, "block_influence": influence, "drop_blocks": list(drop)}):
        return 0
    rows = [(str(i), f"{bi:.4f}", "drop" if i in drop else "") for i, bi in enumerate(influence)]
    _print_table(("block", "influence (1 - cos in/out)", ""), rows)
    print(f"wrote {args.out}: drop blocks {', '.join(map(str, drop))}")
    return 0


def _room(path: str) -> RoomStore:
    """The room at ``path``, which must exist (a typo must not create an empty room)."""
    if not Path(path).is_file():
        raise PrunevizError(f"there is no room store at {path}")
    return RoomStore(path)


def cmd_room_export(args: argparse.Namespace) -> int:
    text = _room(args.db).to_csv()
    Path(args.out).write_text(text)
    print(f"wrote {args.out}: {len(text.splitlines()) - 1} share(s)", file=sys.stderr)
    return 0


def cmd_room_clear(args: argparse.Namespace) -> int:
    print(f"deleted {_room(args.db).clear()} share(s) from {args.db}", file=sys.stderr)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    session, recipe = _recipe_session(args)
    if recipe:
        apply_recipe(session, recipe, _stderr_progress)
    out = side_by_side(session, args.prompt, args.tokens)
    if _printed_as_json(args, {"prompt": out.prompt, "dense": out.dense, "pruned": out.pruned}):
        return 0
    for label, text in (("dense", out.dense), ("pruned", out.pruned)):
        print(f"--- {label} ---\n{out.prompt}{text}\n")
    return 0


def cmd_lottery(args: argparse.Namespace) -> int:
    config = _train_config(args)
    session = _session(args)
    train = train_split(session, args.train_data)
    results = lottery(
        session.working,
        train,
        session.data,
        args.rounds,
        args.rate,
        args.rewind_iter,
        config,
        _stderr_progress,
    ).rounds
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
    out = Path(args.out) if args.out else ASSETS
    for name in (n.strip() for n in args.models.split(",")):
        length = {"steps": args.steps} if name == "gpt" else {"epochs": args.epochs}
        print(train(name, out, log=lambda s: print(s, file=sys.stderr), **length))
    return 0


def _by_metric(metric: Metric, pattern: str, **values: float) -> dict[str, float]:
    """JSON keys named after the task's metric: ``pattern`` "{metric}_{name}" gives accuracy_dense."""
    return {pattern.format(metric=metric.key, name=name): v for name, v in values.items()}


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
