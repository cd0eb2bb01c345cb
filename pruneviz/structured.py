"""Structured pruning: choose whole filters/channels and really remove them, with Torch-Pruning.

Torch-Pruning's dependency graph finds the layers coupled to a channel (BatchNorm, residual adds,
concatenations, depthwise convs, the next layer's inputs). A decision is kept as its *pruning history*
(root layer, channel indices): it replays on a fresh copy of the architecture (:func:`shrink`, and on
reload of a saved model), and it also yields the exact parameter entries that disappear, so a masked
*preview* on the working copy (:func:`preview`) computes the same logits as the shrunk model and
predicts its parameter and MAC counts exactly.

Groups coupled through LayerNorm/GroupNorm or attention are left intact: removing a channel there
changes normalisation statistics, which zeroing cannot preview (for ViTs this keeps the MLP widths
prunable and the embedding width fixed).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from pruneviz.errors import PrunevizError
from pruneviz.layers import LayerInfo
from pruneviz.masks import check_sparsity
from pruneviz.registry import Registry

History = list[tuple[str, bool, list[int]]]

STRUCTURED_CRITERIA: Registry[Callable[[], tp.importance.Importance]] = Registry("structured criterion")
STRUCTURED_CRITERIA.register("l1")(lambda: tp.importance.GroupMagnitudeImportance(p=1))
STRUCTURED_CRITERIA.register("l2")(lambda: tp.importance.GroupMagnitudeImportance(p=2))
STRUCTURED_CRITERIA.register("taylor")(lambda: tp.importance.GroupTaylorImportance())
STRUCTURED_CRITERIA.register("bn_scale")(lambda: tp.importance.BNScaleImportance())
STRUCTURED_CRITERIA.register("fpgm")(lambda: tp.importance.FPGMImportance())
STRUCTURED_CRITERIA.register("random")(lambda: tp.importance.RandomImportance())

_UNPREVIEWABLE = (nn.LayerNorm, nn.GroupNorm, nn.MultiheadAttention)


@dataclass(frozen=True)
class StructuredPlan:
    """What to remove: per-layer filter fractions (0..1) or one global fraction, a criterion,
    channel counts rounded to multiples of ``round_to``, and layers that are never touched."""

    ratios: dict[str, float] = field(default_factory=dict)
    global_ratio: float | None = None
    criterion: str = "l1"
    round_to: int | None = None
    pinned: tuple[str, ...] = ()


@dataclass
class Removal:
    """A structural decision: the Torch-Pruning history that replays it, and for every parameter the
    bool mask of entries that disappear (True = removed)."""

    history: History
    removed: dict[str, torch.Tensor]
    skipped: list[str] = field(default_factory=list)

    @property
    def removed_params(self) -> int:
        return sum(int(m.sum()) for m in self.removed.values())


def classifier_name(model: nn.Module, example: torch.Tensor) -> str | None:
    """The last Conv/Linear whose output width equals the model's number of outputs (pinned by default)."""
    with torch.no_grad():
        outputs = model(example).shape[-1]
    found = None
    for name, m in model.named_modules():
        if (isinstance(m, nn.Linear) and m.out_features == outputs) or (
            isinstance(m, nn.Conv2d) and m.out_channels == outputs
        ):
            found = name
    return found


def _dependency_graph(model: nn.Module, example: torch.Tensor) -> tp.DependencyGraph:
    try:
        with warnings.catch_warnings():  # e.g. ViT's class token: its group is skipped anyway
            warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
            return tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
    except Exception as err:  # noqa: BLE001 - tracing failures come in many types
        raise PrunevizError(f"Torch-Pruning cannot trace this model: {type(err).__name__}: {err}") from None


