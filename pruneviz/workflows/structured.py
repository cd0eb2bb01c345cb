"""Structured pruning: choose whole filters/channels to remove, with Torch-Pruning's criteria.

A plan (per-layer or one global fraction of filters) becomes a :class:`Removal`: the Torch-Pruning
history that rebuilds the smaller model (:func:`pruneviz.core.structure.shrink`) and, per parameter,
the entries that disappear, so a masked preview on the working copy computes the same outputs as the
shrunk model and predicts its parameter and MAC counts exactly.

The classifier (the last layer with one output per class) is always kept whole: removing its outputs
would remove classes. Groups coupled through LayerNorm/GroupNorm or attention are left intact:
removing a channel there changes normalisation statistics, which zeroing cannot preview (for ViTs this
keeps the MLP widths prunable and the embedding width fixed).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch_pruning as tp
from torch import nn

from pruneviz.core.errors import PrunevizError, first_line
from pruneviz.core.importance import Calibration
from pruneviz.core.layers import LayerInfo
from pruneviz.core.masks import check_sparsity
from pruneviz.core.registry import Registry
from pruneviz.core.structure import History, classifier_name, quiet_torch_pruning, removed_entries, shrink

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
    channel counts rounded to multiples of ``round_to``, and layers that are never touched (besides
    the classifier, which always is kept)."""

    ratios: dict[str, float] = field(default_factory=dict)
    global_ratio: float | None = None
    criterion: str = "l1"
    round_to: int | None = None
    pinned: tuple[str, ...] = ()
    removes: ClassVar[str] = "filters"  # in words, for refusals

    @property
    def empty(self) -> bool:
        return not self.global_ratio and not any(self.ratios.values())

    def describe(self) -> dict:
        """The recipe keys that give this plan back (``structure: {filters: ...}``)."""
        filters = self.global_ratio if self.global_ratio is not None else dict(self.ratios)
        doc: dict = {"structure": {"filters": filters, "criterion": self.criterion}}
        if self.pinned:
            doc["pinned"] = list(self.pinned)
        if self.round_to:
            doc["round_to"] = self.round_to
        return doc


class Removal(ABC):
    """A structural decision, previewed on the session's working copy and built for real. Two kinds:
    :class:`FilterRemoval` (Torch-Pruning's dependency groups) and
    :class:`~pruneviz.workflows.transformer.TransformerRemoval` (a transformer's heads, MLP channels and
    blocks). ``removed``: per parameter, the entries the preview zeroes (True = removed), so the preview
    computes the smaller model's outputs; ``skipped``: coupled groups kept whole, for people."""

    removed: dict[str, torch.Tensor]
    skipped: list[str]

    @property
    def gone(self) -> dict[str, torch.Tensor]:
        """The entries the built model really lacks (all of ``removed``, unless it keeps some as zeros)."""
        return self.removed

    @property
    def empty(self) -> bool:
        """Whether nothing is removed (a plan that asked for nothing, or selected nothing)."""
        return not any(bool(m.any()) for m in self.removed.values())

    @property
    def removed_params(self) -> int:
        return sum(int(m.sum()) for m in self.gone.values())

    def predict(self, params_total: int, macs_dense: int, layers: list[LayerInfo]) -> tuple[int, int]:
        """Parameters and MACs per sample the built model will have, from the preview alone.

        A Conv/Linear layer's MACs are (output positions) x (weight entries), so they shrink exactly in
        proportion to the weight entries removed.
        """
        macs = macs_dense
        for layer in layers:
            mask = self.gone.get(f"{layer.name}.weight")
            if mask is not None and layer.macs:
                macs -= layer.macs * int(mask.sum()) // mask.numel()
        return params_total - self.removed_params, macs

    @abstractmethod
    def build(self, model: nn.Module, example: torch.Tensor) -> nn.Module:
        """The physically smaller copy of ``model`` (the dense model this removal was planned on)."""

    @abstractmethod
    def describe(self) -> dict:
        """The recipe keys (``structure``, ``drop_blocks``, ``pinned``, ``round_to``) that give this
        removal back: what the session's recipe says while it is previewed."""

    @property
    @abstractmethod
    def replay(self) -> History | None:
        """The history a checkpoint replays on the architecture to rebuild the smaller model, or None
        when the smaller model carries its own architecture (a transformer's patched config)."""

    def filters(self, layers: list[LayerInfo]) -> list[tuple[str, int, int]]:
        """(layer, output filters before, after) for every layer: a filter goes when all of it goes."""
        out = []
        for layer in layers:
            removed = self.removed.get(f"{layer.name}.weight")
            gone = int(removed.flatten(1).all(1).sum()) if removed is not None else 0
            out.append((layer.name, layer.shape[0], layer.shape[0] - gone))
        return out


