"""Discover the layers a user can prune, with the numbers that help choose how much to prune each.

Prunable by default: Conv1d/2d/3d and Linear, subclasses included (weights of other module types can be
added by name), except a weight shared with another module (a language model's head tied to its input
embeddings: masking one would mask both). MACs per layer come from ``torch.utils.flop_counter`` on one
sample (MACs = FLOPs / 2).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from pruneviz.core.errors import PrunevizError

PRUNABLE_TYPES = ("Conv1d", "Conv2d", "Conv3d", "Linear")
_PRUNABLE_CLASSES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def type_name(module: nn.Module) -> str:
    """The module's class name; TorchScript modules keep theirs in ``original_name``."""
    return getattr(module, "original_name", None) or type(module).__name__


@dataclass(frozen=True)
class LayerInfo:
    """One prunable layer: qualified name (from ``named_modules()``), module type, weight shape,
    weight parameter count, multiply-accumulates per sample and their share of the model's (0..1), and
    whether it is a Linear (subclasses too): a weight of (outputs × input features), what the methods
    that read a layer's inputs feature by feature and rewrite or refine rows (SparseGPT, DSnoT) take;
    and whether the model calls it as a module, so that hooks can watch it run (its inputs for Wanda,
    its outputs for Captum): ``nn.MultiheadAttention`` reads its ``out_proj`` weight without calling it."""

    name: str
    type: str
    shape: tuple[int, ...]
    params: int
    macs: int
    macs_share: float
    linear: bool
    called: bool

    def as_dict(self) -> dict:
        return asdict(self) | {"shape": list(self.shape)}


def prunable_modules(model: nn.Module, extra: tuple[str, ...] = ()) -> dict[str, nn.Module]:
    """Conv/Linear modules with a weight, plus the modules named in ``extra`` (which must have one)."""
    owners: dict[int, int] = {}
    for m in model.modules():  # how many modules hold each weight (TorchScript modules list no params)
        for p in m.parameters(recurse=False):
            owners[id(p)] = owners.get(id(p), 0) + 1
    found = {
        name: m
        for name, m in model.named_modules()
        if (type_name(m) in PRUNABLE_TYPES or isinstance(m, _PRUNABLE_CLASSES))
        and isinstance(getattr(m, "weight", None), torch.Tensor)
        and owners.get(id(m.weight), 1) == 1
    }
    modules = dict(model.named_modules())
    for name in extra:
        if not isinstance(getattr(modules.get(name), "weight", None), torch.Tensor):
            raise PrunevizError(f"'{name}' is not a module with a weight in this model")
        found[name] = modules[name]
    return found


class _ModelTracker:
    """What :class:`FlopCounterMode` asks of its module tracker (``parents``: the qualified names of the
    modules running now, and "Global"), kept with hooks on ``model``'s own modules, for this thread only.
    torch's own tracker hooks every module of the process, so another thread running a copy of the same
    architecture meanwhile would have its modules' names credited with this thread's operations."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.parents, self.thread = model, {"Global"}, threading.get_ident()
        self._handles: list = []

    def __enter__(self) -> _ModelTracker:
        for name, module in self.model.named_modules():
            if name and not isinstance(module, torch.jit.ScriptModule):  # TorchScript runs no hooks
                self._handles.append(module.register_forward_pre_hook(self._enter(name)))
                self._handles.append(module.register_forward_hook(self._leave(name)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()

    def _enter(self, name: str):
        def hook(module, args) -> None:
            if threading.get_ident() == self.thread:
                self.parents.add(name)

        return hook

    def _leave(self, name: str):
        def hook(module, args, output) -> None:
            if threading.get_ident() == self.thread:
                self.parents.discard(name)

        return hook


def module_macs(model: nn.Module, sample: torch.Tensor) -> tuple[int, dict[str, int]]:
    """Total MACs for one forward of ``sample`` (batch of 1) and MACs per qualified module name, counted
    by ``torch.utils.flop_counter`` (MACs = FLOPs / 2)."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _ModelTracker(model)
    # nn.MultiheadAttention uses its out_proj's weight without calling the module: its share of the
    # attention's MACs is rows x in x out, the rows read from the query each attention gets.
    rows: dict[str, int] = {}

    def count_rows(name: str):
        def hook(mod, args, kwargs) -> None:
            query = args[0] if args else kwargs["query"]
            rows[name] = query.numel() // mod.embed_dim

        return hook

    handles = [
        m.register_forward_pre_hook(count_rows(n), with_kwargs=True)
        for n, m in model.named_modules()
        if isinstance(m, nn.MultiheadAttention)
    ]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # its fused kernel has no FLOP formula: counted as 0
    try:
        with counter, torch.inference_mode():
            model(sample)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for handle in handles:
            handle.remove()
    per_module = {key: sum(ops.values()) // 2 for key, ops in counter.get_flop_counts().items()}
    per_module.pop("Global", None)
    modules = dict(model.named_modules())
    for name, n in rows.items():
        out = modules[name].out_proj
        per_module[f"{name}.out_proj"] = n * out.in_features * out.out_features
    return counter.get_total_flops() // 2, per_module


def discover_layers(
    model: nn.Module, example: torch.Tensor, modules: dict[str, nn.Module] | None = None
) -> list[LayerInfo]:
    """``modules`` (default: :func:`prunable_modules`) in definition order, with MACs for one sample like
    ``example`` (a batch of 1)."""
    modules = prunable_modules(model) if modules is None else modules
    with calls_of(modules) as called:  # the pass that counts MACs shows which layers run
        total, per_module = module_macs(model, example)
    return [
        LayerInfo(
            name=name,
            type=type_name(m),
            shape=tuple(m.weight.shape),
            params=m.weight.numel(),
            macs=per_module.get(name, 0),
            macs_share=per_module.get(name, 0) / total if total else 0.0,
            linear=isinstance(m, nn.Linear),
            called=name in called,
        )
        for name, m in modules.items()
    ]


@contextmanager
def calls_of(modules: dict[str, nn.Module]) -> Iterator[set[str]]:
    """The names of ``modules`` the model calls as modules while this is open, filled as they run
    (forward hooks see them; a TorchScript module runs none)."""
    called: set[str] = set()
    handles = [
        m.register_forward_hook(lambda *_, n=n: called.add(n))
        for n, m in modules.items()
        if not isinstance(m, torch.jit.ScriptModule)
    ]
    try:
        yield called
    finally:
        for handle in handles:
            handle.remove()