def plan_removal(
    model: nn.Module,
    example: torch.Tensor,
    plan: StructuredPlan,
    calibration: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Removal:
    """Choose the channels to remove (nothing is modified: the work happens on a private copy)."""
    check_plan(plan)
    work = copy.deepcopy(model).eval()
    modules = dict(work.named_modules())
    pinned = set(plan.pinned)
    default_pin = classifier_name(work, example)
    if default_pin:
        pinned.add(default_pin)
    for name in (*plan.ratios, *plan.pinned):
        if name not in modules:
            raise PrunevizError(f"unknown layer '{name}' (see `pruneviz info` for the layers)")
    if plan.criterion == "taylor":
        _accumulate_gradients(work, calibration)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
            pruner = tp.pruner.BasePruner(
                work,
                example,
                importance=STRUCTURED_CRITERIA.get(plan.criterion)(),
                global_pruning=plan.global_ratio is not None,
                pruning_ratio=plan.global_ratio or 0.0,
                pruning_ratio_dict={modules[n]: r for n, r in plan.ratios.items() if n not in pinned} or None,
                ignored_layers=[modules[n] for n in pinned],
                round_to=plan.round_to,
            )
            groups = list(pruner.step(interactive=True))
    except PrunevizError:
        raise
    except Exception as err:  # noqa: BLE001 - Torch-Pruning raises many types
        raise PrunevizError(
            f"Torch-Pruning cannot plan this model: {type(err).__name__}: {_first_line(err)}"
        ) from None
    names = {m: n for n, m in work.named_modules()}
    history: History = []
    skipped: list[str] = []
    for group in groups:
        root = names[group[0].dep.target.module]
        blocker = next(
            (names[dep.target.module] for dep, _ in group if isinstance(dep.target.module, _UNPREVIEWABLE)),
            None,
        )
        if blocker is not None:
            skipped.append(f"{root}: coupled to {type(modules[blocker]).__name__} '{blocker}'")
            continue
        idxs = sorted(int(i) for i in tp._helpers.to_plain_idxs(group[0].idxs))
        history.append((root, True, idxs))
    return Removal(history, removed_entries(pruner.DG, history), skipped)


def check_plan(plan: StructuredPlan) -> None:
    STRUCTURED_CRITERIA.get(plan.criterion)
    for name, ratio in plan.ratios.items():
        try:
            check_sparsity(ratio)
        except PrunevizError as err:
            raise PrunevizError(f"layer '{name}': {err}") from None
    if plan.global_ratio is not None:
        check_sparsity(plan.global_ratio)
    if plan.round_to is not None and plan.round_to < 1:
        raise PrunevizError(f"round_to must be a positive channel count, got {plan.round_to}")


def _accumulate_gradients(model: nn.Module, calibration: tuple[torch.Tensor, torch.Tensor] | None) -> None:
    """Fill ``.grad`` (on the private copy) for Taylor importance: mean loss over calibration batches."""
    if calibration is None:
        raise PrunevizError("the taylor criterion needs labelled calibration data")
    x, y = calibration
    model.zero_grad()
    with torch.enable_grad():
        for xb, yb in zip(x.split(64), y.split(64)):
            F.cross_entropy(model(xb), yb).backward()


def removed_entries(dg: tp.DependencyGraph, history: History) -> dict[str, torch.Tensor]:
    """For each parameter, which entries the history deletes (via each group's coupled layers), read
    from the dependency graph of an unpruned model (the planner's own: no second trace needed)."""
    modules = dict(dg.model.named_modules())
    names = {m: n for n, m in modules.items()}
    removed: dict[str, torch.Tensor] = {}

    def mark(module_name: str, param: str, index: tuple) -> None:
        p = getattr(modules[module_name], param, None)
        if isinstance(p, torch.Tensor):
            key = f"{module_name}.{param}" if module_name else param
            mask = removed.setdefault(key, torch.zeros(p.shape, dtype=torch.bool))
            mask[index] = True

    for root, _, idxs in history:
        module = modules[root]
        group = dg.get_pruning_group(module, dg.get_pruner_of_module(module).prune_out_channels, idxs)
        for dep, dep_idxs in group:
            target = dep.target.module
            if not isinstance(target, nn.Module) or target not in names:
                continue
            name, plain = names[target], sorted(int(i) for i in tp._helpers.to_plain_idxs(dep_idxs))
            out = dg.is_out_channel_pruning_fn(dep.handler)
            depthwise = isinstance(target, nn.Conv2d) and target.groups == target.in_channels > 1
            if out or depthwise:
                dim = 1 if isinstance(target, nn.ConvTranspose2d) else 0
                for param in ("weight", "bias"):
                    p = getattr(target, param, None)
                    if isinstance(p, torch.Tensor) and p.dim() > dim:
                        mark(name, param, (slice(None),) * dim + (plain,))
            elif isinstance(target, nn.Conv2d | nn.Linear | nn.Conv1d):
                mark(name, "weight", (slice(None), plain))
    return removed


def preview(model: nn.Module, removal: Removal) -> None:
    """Zero, in place, every parameter entry the removal deletes: same logits as :func:`shrink`."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in removal.removed.items():
            params[name][mask.to(params[name].device)] = 0


def shrink(model: nn.Module, example: torch.Tensor, history: History) -> nn.Module:
    """A physically smaller copy of ``model`` with the history's channels removed.

    The result is run once on ``example``; if Torch-Pruning produced a model that no longer runs, the
    error names the first layer whose removal breaks it (so the user can pin it).
    """
    work = _replay(model, example, history)
    try:
        with torch.no_grad():
            work(example)
    except Exception as err:  # noqa: BLE001 - any failure means the surgery was wrong
        culprit = _first_breaking(model, example, history)
        raise PrunevizError(
            f"Torch-Pruning cannot remove channels of '{culprit}' in this model: the result fails "
            f"({_first_line(err)}); pin that layer"
        ) from None
    return work


def _replay(model: nn.Module, example: torch.Tensor, history: History) -> nn.Module:
    work = copy.deepcopy(model).eval()
    dg = _dependency_graph(work, example)
    modules = dict(work.named_modules())
    for root, is_out, idxs in history:
        try:
            pruner = dg.get_pruner_of_module(modules[root])
            fn = pruner.prune_out_channels if is_out else pruner.prune_in_channels
            dg.get_pruning_group(modules[root], fn, list(idxs)).prune(record_history=False)
        except Exception as err:  # noqa: BLE001 - Torch-Pruning raises many types
            raise PrunevizError(
                f"Torch-Pruning cannot remove channels of '{root}': {_first_line(err)}"
            ) from None
    return work


def _first_breaking(model: nn.Module, example: torch.Tensor, history: History) -> str:
    """The root layer of the first history entry after which the model stops running."""
    for k in range(1, len(history) + 1):
        try:
            with torch.no_grad():
                _replay(model, example, history[:k])(example)
        except Exception:  # noqa: BLE001
            return history[k - 1][0]
    return history[-1][0]


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def predicted_counts(
    params_total: int, macs_dense: int, layers: list[LayerInfo], removal: Removal
) -> tuple[int, int]:
    """Parameters and MACs the shrunk model will have, from the preview alone.

    A Conv/Linear layer's MACs are (output positions) x (weight entries), so they shrink exactly in
    proportion to the weight entries removed.
    """
    params = params_total - removal.removed_params
    macs = macs_dense
    for layer in layers:
        mask = removal.removed.get(f"{layer.name}.weight")
        if mask is not None and layer.macs:
            macs -= layer.macs * int(mask.sum()) // mask.numel()
    return params, macs


def coupled_layers(model: nn.Module, example: torch.Tensor, layer: str) -> list[tuple[str, str, str]]:
    """The layers that must shrink with ``layer``'s output channels: (name, type, "out"|"in")."""
    work = copy.deepcopy(model).eval()
    dg = _dependency_graph(work, example)
    modules = dict(work.named_modules())
    if layer not in modules:
        raise PrunevizError(f"unknown layer '{layer}'")
    module = modules[layer]
    names = {m: n for n, m in modules.items()}
    group = dg.get_pruning_group(module, dg.get_pruner_of_module(module).prune_out_channels, [0])
    seen, out = set(), []
    for dep, _ in group:
        target = dep.target.module
        if isinstance(target, nn.Module) and target in names and names[target] not in seen:
            seen.add(names[target])
            kind = "out" if dg.is_out_channel_pruning_fn(dep.handler) else "in"
            out.append((names[target], type(target).__name__, kind))
    return out
