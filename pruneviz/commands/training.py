"""``finetune``, ``lottery`` and ``train-demo``: training with masks held, tickets, the demo weights."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from pruneviz.commands.common import (
    by_metric,
    print_table,
    printed_as_json,
    recipe_session,
    save_model,
    session_of,
    stderr_progress,
    train_config,
)
from pruneviz.io.data import DataSet
from pruneviz.io.demo import ASSETS
from pruneviz.io.formats import export_model
from pruneviz.workflows.apply import apply_and_measure
from pruneviz.workflows.demo_training import train
from pruneviz.workflows.lottery import lottery
from pruneviz.workflows.lottery import to_csv as lottery_csv
from pruneviz.workflows.recipe import (
    Recipe,
    removes_filters,
    resolve,
)
from pruneviz.workflows.recovery import TrainConfig, finetune, finetune_shrunk, train_split
from pruneviz.workflows.session import GlobalPlan, LayerPlan, PruneSession


def cmd_finetune(args: argparse.Namespace) -> int:
    config = train_config(args)
    session, recipe = recipe_session(args)
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
    points = finetune(session, plan, train, config, args.schedule, args.rounds, progress=stderr_progress)
    tuned = session.report()
    save_model(session, Path(args.out))
    summary = {
        "out": args.out,
        "schedule": args.schedule,
        **by_metric(metric, "{metric}_{name}", dense=dense.score, pruned=pruned.score, finetuned=tuned.score),
        "params_nonzero": tuned.params_nonzero,
        "params_total": tuned.params_total,
        "curve": [p.as_dict(metric) for p in points],
    }
    if printed_as_json(args, summary):
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
    curve = finetune_shrunk(session, applied.model, train, config, progress=stderr_progress)
    tuned = curve[-1].score
    export_model(applied.model, args.out, session.task.export_formats[0], applied.meta)
    metric = session.task.metric
    summary = {
        "out": args.out,
        "schedule": "oneshot (filters removed)",
        **by_metric(
            metric, "{metric}_{name}", dense=applied.dense.score, pruned=applied.pruned.score, finetuned=tuned
        ),
        "params_total": applied.params,
        "curve": [p.as_dict(metric) for p in curve],
    }
    if printed_as_json(args, summary):
        return 0
    print(
        f"{metric.key} dense {metric.format(applied.dense.score)}  filters removed "
        f"{metric.format(applied.pruned.score)}  fine-tuned {metric.format(tuned)}; "
        f"{applied.params:,} parameters; wrote {args.out}"
    )
    return 0


def cmd_lottery(args: argparse.Namespace) -> int:
    config = train_config(args)
    session = session_of(args)
    train = train_split(session, args.train_data)
    results = lottery(
        session.working,
        train,
        session.data,
        args.rounds,
        args.rate,
        args.rewind_iter,
        config,
        stderr_progress,
    ).rounds
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(lottery_csv(results))
    if printed_as_json(args, [asdict(r) for r in results]):
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
    print_table(("round", "remaining", "ticket acc", "stop iter", "control acc", "stop iter"), rows)
    return 0


def cmd_train_demo(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else ASSETS
    for name in (n.strip() for n in args.models.split(",")):
        length = {"steps": args.steps} if name == "gpt" else {"epochs": args.epochs}
        print(train(name, out, log=lambda s: print(s, file=sys.stderr), **length))
    return 0