@dataclass
class FilterRemoval(Removal):
    """Filters (channels) removed with Torch-Pruning: the ``history`` of (root layer, out-channels?,
    indices) that rebuilds the smaller model from the architecture, and the ``plan`` that chose it."""

    plan: StructuredPlan
    history: History
    removed: dict[str, torch.Tensor]
    skipped: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.history and super().empty

    def build(self, model: nn.Module, example: torch.Tensor) -> nn.Module:
        return shrink(model, example, self.history)

    def describe(self) -> dict:
        return self.plan.describe()

    @property
    def replay(self) -> History:
        return self.history


def plan_removal(
    model: nn.Module,
    example: torch.Tensor,
    plan: StructuredPlan,
    calibration: Calibration | None = None,
) -> Removal:
    """Choose the channels to remove (nothing is modified: the work happens on a private copy).
    ``calibration`` supplies the data and loss the taylor criterion needs."""
    check_plan(plan)
    known = {name for name, _ in model.named_modules()}
    for name in (*plan.ratios, *plan.pinned):
        if name not in known:
            raise PrunevizError(f"unknown layer '{name}' (see `pruneviz info` for the layers)")
    if plan.empty:
        return FilterRemoval(plan, [], {})  # nothing asked: no need to trace the model
    work = copy.deepcopy(model).eval()
    modules = dict(work.named_modules())
    pinned = set(plan.pinned)
    head = classifier_name(work, example)
    if head:
        pinned.add(head)
    if plan.criterion == "taylor":
        _accumulate_gradients(work, calibration)
    try:
        with quiet_torch_pruning():
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
            f"Torch-Pruning cannot plan this model: {type(err).__name__}: {first_line(err)}"
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
    return FilterRemoval(plan, history, removed_entries(pruner.DG, history), skipped)


def refuse_unknown_attention(model: nn.Module, spec: str) -> None:
    """Refuse, in one line and before any graph is built, a filter plan on a model with attention in
    blocks pruneviz does not know: its filter groups would run through the residual stream and the
    attention, and Torch-Pruning's dependency graph over them can grow without bound (Swin's window
    reshapes took a 24 GiB machine). Masks are the way there. (A model whose blocks pruneviz knows is
    refused before, by its kind of structure.)"""
    attention = next(((n, m) for n, m in model.named_modules() if _mixes_tokens(m)), None)
    if attention is not None:
        name, module = attention
        raise PrunevizError(
            f"{spec} has attention ({type(module).__name__} '{name}') in blocks pruneviz does not know: "
            "filters are not removed through it; prune it with masks (granularity unstructured or N:M)"
        )


def _mixes_tokens(module: nn.Module) -> bool:
    """Whether ``module`` looks like attention across tokens: its class is an ``…Attention``, or an
    ``…Attn``/``…Attention…`` with a head count (timm's ``BottleneckAttn``, ``HaloAttn``: heads split the
    channels). Channel attention without heads (squeeze-and-excitation, CBAM's ``ChannelAttn``, ResNeSt's
    ``SplitAttn``) is a gate Torch-Pruning follows, not this."""
    name = type(module).__name__.lower()
    heads = isinstance(getattr(module, "num_heads", None), int)
    return name.endswith("attention") or (heads and ("attn" in name or "attention" in name))


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


def _accumulate_gradients(model: nn.Module, calibration: Calibration | None) -> None:
    """Fill ``.grad`` (on the private copy) for Taylor importance: the task's loss over calibration
    batches."""
    if calibration is None:
        raise PrunevizError("the taylor criterion needs labelled calibration data")
    model.zero_grad()
    with torch.enable_grad():
        for xb, yb in calibration.batches():
            calibration.loss(model, xb, yb).backward()
