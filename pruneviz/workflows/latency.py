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


@dataclass(frozen=True)
class TokenSpeed:
    """A language model's speed, median of repeats: prefill (a batch of windows in one forward pass)
    and greedy decoding (batch 1, one token at a time with the key/value cache), in tokens per second."""

    prefill: float
    decode: float


def token_speed(
    model: nn.Module, windows: torch.Tensor, decode_tokens: int = 64, repeats: int = 5, warmup: int = 1
) -> TokenSpeed:
    """Time ``model`` prefilling ``windows`` (batch × tokens) and decoding ``decode_tokens`` new tokens
    after the first window's first 16 tokens."""
    device = windows.device
    cuda = device.type == "cuda"

    def timed(run: Callable[[], object]) -> float:
        times = []
        for i in range(warmup + repeats):
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            run()
            if cuda:
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
        return statistics.median(times)

    prompt = windows[:1, :16]
    with torch.inference_mode():
        prefill = timed(lambda: model(input_ids=windows, use_cache=False))
        decode = timed(
            lambda: model.generate(
                prompt,
                max_new_tokens=decode_tokens,
                min_new_tokens=decode_tokens,
                do_sample=False,
                use_cache=True,
            )
        )
    return TokenSpeed(windows.numel() / prefill, decode_tokens / decode)
