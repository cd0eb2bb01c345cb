"""The ``pruneviz`` command line: everything the dashboard does, headless, for scripts and pipelines.

Errors from any command are one line on stderr and exit status 2 (``--debug`` shows the traceback).

This module is the parser only, and imports nothing heavy: ``pruneviz --help`` and argument errors
answer at once. The command that runs (a module of :mod:`pruneviz.commands`, which imports torch and
the engine) is loaded by name once the arguments parse, and the engine's registries when a choice among
them is checked or listed (:class:`Registered`).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Iterator, Sequence
from importlib import import_module

from pruneviz.core.errors import PrunevizError

COMMANDS = "pruneviz.commands"  # the package whose modules the parser loads by name
EXIT_ERROR = 2


class Registered:
    """The names an engine registry offers (``pruneviz.commands.choices.CHOICES[kind]``), read when argparse
    first checks a value against them or lists them in ``--help``, not when the parser is built."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def _names(self) -> list[str]:
        return list(import_module(f"{COMMANDS}.choices").CHOICES[self.kind]())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


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
        help="model spec: demo:cnn|mlp|resnet|vit|gpt, torchvision:NAME, timm:NAME[:FILE], hf:PATH, "
        "file:PATH, python:MODULE:FUNCTION",
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
        "--allow-download",
        action="store_true",
        help="hf: and timm: (with --weights DEFAULT): models may come from the Hugging Face hub",
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
    info.set_defaults(run="inspect:cmd_info")

    ev = sub.add_parser("evaluate", parents=[common], help="accuracy, parameters, MACs and size")
    _model_args(ev, required=False)
    _recipe_arg(ev, "YAML/JSON recipe to apply before evaluating")
    ev.add_argument("--save", help="write the pruned model to this file (loads back as file:PATH)")
    ev.add_argument(
        "--progress",
        action="store_true",
        help="print the metric on stderr as the samples come in (a shuffled order, with its 95%% interval)",
    )
    ev.set_defaults(run="inspect:cmd_evaluate")

    ap = sub.add_parser("apply", parents=[common], help="prune (filters for real) and export, verified")
    _model_args(ap, required=False)
    _recipe_arg(ap, "recipe with granularity: filter layers (or a filter global)", required=True)
    _out_arg(ap, "file to write the shrunk model to")
    ap.add_argument(
        "--format", default="state_dict", choices=Registered("formats"), metavar="FORMAT",
        help="%(choices)s (default %(default)s)",
    )  # fmt: skip
    ap.set_defaults(run="export:cmd_apply")

    la = sub.add_parser("latency", parents=[common], help="measured latency of the dense and pruned model")
    _model_args(la, required=False)
    _recipe_arg(la, "recipe to apply (filter layers are removed, others masked)")
    la.add_argument("--batch-sizes", default="1,64", help="comma-separated batch sizes (default 1,64)")
    la.add_argument("--repeats", type=int, default=10, help="timed runs per measurement (median)")
    la.add_argument("--windows", type=int, default=8, help="language models: windows prefilled at once")
    la.add_argument("--decode-tokens", type=int, default=64, help="language models: tokens decoded (batch 1)")
    la.set_defaults(run="inspect:cmd_latency")

    hw = sub.add_parser(
        "hardware",
        parents=[common],
        help="each layer timed on this device's kernels (dense, CSR/BSR, 2:4, shrunk, int8), with break-even",
    )
    _model_args(hw, required=False)
    _recipe_arg(hw, "recipe whose masks are timed (default: the dense model)")
    hw.add_argument("--batch", type=int, default=16, help="the larger batch size timed beside 1 (default 16)")
    hw.add_argument("--kernels", help="comma-separated kernels to time (default: all the device offers)")
    hw.add_argument("--repeats", type=int, default=10, help="timed runs per measurement (median)")
    hw.add_argument("--no-break-even", action="store_true", help="skip the break-even sparsity search")
    hw.add_argument("--fresh", action="store_true", help="measure again instead of reading the timing cache")
    hw.set_defaults(run="hardware:cmd_hardware")

    se = sub.add_parser(
        "sensitivity", parents=[common], help="the metric per layer pruned alone, level by level"
    )
    _model_args(se)
    _sweep_args(se)
    _out_arg(se, "results file: .csv (layer,sparsity,<metric>,loss,criterion,granularity) or .json")
    se.add_argument("--naive", action="store_true", help="deep-copy + full pass per point (for comparison)")
    se.add_argument(
        "--resume", action="store_true", help="keep the points already in --out, measure the rest"
    )
    se.set_defaults(run="sweeps:cmd_sensitivity")

    cc = sub.add_parser(
        "compare-criteria",
        parents=[common],
        help="per layer, how far criteria prune the same weights (Jaccard) and what each costs alone",
    )
    _model_args(cc)
    cc.add_argument(
        "--criteria", default="magnitude,wanda,ria,sparsegpt",
        help="comma-separated criteria, two or more (default %(default)s)",
    )  # fmt: skip
    cc.add_argument("--sparsity", type=float, default=0.5, help="every layer's sparsity (default 0.5)")
    cc.add_argument(
        "--granularity", default="unstructured", choices=Registered("granularities"), metavar="KIND",
        help="%(choices)s (default %(default)s)",
    )  # fmt: skip
    _out_arg(cc, "also write the table (.csv or .json) or the heatmap (.html)", required=False)
    cc.set_defaults(run="sweeps:cmd_compare_criteria")

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
        choices=Registered("automatic allocations"),
        default="sensitivity",
        metavar="ALLOCATION",
        help="%(choices)s (default %(default)s): sensitivity is greedy over measured curves; owl is "
        "outlier-weighted (language models, --target-params, criterion wanda by default)",
    )
    _out_arg(au, "recipe file to write (.yaml or .json)")
    au.set_defaults(run="sweeps:cmd_auto")

    ft = sub.add_parser(
        "finetune", parents=[common], help="prune on a schedule and fine-tune with masks held"
    )
    _model_args(ft, required=False)
    _recipe_arg(ft, "the target pruning (per-layer plans or global)", required=True)
    ft.add_argument(
        "--schedule", default="oneshot", choices=Registered("schedules"), metavar="SCHEDULE",
        help="%(choices)s (default %(default)s)",
    )  # fmt: skip
    ft.add_argument("--rounds", type=int, default=3, help="pruning steps for iterative / gradual")
    _train_args(ft, steps=300)
    _out_arg(ft, "file to write the fine-tuned model to")
    ft.set_defaults(run="training:cmd_finetune")

    lt = sub.add_parser("lottery", parents=[common], help="iterative magnitude pruning with rewinding")
    _model_args(lt)
    lt.add_argument("--rounds", type=int, default=6)
    lt.add_argument("--rate", type=float, default=0.2, help="fraction of remaining weights pruned per round")
    lt.add_argument("--rewind-iter", type=int, default=0, help="rewind to this training step (0 = init)")
    _train_args(lt, steps=400)
    _out_arg(lt, "CSV of rounds")
    lt.set_defaults(run="training:cmd_lottery")

    sn = sub.add_parser(
        "snippet", parents=[common], help="Python code applying a recipe with torch prune only"
    )
    _model_args(sn, required=False)
    _recipe_arg(sn, "the recipe to write as code", required=True)
    _out_arg(sn, "file to write (default: stdout)", required=False)
    sn.set_defaults(run="export:cmd_snippet")

    rp = sub.add_parser("report", parents=[common], help="a self-contained HTML report of a recipe")
    _model_args(rp, required=False)
    _recipe_arg(rp, "the recipe to report on", required=True)
    _out_arg(rp, "report.html")
    rp.add_argument("--png", help="also write the main chart as PNG (needs kaleido)")
    rp.set_defaults(run="export:cmd_report")

    de = sub.add_parser("depth", parents=[common], help="blocks of a transformer to drop, by Block Influence")
    _model_args(de)
    de.add_argument("--drop", type=int, required=True, help="how many blocks to drop")
    _out_arg(de, "recipe file to write (drop_blocks: [...])")
    de.set_defaults(run="sweeps:cmd_depth")

    ro = sub.add_parser("room", parents=[common], help="the workshop room's store: export or clear it")
    room = ro.add_subparsers(dest="action", required=True, metavar="ACTION")
    rx = room.add_parser("export", parents=[common], help="every share (hidden ones marked) as CSV")
    _room_db_arg(rx)
    _out_arg(rx, "CSV file to write")
    rx.set_defaults(run="room:cmd_room_export")
    rc = room.add_parser("clear", parents=[common], help="delete every share (the room's model stays)")
    _room_db_arg(rc)
    rc.set_defaults(run="room:cmd_room_clear")

    ge = sub.add_parser(
        "generate", parents=[common], help="continue a prompt with the dense and the pruned language model"
    )
    _model_args(ge, required=False)
    _recipe_arg(ge, "recipe to prune with (default: the dense model twice)")
    ge.add_argument("--prompt", required=True, help="text to continue")
    ge.add_argument("--tokens", type=int, default=120, help="new tokens (greedy decoding; default 120)")
    ge.set_defaults(run="inspect:cmd_generate")

    td = sub.add_parser("train-demo", parents=[_common(debug_only=True)], help="retrain the demo weights")
    td.add_argument("--out", default=None, help="directory to write demo_NAME.pt into (default: assets/)")
    td.add_argument(
        "--models", default="cnn,mlp,resnet,vit", help="comma-separated demo names (default %(default)s; gpt)"
    )
    td.add_argument(
        "--epochs", type=int, default=None, help="classifiers: epochs over the digits (30; vit 100)"
    )
    td.add_argument("--steps", type=int, default=1200, help="gpt: AdamW steps of 32 windows of 128 tokens")
    td.set_defaults(run="training:cmd_train_demo")
    return parser


