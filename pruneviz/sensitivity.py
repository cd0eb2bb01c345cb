"""Sensitivity: how much accuracy each layer loses when it alone is pruned.

A layer-by-layer sweep on a scratch session (never the user's working copy). Each step re-masks one
layer and re-evaluates incrementally, so only that layer and what follows it are recomputed.
"""

from __future__ import annotations

from collections.abc import Callable

from pruneviz.session import LayerPlan, PruneSession


def layer_sensitivity(
    session: PruneSession,
    sparsities: tuple[float, ...] = (0.5, 0.9),
    criterion: str = "magnitude",
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, dict[float, float]]:
    """Accuracy (0..1) with each layer pruned alone to each sparsity, the others dense.

    ``session`` is modified while sweeping and left dense; pass a scratch session.
    """
    session.reset()
    names = session.layer_names
    out: dict[str, dict[float, float]] = {}
    for i, name in enumerate(names):
        if progress:
            progress(i / len(names), f"sensitivity of {name}")
        out[name] = {}
        for s in sparsities:
            session.prune_layer(name, LayerPlan(s, criterion))
            out[name][s] = session.report().accuracy
        session.prune_layer(name, LayerPlan(0.0))
    return out


def most_sensitive(sensitivity: dict[str, dict[float, float]], sparsity: float) -> str:
    """The layer whose pruning alone at ``sparsity`` costs the most accuracy (ties: the earlier layer)."""
    return min(sensitivity, key=lambda n: sensitivity[n][sparsity])
