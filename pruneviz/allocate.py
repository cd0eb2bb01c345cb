"""Per-layer sparsity allocation: how a target sparsity is spread over layers (pure functions).

Each returns ``{layer name: sparsity fraction}``; the dashboard turns them into slider positions.
"""

from __future__ import annotations

import torch

from pruneviz.masks import global_masks, sparsity_of

MAX_SPARSITY = 0.99


def uniform(names: list[str], sparsity: float) -> dict[str, float]:
    """Every layer the same fraction."""
    return dict.fromkeys(names, sparsity)


def ramp(names: list[str], sparsity: float) -> dict[str, float]:
    """ "Deeper layers more": a linear ramp over depth whose mean is ``sparsity`` (before clipping at
    0.99). Early layers feed everything after them, so they usually tolerate pruning least."""
    n = len(names)
    return {name: min(MAX_SPARSITY, sparsity * 2 * (i + 1) / (n + 1)) for i, name in enumerate(names)}


def global_threshold(scores: dict[str, torch.Tensor], sparsity: float) -> dict[str, float]:
    """The per-layer fractions that one threshold over all layers' scores produces."""
    return {name: sparsity_of(mask) for name, mask in global_masks(scores, sparsity).items()}


def overall_sparsity(per_layer: dict[str, float], sizes: dict[str, int]) -> float:
    """Fraction of all listed layers' weights that are zero, given per-layer fractions and sizes."""
    total = sum(sizes[n] for n in per_layer)
    return sum(per_layer[n] * sizes[n] for n in per_layer) / total if total else 0.0
