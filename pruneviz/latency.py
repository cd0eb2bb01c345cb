"""Wall-clock latency: what pruning really buys on this hardware (as opposed to MACs on paper)."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn


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
