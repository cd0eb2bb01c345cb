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

MAX_RUNS = 2000  # a cap on the timed calls of one measurement, however fast the call


def median_ms(
    run: Callable[[], object],
    device: torch.device | str = "cpu",
    repeats: int = 15,
    warmup: int = 3,
    min_seconds: float = 0.0,
) -> float:
    """Median milliseconds of ``run()`` over ``repeats`` timed calls after ``warmup`` untimed ones (more
    calls, up to :data:`MAX_RUNS`, until the timed ones add up to ``min_seconds``: a call of a few
    microseconds needs many to give a stable median), in inference mode. On CUDA every call is
    synchronised, so the figure is the kernel time one waits for."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    times: list[float] = []
    with torch.inference_mode():
        for i in range(warmup + MAX_RUNS):
            if i >= warmup + repeats and sum(times) >= min_seconds:
                break
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            run()
            if cuda:
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def measure_latency(
    model: nn.Module,
    sample_shape: tuple[int, ...],
    batch_size: int,
    device: torch.device | str = "cpu",
    repeats: int = 15,
    warmup: int = 3,
) -> float:
    """Median milliseconds of one forward of a ``batch_size`` batch, after ``warmup`` untimed runs."""
    x = torch.randn((batch_size, *sample_shape), device=device)
    return median_ms(lambda: model(x), device, repeats, warmup)


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

    def timed(run: Callable[[], object]) -> float:
        return median_ms(run, device, repeats, warmup) / 1e3

    prompt = windows[:1, :16]
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
