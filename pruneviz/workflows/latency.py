"""Latency comparisons: several models timed one after another in this process, and the unstructured twin
a structured removal is compared with."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pruneviz.core.layers import prunable_modules
from pruneviz.core.masks import unstructured_mask
from pruneviz.core.timing import measure_latency
from pruneviz.io.models import clone_module


def compare_latency(
    models: dict[str, nn.Module],
    sample_shape: tuple[int, ...],
    batch_sizes: tuple[int, ...] = (1, 64),
    device: torch.device | str = "cpu",
    repeats: int = 10,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, dict[int, float]]:
    """Median ms per model name and batch size, measured one after another in the same process."""
    out: dict[str, dict[int, float]] = {}
    steps = len(models) * len(batch_sizes)
    for i, (name, model) in enumerate(models.items()):
        out[name] = {}
        for j, batch in enumerate(batch_sizes):
            if progress:
                progress((i * len(batch_sizes) + j) / steps, f"timing {name} at batch {batch}")
            out[name][batch] = measure_latency(model, sample_shape, batch, device, repeats=repeats)
    return out


def unstructured_twin(model: nn.Module, fraction: float) -> nn.Module:
    """A copy of ``model`` with ``fraction`` of every prunable layer's weights zeroed by magnitude:
    the same parameter savings as a structured removal, kept in dense shapes (what dense kernels see)."""
    twin = clone_module(model, next(model.parameters()).device)  # timed where the model runs
    with torch.no_grad():
        for module in prunable_modules(twin).values():
            module.weight.mul_(unstructured_mask(module.weight.abs(), fraction))
    return twin
