"""Pruning that rewrites the surviving weights: SparseGPT (Frantar & Alistarh, 2023).

Scoring criteria choose which weights to zero and leave the rest alone. SparseGPT also *compensates*:
it prunes a Linear layer's columns block by block (128 columns at a time) and, after each column,
updates the columns not yet visited so that the layer's output on the calibration inputs X changes as
little as possible (the Optimal Brain Surgeon update with the inverse Hessian of ‖WX − ŴX‖², H = XᵀX).
Which weights go is decided per block, on the weights as the updates have left them, by
w² / [H⁻¹]²_jj.

This is the reference algorithm (github.com/IST-DASLab/sparsegpt), with counts made exact the way
:mod:`pruneviz.core.masks` counts: a layer of n weights pruned to s loses exactly floor(s · n) weights
(the blocks' shares telescope), ties to the lower index; N:M keeps exactly N of every M inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from pruneviz.core import masks as M
from pruneviz.core.errors import PrunevizError
from pruneviz.core.layers import LayerInfo

BLOCK = 128
DAMPING = 0.01  # of the mean Hessian diagonal, added to it before inverting


def sparsegpt(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    sparsity: float = 0.0,
    n_m: tuple[int, int] | None = None,
    block: int = BLOCK,
    damping: float = DAMPING,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(keep-mask, reconstructed weight) for a Linear weight (outputs × inputs) whose inputs have the
    Gram matrix ``hessian`` (inputs × inputs): ``sparsity`` unstructured, or with ``n_m`` = (N, M) keep
    N of every M consecutive inputs. The reconstructed weight is zero wherever the mask is False."""
    W = weight.detach().clone().double()
    rows, cols = W.shape
    H = hessian.detach().clone().double()
    dead = torch.diag(H) == 0  # inputs that never fire: nothing to preserve there
    H[dead, dead] = 1
    W[:, dead] = 0
    H += torch.eye(cols, dtype=H.dtype) * damping * torch.mean(torch.diag(H))
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    if n_m is not None:
        n, m = n_m
        if cols % m:
            raise PrunevizError(f"{n}:{m} needs the input dimension to be a multiple of {m}; it is {cols}")
        block = max(m, block - block % m)
    pruned = torch.zeros_like(W, dtype=torch.bool)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        W1, Hinv1 = W[:, i1:i2].clone(), Hinv[i1:i2, i1:i2]
        d = torch.diag(Hinv1)
        Err1 = torch.zeros_like(W1)
        prune1 = torch.zeros_like(W1, dtype=torch.bool)
        if n_m is None:  # this block's share of floor(s * n), lowest w² / d² first
            k = M.prune_count(sparsity, rows * i2) - M.prune_count(sparsity, rows * i1)
            prune1.view(-1)[M.ranking(W1.pow(2) / d.pow(2))[:k]] = True
        for i in range(i2 - i1):
            if n_m is not None and i % n_m[1] == 0:  # this group of M inputs: drop the M - N lowest
                n, m = n_m
                group = W1[:, i : i + m].pow(2) / d[i : i + m].pow(2)
                drop = torch.sort(group, dim=1, stable=True).indices[:, : m - n]
                prune1[:, i : i + m].scatter_(1, drop, True)
            w = W1[:, i]
            q = torch.where(prune1[:, i], torch.zeros_like(w), w)
            err = (w - q) / Hinv1[i, i]
            W1[:, i:] -= err.unsqueeze(1) @ Hinv1[i, i:].unsqueeze(0)
            W1[:, i] = q
            Err1[:, i] = err
        W[:, i1:i2] = W1
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
        pruned[:, i1:i2] = prune1
    W[pruned] = 0
    return ~pruned, W.to(weight.dtype)


@dataclass(frozen=True)
class FromInputs:
    """A pruning method that decides a layer's mask from the statistics of the layer's inputs (its
    Gram matrix when ``gram``) and, when it ``rewrites``, the surviving weights too; registered among
    the criteria by name. It runs one layer at a time against the dense model's inputs (one-shot, what a
    slider does) or sequentially, block by block, each on the inputs the already-pruned blocks give (what
    the reference implementations, ``evaluate`` and ``apply`` do). ``solve(weight, statistics, sparsity,
    n_m)`` returns (keep-mask, new weight or None); ``score`` ranks weights where the method can (Wanda,
    RIA), for sweeps, global rankings and importance views; a method that rewrites weights or refines a
    mask row by row (SparseGPT, DSnoT) has none. ``linear_only``: the method reads Linear layers only."""

    name: str
    label: str  # for people: "SparseGPT", "Wanda"
    gram: bool
    rewrites: bool
    solve: Callable[
        [torch.Tensor, object, float, tuple[int, int] | None], tuple[torch.Tensor, torch.Tensor | None]
    ]
    score: Callable[[dict[str, nn.Module], object], dict[str, torch.Tensor]] | None = None
    linear_only: bool = False
    watches_layer: ClassVar[bool] = True  # its statistics come from a hook on the layer's inputs

    def __call__(self, modules: dict[str, nn.Module], calibration: object) -> dict[str, torch.Tensor]:
        if self.score is None:
            raise PrunevizError(
                f"{self.name} decides each layer's mask instead of ranking weights; sweeps, global "
                "rankings and importance views need a scoring criterion (magnitude, wanda, ria, …)"
            )
        return self.score(modules, calibration)

    def ineligible(self, layer: LayerInfo) -> str | None:
        """Why this method cannot prune ``layer`` (None: it can): one that rewrites weights or refines
        rows reads a Linear's input features; a conv's inputs are channels under a kernel."""
        if layer.linear or not (self.rewrites or self.linear_only):
            return None
        return f"{self.label} prunes Linear layers only, not a {layer.type}"


SPARSEGPT = FromInputs(
    "sparsegpt",
    "SparseGPT",
    gram=True,
    rewrites=True,
    solve=lambda w, stats, s, nm: sparsegpt(w, stats.gram, s, nm),
    linear_only=True,
)
