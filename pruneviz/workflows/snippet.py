"""A Python snippet that applies a recipe with ``torch.nn.utils.prune`` only: no pruneviz at run time.

Counts are written as exact integers (``amount=k`` prunes exactly k weights), so the snippet reproduces
pruneviz's masks for the criteria PyTorch has: magnitude (``l1_unstructured`` / ``global_unstructured``)
and filter L1/L2 norms (``ln_structured``).
"""

from __future__ import annotations

from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import FILTER, UNSTRUCTURED
from pruneviz.core.layers import LayerInfo
from pruneviz.core.masks import prune_count
from pruneviz.workflows.session import GlobalPlan, LayerPlan

HEADER = '''"""Prune a model as a pruneviz recipe says, with torch.nn.utils.prune only (generated)."""

import torch.nn.utils.prune as prune


def apply_pruning(model, permanent=True):
    """Prune ``model`` in place; with ``permanent`` the masks are folded into the weights."""
    modules = dict(model.named_modules())
'''


def torch_prune_snippet(plan: dict[str, LayerPlan] | GlobalPlan, layers: list[LayerInfo]) -> str:
    """The snippet's source code for a resolved recipe (:func:`pruneviz.workflows.recipe.resolve_for`)
    on a model with ``layers``."""
    sizes = {x.name: x.params for x in layers}
    lines: list[str] = []
    pruned: list[str] = []
    if isinstance(plan, GlobalPlan):
        if plan.criterion != "magnitude" or plan.lamp or plan.granularity != UNSTRUCTURED:
            raise PrunevizError("the snippet supports global magnitude pruning only (no LAMP, no filters)")
        names = [n for n in sizes if n not in plan.pinned]
        k = prune_count(plan.sparsity, sum(sizes[n] for n in names))
        lines.append(f"    layers = [(modules[name], 'weight') for name in {names!r}]")
        lines.append(
            f"    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount={k})"
        )
        pruned = names
    else:
        shapes = {x.name: x.shape for x in layers}
        for name, p in plan.items():
            if p.dense:
                continue
            if p.granularity == UNSTRUCTURED and p.criterion == "magnitude":
                k = prune_count(p.sparsity, sizes[name])
                lines.append(f"    prune.l1_unstructured(modules[{name!r}], 'weight', amount={k})")
            elif p.granularity == FILTER and p.criterion in ("l1", "l2"):
                k = prune_count(p.sparsity, shapes[name][0])
                norm = 1 if p.criterion == "l1" else 2
                lines.append(
                    f"    prune.ln_structured(modules[{name!r}], 'weight', amount={k}, n={norm}, dim=0)"
                )
            else:
                raise PrunevizError(
                    f"layer '{name}': torch.nn.utils.prune has no {p.granularity} {p.criterion} pruning; the "
                    "snippet supports magnitude (unstructured) and l1/l2 (filter)"
                )
            pruned.append(name)
    lines.append("    if permanent:")
    lines.append(f"        for name in {pruned!r}:")
    lines.append("            prune.remove(modules[name], 'weight')")
    lines.append("    return model")
    return HEADER + "\n".join(lines) + "\n"
