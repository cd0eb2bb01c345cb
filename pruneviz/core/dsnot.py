"""DSnoT (Zhang et al., ICLR 2024, "Dynamic Sparse No Training"): a mask refined without training.

A one-shot mask (Wanda's) shifts each output of a layer by the sum, over the pruned weights, of
``w_ij · E[x_j]`` — the reconstruction error DSnoT tracks per output row, ``E[x_j]`` taken as the
reference takes it (a sequence's sum of the input feature, averaged over sequences). Then, for a fixed
number of cycles, every row swaps one pruned weight back in and one kept weight out, both chosen to
pull the error towards zero: the weight to grow has the largest contribution of the error's sign
relative to its input's variance (an input that varies little shifts the output predictably), the
weight to prune the smallest Wanda score among those whose contribution has the opposite sign. A row
stops when its error is within ``threshold`` (N:M: or would change sign). The count of pruned
weights never changes (N:M: the weight pruned is in the grown weight's group), no weight is rewritten,
and each cycle costs a gather per row: linear time, no backpropagation.

This follows the authors' code (github.com/zyxxmu/DSnoT, ``lib/prune.py`` ``prune_DSnoT``, defaults
``--max_cycle_time 50 --update_threshold 0.1 --pow_of_var_regrowing 1``, unstructured without the
same-sign test as its ``--without_same_sign`` default has it) in what it chooses; where the reference
runs off its candidate lists (its growth pointer reaching kept weights, or a row with nothing pruned)
a row here simply stops. The reference skips MLP layers by default (``--skip_layer mlp``); here every
layer a plan gives ``dsnot`` is refined, so a recipe chooses which.
"""

from __future__ import annotations

import torch

from pruneviz.core import masks as M

CYCLES = 50
THRESHOLD = 0.1
VARIANCE_POWER = 1.0


class _Candidates:
    """Per row, an ordered list of weight indices consumed from both ends: ``take(high)`` returns each
    row's next index from the high end where ``high`` is True, from the low end elsewhere."""

    def __init__(self, order: torch.Tensor) -> None:
        self.order = order
        rows, cols = order.shape
        self.ends = torch.zeros(rows, 2, dtype=torch.long, device=order.device)
        self.ends[:, 1] = cols - 1

    def take(self, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(index per row, whether the row still had one)."""
        side = high.long().unsqueeze(1)
        at = self.ends.gather(1, side)
        left = (self.ends[:, :1] <= self.ends[:, 1:]).squeeze(1)
        self.ends.scatter_(1, side, at + torch.where(side == 1, -1, 1))
        return self.order.gather(1, at.clamp(0, self.order.shape[1] - 1)).squeeze(1), left


def dsnot(
    weight: torch.Tensor,
    initial: torch.Tensor,
    mean: torch.Tensor,
    variance: torch.Tensor,
    sparsity: float = 0.0,
    n_m: tuple[int, int] | None = None,
    cycles: int = CYCLES,
    threshold: float = THRESHOLD,
    variance_power: float = VARIANCE_POWER,
) -> torch.Tensor:
    """Keep-mask of a Linear ``weight`` (outputs × inputs): the lowest ``initial`` scores of every row
    pruned (``sparsity``; or with ``n_m`` = (N, M) all but N of every M inputs), then refined by DSnoT
    from the inputs' per-feature ``mean`` (a sequence's sum, averaged) and ``variance``."""
    W = weight.detach().float()
    rows = torch.arange(W.shape[0], device=W.device)
    initial = initial.detach().float()
    effect = W * mean.float().reshape(1, -1)  # each weight's expected contribution to its output
    keep = M.nm_mask(initial, *n_m) if n_m else M.row_mask(initial, sparsity)
    pruned = ~keep
    if not pruned.any():
        return keep
    error = (effect * pruned).sum(1)  # how far pruning moved each output
    start_sign = error.sign()
    grow_key = torch.where(pruned, effect, torch.zeros_like(effect))
    if variance_power:
        grow_key = grow_key / variance.float().reshape(1, -1).pow(variance_power)
    grow = _Candidates(torch.sort(grow_key, dim=1, stable=True).indices)
    originally_pruned = pruned.clone()
    active = torch.ones(W.shape[0], dtype=torch.bool, device=W.device)
    if n_m:
        m = n_m[1]
        prunable = torch.where(keep, initial, torch.full_like(initial, float("inf")))
    else:
        prune = _prune_candidates(initial, keep, effect)
    for _ in range(cycles):
        if not active.any():
            break
        regrow, left = grow.take(error > 0)
        active &= left & originally_pruned[rows, regrow]
        if n_m:  # the kept weight with the lowest initial score in the grown weight's group of M
            group = (regrow - regrow % m).unsqueeze(1) + torch.arange(m, device=W.device)
            cut = group.gather(1, prunable.gather(1, group).argmin(1, keepdim=True)).squeeze(1)
            after = error + effect[rows, cut] - effect[rows, regrow]
            active &= prunable[rows, cut].isfinite() & (error.abs() > threshold)
            active &= after.sign() == start_sign
            prunable[rows, cut] = float("inf")
        else:
            cut, left = prune.take(error < 0)
            active &= left & (error.abs() > threshold)
        swap = rows[active]
        pruned[swap, cut[active]] = True
        pruned[swap, regrow[active]] = False
        error = error + torch.where(active, effect[rows, cut] - effect[rows, regrow], 0.0)
    return ~pruned


def _prune_candidates(initial: torch.Tensor, keep: torch.Tensor, effect: torch.Tensor) -> _Candidates:
    """The kept weights of every row, those with a negative contribution first (lowest initial score
    first), then those with a positive one (lowest initial score last): the low end pushes a row's error
    down, the high end up, each with the weight the initial criterion values least."""
    kept = keep.sum(1)
    if not bool((kept == kept[0]).all()):
        raise ValueError("DSnoT needs the same number of kept weights in every row")
    by_score = torch.sort(
        torch.where(keep, initial, torch.full_like(initial, float("inf"))), dim=1, stable=True
    ).indices[:, : int(kept[0])]
    contribution = effect.gather(1, by_score)
    position = torch.arange(by_score.shape[1], device=by_score.device).expand_as(by_score).float()
    # negatives in score order, zeros, then positives in reverse score order
    n = by_score.shape[1]
    middle = torch.where(contribution > 0, 3 * n - position, torch.full_like(position, 1.5 * n))
    key = torch.where(contribution < 0, position, middle)
    return _Candidates(by_score.gather(1, torch.sort(key, dim=1, stable=True).indices))
