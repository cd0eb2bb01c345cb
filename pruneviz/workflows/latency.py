"""Wall-clock latency: what pruning really buys on this hardware (as opposed to MACs on paper)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from pruneviz.core.layers import prunable_modules
from pruneviz.core.masks import unstructured_mask
from pruneviz.io.models import clone_module
from pruneviz.workflows.apply import Applied


def measure_latency(
    model: nn.Module,
    sample_shape: tuple[int, ...],
    batch_size: int,
    device: torch.device | str = "cpu",
    repeats: int = 15,
    warmup: int = 3,
) -> float:
    """Median milliseconds of one forward of a ``batch_size`` batch, after ``warmup`` untimed runs.

    On CUDA every run is synchronised, so the figure is the kernel time the user waits for.
    """
    device = torch.device(device)
    x = torch.randn((batch_size, *sample_shape), device=device)
    cuda = device.type == "cuda"
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(x)
            if cuda:
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


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
    twin = clone_module(model)
    with torch.no_grad():
        for module in prunable_modules(twin).values():
            module.weight.mul_(unstructured_mask(module.weight.abs(), fraction))
    return twin


@dataclass
class SpeedUp:
    """Structured removal against the same parameter savings unstructured: median ms per model
    (``dense``, ``structured``, ``unstructured``) and batch size, and the speed-up each promises on
    paper (MACs for the structured model; parameters for the unstructured one, which only sparse
    kernels could turn into speed)."""

    ms: dict[str, dict[int, float]]
    promised: dict[str, float]

    def measured(self) -> dict[str, dict[int, float]]:
        """× faster than dense, per pruned model and batch size."""
        dense = self.ms["dense"]
        return {k: {b: dense[b] / t for b, t in per.items()} for k, per in self.ms.items() if k != "dense"}


def structured_speedup(
    dense: nn.Module,
    applied: Applied,
    sample_shape: tuple[int, ...],
    batch_sizes: tuple[int, ...] = (1, 64),
    device: torch.device | str = "cpu",
    progress: Callable[[float, str], None] | None = None,
) -> SpeedUp:
    """Time ``dense``, the structurally pruned model and an unstructured twin with the same share of
    weights removed, one after another in this process."""
    fraction = 1 - applied.params / applied.dense.params_total
    models = {"dense": dense, "structured": applied.model, "unstructured": unstructured_twin(dense, fraction)}
    ms = compare_latency(models, sample_shape, batch_sizes, device, progress=progress)
    promised = {
        "structured": applied.dense.macs_dense / applied.macs,
        "unstructured": applied.dense.params_total / max(applied.params, 1),
    }
    return SpeedUp(ms, promised)
