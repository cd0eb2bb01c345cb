"""Structural surgery with Torch-Pruning: which parameter entries a channel removal deletes, zeroing
them in place (a preview with the very logits of the smaller model), and the removal itself.

A removal is recorded as a *history* of (root layer, out-channels?, channel indices). Replayed on a
fresh copy of the architecture it rebuilds the smaller model, which is how a saved shrunk model loads.
Torch-Pruning's dependency graph finds every coupled layer (BatchNorm, residual adds, concatenations,
depthwise convs, the next layer's inputs).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch_pruning as tp
from torch import nn

from pruneviz.core.errors import PrunevizError, first_line

History = list[tuple[str, bool, list[int]]]


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


@contextmanager
def quiet_torch_pruning() -> Iterator[None]:
    """Torch-Pruning's warnings that say nothing to a user: parameters outside any layer (ViT's class
    token: its group is skipped anyway) and shape inference giving up on deep reshapes (Swin's windows)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
        warnings.filterwarnings("ignore", message="Maximum recursive depth reached")
        yield


def _dependency_graph(model: nn.Module, example: torch.Tensor) -> tp.DependencyGraph:
    try:
        with quiet_torch_pruning():
            return tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
    except Exception as err:  # noqa: BLE001 - tracing failures come in many types
        raise PrunevizError(f"Torch-Pruning cannot trace this model: {type(err).__name__}: {err}") from None


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
        with quiet_torch_pruning():
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
                groups = getattr(target, "groups", 1)
                if groups > 1:  # a grouped conv keeps, in every group, the columns Torch-Pruning keeps:
                    # the first 1/groups of the kept input channels (its pruning is the same in each group)
                    keep = sorted(set(range(target.in_channels)) - set(plain))
                    kept = set(keep[: len(keep) // groups])
                    plain = [c for c in range(target.in_channels // groups) if c not in kept]
                mark(name, "weight", (slice(None), plain))
    return removed


def preview(model: nn.Module, removed: dict[str, torch.Tensor]) -> None:
    """Zero, in place, every parameter entry the removal deletes: same logits as :func:`shrink`."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in removed.items():
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
            f"({first_line(err)}); pin that layer"
        ) from None
    return work


def _replay(model: nn.Module, example: torch.Tensor, history: History) -> nn.Module:
    work = copy.deepcopy(model).eval()
    modules = dict(work.named_modules())
    dg = None  # traced only when an entry needs Torch-Pruning (heads are cut by :func:`remove_heads`)
    for root, is_out, idxs in history:
        try:
            if (attention := heads_root(modules, root)) is not None:
                remove_heads(attention, heads_of_rows(attention, idxs))
                continue
            dg = dg or _dependency_graph(work, example)
            pruner = dg.get_pruner_of_module(modules[root])
            fn = pruner.prune_out_channels if is_out else pruner.prune_in_channels
            with quiet_torch_pruning():
                dg.get_pruning_group(modules[root], fn, list(idxs)).prune(record_history=False)
        except PrunevizError:
            raise
        except Exception as err:  # noqa: BLE001 - Torch-Pruning raises many types
            raise PrunevizError(
                f"Torch-Pruning cannot remove channels of '{root}': {first_line(err)}"
            ) from None
    return work


def holds_fewer_heads(attention: nn.Module) -> bool:
    """Whether an attention module reads its head count, head size and width from attributes
    (``num_heads``, ``head_dim``, ``attn_dim``: timm's ``Attention`` and ``AttentionRope``), so that it
    still runs with fewer heads of the same size once their weights are gone."""
    return all(isinstance(getattr(attention, a, None), int) for a in ("num_heads", "head_dim", "attn_dim"))


def head_layout(attention: nn.Module, heads: list[int]) -> dict[str, tuple[int, list[int]]]:
    """The entries of an attention's parameters that belong to ``heads``, {parameter name relative to
    the attention: (dimension, indices)}: their rows of the query, key and value projections (each
    third of a fused ``qkv``, or ``q_proj``/``k_proj``/``v_proj``) and of an output gate, biases
    included, and their columns of the output projection ``proj``. The removal cuts exactly these
    (:func:`remove_heads`) and the preview zeroes exactly these, so both give the same outputs."""
    size, width = attention.head_dim, attention.attn_dim
    own = [h * size + j for h in sorted(set(heads)) for j in range(size)]
    rows = {"qkv": [t * width + k for t in range(3) for k in own]} if _linear(attention, "qkv") else {}
    rows |= {p: own for p in ("q_proj", "k_proj", "v_proj", "gate") if _linear(attention, p)}
    entries = {}
    for name, index in rows.items():
        entries[f"{name}.weight"] = (0, index)
        if getattr(attention, name).bias is not None:
            entries[f"{name}.bias"] = (0, index)
    entries["proj.weight"] = (1, own)
    return entries


def _linear(module: nn.Module, name: str) -> bool:
    return isinstance(getattr(module, name, None), nn.Linear)


def heads_root(modules: dict[str, nn.Module], root: str) -> nn.Module | None:
    """The attention whose heads a history entry removes, when its root is that attention's fused
    ``qkv`` or its ``q_proj`` (None: a Torch-Pruning entry)."""
    parent, _, leaf = root.rpartition(".")
    attention = modules.get(parent)
    if leaf in ("qkv", "q_proj") and attention is not None and holds_fewer_heads(attention):
        return attention
    return None


def heads_of_rows(attention: nn.Module, rows: list[int]) -> list[int]:
    """The heads a history entry's root rows belong to (a fused qkv's rows fall in three thirds)."""
    return sorted({(int(r) % attention.attn_dim) // attention.head_dim for r in rows})


def remove_heads(attention: nn.Module, heads: list[int]) -> None:
    """Cut ``heads`` out of ``attention`` in place: every entry :func:`head_layout` names goes, the
    Linear layers' widths and the head count follow."""
    if len(set(heads)) >= attention.num_heads:
        raise PrunevizError(f"an attention would lose all its {attention.num_heads} heads: keep at least one")
    with torch.no_grad():
        for name, (dim, index) in head_layout(attention, heads).items():
            layer_name, _, param = name.rpartition(".")
            layer = getattr(attention, layer_name)
            old = getattr(layer, param)
            keep = torch.tensor(sorted(set(range(old.shape[dim])) - set(index)), dtype=torch.long)
            setattr(layer, param, nn.Parameter(old.index_select(dim, keep.to(old.device)), old.requires_grad))
            layer.in_features, layer.out_features = layer.weight.shape[1], layer.weight.shape[0]
    attention.num_heads -= len(set(heads))
    attention.attn_dim = attention.num_heads * attention.head_dim


def _first_breaking(model: nn.Module, example: torch.Tensor, history: History) -> str:
    """The root layer of the first history entry after which the model stops running."""
    for k in range(1, len(history) + 1):
        try:
            with torch.no_grad():
                _replay(model, example, history[:k])(example)
        except Exception:  # noqa: BLE001
            return history[k - 1][0]
    return history[-1][0]


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
