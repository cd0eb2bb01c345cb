"""Masks: which weights to zero, from importance scores. Pure functions over tensors.

A mask is a bool tensor shaped like the weight (True = keep). All rules prune the *lowest* scores and
break ties deterministically: among equal scores, the lower flat index is pruned first.

Sparsity is a fraction in [0, 1); on ``n`` weights exactly ``floor(sparsity * n)`` are zeroed, with the
product taken in decimal (0.29 of 100 is 29, not the 28 float rounding would give).
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch

from pruneviz.core.errors import PrunevizError


def prune_count(sparsity: float, n: int) -> int:
    """floor(sparsity * n), exact for the decimal the user typed."""
    check_sparsity(sparsity)
    return math.floor(Fraction(repr(float(sparsity))) * n)


def row_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep-mask pruning the lowest ``floor(sparsity · columns)`` scores of every output row (all but the
    first dimension flattened), ties to the lower index: a comparison group per row."""
    flat = scores.detach().flatten(1)
    k = prune_count(sparsity, flat.shape[1])
    keep = torch.ones_like(flat, dtype=torch.bool)
    keep.scatter_(1, flat.argsort(dim=1, stable=True)[:, :k], False)
    return keep.view(scores.shape)


def sparsity_for(pruned: int, n: int) -> float:
    """The sparsity whose :func:`prune_count` over ``n`` units is exactly ``pruned`` (``pruned / n``,
    nudged up where the float falls just short): a measured mask written as a plan gives it back."""
    sparsity = pruned / n if n else 0.0
    while prune_count(sparsity, n) < pruned:
        sparsity = math.nextafter(sparsity, 1.0)
    return sparsity


def check_sparsity(sparsity: float) -> None:
    if not 0.0 <= sparsity < 1.0:
        raise PrunevizError(f"sparsity must be a fraction in [0, 1), got {sparsity}")


def _lowest(flat_scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k lowest scores; a stable sort makes lower indices lose ties."""
    return ranking(flat_scores)[:k]


def ranking(scores: torch.Tensor) -> torch.Tensor:
    """Flat indices of ``scores`` from least to most important (ties: lower index first).

    Sorting once and cutting the ranking at several counts is how a sweep builds all its levels.
    """
    return torch.sort(scores.detach().flatten(), stable=True).indices


def mask_from_ranking(order: torch.Tensor, k: int, shape: torch.Size) -> torch.Tensor:
    """Keep-mask of ``shape`` with the first ``k`` entries of ``order`` pruned."""
    keep = torch.ones(order.numel(), dtype=torch.bool, device=order.device)
    keep[order[:k]] = False
    return keep.view(shape)


def unstructured_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Layer-wise top-k: keep all but the ``floor(sparsity * n)`` lowest-scoring weights."""
    return mask_from_ranking(ranking(scores), prune_count(sparsity, scores.numel()), scores.shape)


def lamp_scores(weight: torch.Tensor) -> torch.Tensor:
    """LAMP scores (Lee et al., 2021): w_u^2 / sum of w_v^2 over all v ranked at or above u.

    They are scale-free per layer, so one global threshold yields a sensible per-layer allocation.
    """
    sq = weight.detach().flatten().double().pow(2)
    order = torch.sort(sq, stable=True).indices
    sorted_sq = sq[order]
    suffix = sorted_sq.flip(0).cumsum(0).flip(0)
    scores = torch.empty_like(sq)
    scores[order] = sorted_sq / suffix.clamp_min(1e-300)
    return scores.view(weight.shape)


def global_masks(
    scores: dict[str, torch.Tensor], sparsity: float, lamp: bool = False
) -> dict[str, torch.Tensor]:
    """One ranking across all given layers: zero the ``floor(sparsity * total)`` lowest scores overall.

    With ``lamp``, ``scores`` must be the weights themselves and are turned into LAMP scores first.
    Ties across layers go to the earlier layer (in ``scores`` order), then the lower index.
    """
    if not scores:
        return {}
    ranked = {n: lamp_scores(s) if lamp else s.detach() for n, s in scores.items()}
    flat = torch.cat([s.flatten().double().cpu() for s in ranked.values()])
    keep = torch.ones_like(flat, dtype=torch.bool)
    keep[_lowest(flat, prune_count(sparsity, flat.numel()))] = False
    masks, start = {}, 0
    for name, s in scores.items():
        masks[name] = keep[start : start + s.numel()].view(s.shape).to(s.device)
        start += s.numel()
    return masks


def nm_eligible(shape: tuple[int, ...], m: int) -> bool:
    """Whether a weight of ``shape`` can take N:M sparsity (input dimension a multiple of ``m``)."""
    return len(shape) >= 2 and shape[1] % m == 0


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """N:M semi-structured: in every group of ``m`` consecutive weights along the input dimension
    (dim 1; for convs, input channels at each kernel position, as sparse tensor cores expect)
    keep the ``n`` highest scores."""
    if not nm_eligible(tuple(scores.shape), m):
        raise PrunevizError(
            f"{n}:{m} sparsity needs the input dimension to be a multiple of {m}; "
            f"weight shape {tuple(scores.shape)}"
        )
    moved = scores.detach().movedim(1, -1)
    groups = moved.reshape(-1, m)
    keep = torch.ones_like(groups, dtype=torch.bool)
    drop = torch.sort(groups, dim=1, stable=True).indices[:, : m - n]
    keep.scatter_(1, drop, False)
    return keep.view(moved.shape).movedim(-1, 1)


def filter_mask(filter_scores: torch.Tensor, sparsity: float, weight_shape: torch.Size) -> torch.Tensor:
    """Zero whole output filters: the ``floor(sparsity * out_channels)`` lowest-scoring ones."""
    k = prune_count(sparsity, weight_shape[0])
    return expand_filters(
        mask_from_ranking(ranking(filter_scores), k, torch.Size([weight_shape[0]])), weight_shape
    )


def expand_filters(keep: torch.Tensor, weight_shape: torch.Size) -> torch.Tensor:
    """A per-filter keep vector (out,) broadcast to a whole weight's shape."""
    return keep.view(-1, *([1] * (len(weight_shape) - 1))).expand(weight_shape).clone()


def sparsity_of(mask: torch.Tensor) -> float:
    """Fraction of zeros in ``mask`` (0..1)."""
    return (mask.numel() - int(mask.count_nonzero())) / mask.numel()
