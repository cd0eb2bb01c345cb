"""What a pruned model is worth: accuracy and loss, parameters, MACs and storage size.

Pure functions over logits, labels and modules, so the CLI, the dashboard and the benchmarks report
the same figures the same way.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pruneviz.core.layers import LayerInfo
from pruneviz.core.quantize import Quantization

BYTES_FP32 = 4


def classification_metrics(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float | None]:
    """Top-1 accuracy (fraction 0..1), mean cross-entropy loss, and top-5 accuracy (None with fewer
    than 5 classes)."""
    accuracy, loss = accuracy_and_loss(logits, y)
    top5 = None
    if logits.shape[1] >= 5:
        top5 = (logits.topk(5, dim=1).indices == y[:, None]).any(1).float().mean().item()
    return {"accuracy": accuracy, "loss": loss, "top5": top5}


def accuracy_and_loss(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Top-1 accuracy (fraction) and mean cross-entropy: the two numbers a sweep records."""
    logits = logits.float()
    return (logits.argmax(1) == y).float().mean().item(), F.cross_entropy(logits, y).item()


def per_class_accuracy(logits: torch.Tensor, y: torch.Tensor) -> list[float | None]:
    """Top-1 accuracy of each class (None for classes absent from ``y``)."""
    correct = logits.argmax(1) == y
    out = []
    for c in range(logits.shape[1]):
        hits = correct[y == c]
        out.append(hits.float().mean().item() if len(hits) else None)
    return out


def param_counts(module: nn.Module) -> tuple[int, int]:
    """(all parameters, non-zero parameters)."""
    total = nonzero = 0
    for p in module.parameters():
        total += p.numel()
        nonzero += int(torch.count_nonzero(p.detach()))
    return total, nonzero


def sparse_tensor_bytes(numel: int, nonzero: int, value_bytes: float = BYTES_FP32) -> int:
    """Bytes to store a tensor as its non-zero values (``value_bytes`` each: fp32 by default) plus a
    1-bit-per-weight presence bitmap, or dense when that is smaller (low sparsity)."""
    return math.ceil(min(numel * value_bytes, nonzero * value_bytes + math.ceil(numel / 8)))


def size_bytes(module: nn.Module, quantized: dict[str, Quantization] | None = None) -> tuple[int, int]:
    """(dense fp32 bytes, sparse storage bytes) over all parameters; a parameter named in ``quantized``
    stores its non-zeros in that scheme's bits, with a float32 scale per row."""
    quantized = quantized or {}
    dense = sparse = 0
    for name, p in module.named_parameters():
        n, nz = p.numel(), int(torch.count_nonzero(p.detach()))
        dense += n * BYTES_FP32
        scheme = quantized.get(name)
        if scheme is None:
            sparse += sparse_tensor_bytes(n, nz)
        else:
            sparse += sparse_tensor_bytes(n, nz, scheme.bits / 8) + BYTES_FP32 * p.shape[0]
    return dense, sparse


def effective_macs(macs_dense: int, layers: list[LayerInfo], density: dict[str, float]) -> int:
    """MACs that multiply a non-zero weight: each layer's MACs scale with its weight density (0..1)."""
    saved = sum(layer.macs * (1.0 - density.get(layer.name, 1.0)) for layer in layers)
    return round(macs_dense - saved)
