"""What every command shares: the session its arguments name, the sweep they ask for, progress on
stderr, tables and JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pruneviz.core.errors import PrunevizError
from pruneviz.core.evaluate import DEFAULT_BUDGET_BYTES
from pruneviz.io.checkpoint import save_checkpoint
from pruneviz.io.data import DataOptions
from pruneviz.io.gate import Gate
from pruneviz.io.models import ModelOptions
from pruneviz.tasks import Metric
from pruneviz.workflows.distributed import RayExecutor
from pruneviz.workflows.recipe import (
    Recipe,
    check_model,
    load_recipe,
    skipped_by_default,
)
from pruneviz.workflows.recovery import TrainConfig
from pruneviz.workflows.sensitivity import (
    DEFAULT_LEVELS,
    SweepSpec,
)
from pruneviz.workflows.session import PruneSession, open_session, resolve_device


def train_config(args: argparse.Namespace) -> TrainConfig:
    distill = {"distill": args.distill, "temperature": args.temperature, "alpha": args.alpha}
    return TrainConfig(args.steps, args.lr, args.batch_size, args.optimizer, args.seed, **distill)


def sweep_spec(args: argparse.Namespace) -> SweepSpec:
    """The sweep the arguments ask for, checked before any model loads (an adaptive one gets its drop
    from :func:`for_metric` once the model's metric is known)."""
    try:
        levels = tuple(float(v) for v in args.levels.split(",")) if args.levels else DEFAULT_LEVELS
    except ValueError:
        raise PrunevizError(f"--levels must be comma-separated numbers, got '{args.levels}'") from None
    return SweepSpec(levels, args.criterion, args.granularity)


def for_metric(spec: SweepSpec, args: argparse.Namespace, metric: Metric) -> SweepSpec:
    """``spec``, adaptive for ``metric``'s tolerated drop when --adaptive asks for it."""
    return replace(spec, drop=tolerated_drop(args, metric)) if args.adaptive else spec


def tolerated_drop(args: argparse.Namespace, metric: Metric) -> float:
    """--drop, else auto's --max-drop, else one point of accuracy or 0.1 of perplexity."""
    given = args.drop if args.drop is not None else getattr(args, "max_drop", None)
    return given if given is not None else (0.01 if metric.is_fraction else 0.1)


def session_of(args: argparse.Namespace, model: str | None = None, data: str | None = None) -> PruneSession:
    spec = model or args.model
    if not spec:
        raise PrunevizError("name a model (e.g. demo:cnn) or give a recipe that names one")
    gate = gate_of(args)
    device = resolve_device(args.device)
    dtype = args.dtype or ("auto" if device.type == "cuda" else None)  # a GPU runs the checkpoint's dtype
    options = ModelOptions(args.weights, args.arch, args.trust_pickle, args.allow_download, gate, dtype)
    # Only sweeps evaluate the same model again and again (only their parsers have the option): other
    # commands keep no activation cache.
    budget = getattr(args, "memory_budget_mb", 0)
    budget = DEFAULT_BUDGET_BYTES // 2**20 if budget is None else budget
    return open_session(
        spec,
        data or args.data,
        options,
        DataOptions(args.limit, args.context, args.calibration, gate),
        args.device,
        extra_layers=tuple(args.extra_layer),
        memory_budget=budget * 2**20,
    )


def gate_of(args: argparse.Namespace) -> Gate:
    """Typed specs are the user's; what a file names runs code only when the user trusts the file."""
    return Gate(python_in_files=args.trust_pickle)


def recipe_session(args: argparse.Namespace) -> tuple[PruneSession, Recipe | None]:
    """The session the command works on and the recipe it names (layers a ``default`` cannot reach
    are named on stderr)."""
    recipe = load_recipe(args.recipe) if args.recipe else None
    model = args.model or (recipe and recipe.model)
    data = args.data or (recipe and recipe.data)
    for spec, typed in ((model, args.model), (data, args.data)):
        if spec and not typed:  # named by the recipe, a file: it may not run code unless trusted
            gate_of(args).check_spec(spec, named_in=args.recipe)
    session = session_of(args, model, data)
    if recipe is not None:
        check_model(recipe, session.model, args.recipe)
        for name, refusal in skipped_by_default(recipe, session.layers).items():
            print(f"left dense: {name} ({refusal.why})", file=sys.stderr)
    return session, recipe


def executor_of(args: argparse.Namespace) -> RayExecutor | None:
    """The executor --executor names (None: this process)."""
    if args.executor == "local":
        if args.ray_address or args.workers:
            raise PrunevizError("--ray-address and --workers need --executor ray")
        return None
    if args.workers is not None and args.workers < 1:
        raise PrunevizError(f"--workers must be at least 1, got {args.workers}")
    return RayExecutor(args.ray_address, args.workers)


def stderr_progress(fraction: float, message: str) -> None:
    if sys.stderr.isatty():
        print(f"\r[{fraction:6.1%}] {message}".ljust(100), end="", file=sys.stderr, flush=True)


def save_model(session: PruneSession, path: Path) -> None:
    arch = session.model.arch_spec
    if arch is None:
        raise PrunevizError(f"cannot save {session.model.spec}: pruneviz cannot rebuild its architecture")
    save_checkpoint(path, session.working, arch, session.data.spec)
    print(f"saved {path}", file=sys.stderr)


def by_metric(metric: Metric, pattern: str, **values: float) -> dict[str, float]:
    """JSON keys named after the task's metric: ``pattern`` "{metric}_{name}" gives accuracy_dense."""
    return {pattern.format(metric=metric.key, name=name): v for name, v in values.items()}


def printed_as_json(args: argparse.Namespace, data: Any) -> bool:
    """With ``--json``, print ``data`` as the command's only output and return True (the command is
    done); otherwise print nothing and return False (it goes on to print for people)."""
    if args.json:
        print(json.dumps(data, indent=2))
    return bool(args.json)


def print_table(header: Sequence[str], rows: list[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
