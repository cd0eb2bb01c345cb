"""Recovering accuracy by training with the pruning masks held fixed.

Pruned weights stay exactly zero: after every optimiser step the masks are re-applied, so training
only moves the surviving weights.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def apply_masks(modules: dict[str, nn.Module], masks: dict[str, torch.Tensor]) -> None:
    """Zero every masked-out weight in place."""
    with torch.no_grad():
        for name, mask in masks.items():
            modules[name].weight.mul_(mask)


def train_masked(
    model: nn.Module,
    modules: dict[str, nn.Module],
    masks: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 3,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> None:
    """Train ``model`` on (x, y) with Adam for ``epochs``, keeping masked weights at zero.

    Deterministic for a given seed (fixed batch order). Leaves the model in eval mode.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    apply_masks(modules, masks)
    for epoch in range(epochs):
        if progress:
            progress(epoch / epochs, f"epoch {epoch + 1} of {epochs}")
        model.train()
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            apply_masks(modules, masks)
    model.eval()