def _recipe_arg(p: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    p.add_argument("--recipe", required=required, help=help)


def _out_arg(p: argparse.ArgumentParser, help: str, required: bool = True) -> None:
    p.add_argument("--out", required=required, help=help)


def _room_db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="the room's SQLite file (the server's PRUNEVIZ_ROOM_DB)")


def _train_args(p: argparse.ArgumentParser, steps: int) -> None:
    p.add_argument("--steps", type=int, default=steps, help=f"optimiser steps (default {steps})")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--distill", action="store_true", help="also learn from the dense model's outputs (KL)")
    p.add_argument("--temperature", type=float, default=2.0, help="distillation temperature (default 2)")
    p.add_argument("--alpha", type=float, default=0.5, help="distillation's share of the loss (default 0.5)")
    p.add_argument("--train-data", help="training split spec (default: the data's own training split)")


def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--levels", help="comma-separated sparsities (default 0,0.05,...,0.95)")
    p.add_argument(
        "--granularity", default="unstructured", choices=Registered("granularities"), metavar="KIND",
        help="%(choices)s (default %(default)s)",
    )  # fmt: skip
    p.add_argument("--criterion", help="default: the granularity's (magnitude; l1 for filters)")
    p.add_argument(
        "--adaptive", action="store_true",
        help="measure per layer only what finds the largest sparsity within --drop: the ends, the middle "
        "and a bisection of the crossing (about a quarter of the points)",
    )  # fmt: skip
    p.add_argument(
        "--drop", type=float,
        help="tolerated worsening of the metric, in its units (accuracy: 0.01 is one point; perplexity: "
        "an absolute rise); default 0.01 for accuracy, 0.1 for perplexity (auto: --max-drop if given)",
    )  # fmt: skip
    p.add_argument(
        "--memory-budget-mb", type=int,
        help="activation cache for incremental evaluation (MiB; default: pruneviz's, 2048)",
    )  # fmt: skip
    p.add_argument(
        "--executor", choices=["local", "ray"], default="local",
        help="local: in this process (default); ray: a pool of Ray actors (a local runtime, or the cluster "
        "at --ray-address / RAY_ADDRESS)",
    )  # fmt: skip
    p.add_argument("--ray-address", help="the Ray cluster to join (host:port, ray://host:port or auto)")
    p.add_argument("--workers", type=int, help="Ray actors (default: one per CPU of the cluster)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        module, command = args.run.split(":")
        return getattr(import_module(f"{COMMANDS}.{module}"), command)(args)
    except KeyboardInterrupt:
        print("pruneviz: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - every failure becomes one line unless --debug
        if debug:
            traceback.print_exc()
        message = str(err) if isinstance(err, PrunevizError) else f"{type(err).__name__}: {err}"
        print(f"pruneviz: error: {' '.join(message.split())}", file=sys.stderr)
        return EXIT_ERROR
