"""Wall-clock timing of a model: what pruning really buys on this hardware (as opposed to MACs on paper).

Medians of repeated runs after untimed warm-ups; on CUDA every run is synchronised, so a figure is the
time the user waits for. A classifier is timed in milliseconds per batch, a language model in tokens per
second of prefill and of greedy decoding (:meth:`pruneviz.tasks.Task.latency` chooses).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

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
