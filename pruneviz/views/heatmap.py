"""Lay a weight-shaped score tensor out as a 2-D grid small enough for a browser heatmap.

Convs are shown as out-channels x (in-channels * kernel), linears as out x in. When that grid exceeds
``max_cells``, the kernel-norm view (out x in, L2 norm over each kernel) is used, and if still too big
the grid is block-averaged down; a million cells never reach the browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

MAX_CELLS = 40_000


@dataclass(frozen=True)
class Grid:
    """``values`` (rows x cols), what the axes mean, and how the layout was reduced (if at all)."""

    values: torch.Tensor
    rows: str
    cols: str
    note: str


def weight_grid(scores: torch.Tensor, max_cells: int = MAX_CELLS) -> Grid:
    """Arrange ``scores`` (shaped like a Conv/Linear weight) as a heatmap grid of at most ``max_cells``."""
    s = scores.detach().float().cpu()
    if s.dim() == 1:
        s = s[:, None]
    if s.dim() == 2:
        grid, cols, note = s, "in features", ""
    else:
        grid, cols, note = s.flatten(1), "in channels x kernel", ""
        if grid.numel() > max_cells:
            grid, cols, note = s.flatten(2).norm(dim=2), "in channels (kernel L2 norm)", "kernel-norm view"
    if grid.numel() > max_cells:
        factor = math.ceil(math.sqrt(grid.numel() / max_cells))
        grid = F.avg_pool2d(grid[None, None], factor, ceil_mode=True)[0, 0]
        note = ", ".join(filter(None, [note, f"averaged over {factor}x{factor} blocks"]))
    return Grid(grid, "out channels", cols, note)
