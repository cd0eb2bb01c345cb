"""What a pruned model is worth: accuracy and loss, parameters, MACs and storage size.

Pure functions over logits, labels and modules, so the CLI, the dashboard and the benchmarks report
the same figures the same way.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pruneviz.layers import LayerInfo

BYTES_FP32 = 4


def classification_metrics(logits: torch.Tensor, y: torch.Tensor) -> dict:
    """Top-1 accuracy (fraction 0..1), top-5 when there are at least 5 classes, mean cross-entropy
    loss, and per-class top-1 accuracy (None for classes absent from ``y``)."""
    logits = logits.float()
    pred = logits.argmax(1)
    correct = pred == y
    out = {
        "accuracy": correct.float().mean().item(),
        "loss": F.cross_entropy(logits, y).item(),
    }
    if logits.shape[1] >= 5:
        top5 = logits.topk(5, dim=1).indices
        out["top5"] = (top5 == y[:, None]).any(1).float().mean().item()
    per_class = []
    for c in range(logits.shape[1]):
        hits = correct[y == c]
        per_class.append(hits.float().mean().item() if len(hits) else None)
    out["per_class_accuracy"] = per_class
    return out


def param_counts(module: nn.Module) -> tuple[int, int]:
    """(all parameters, non-zero parameters)."""
    total = nonzero = 0
    for p in module.parameters():
        total += p.numel()
        nonzero += int(torch.count_nonzero(p.detach()))
    return total, nonzero


def sparse_tensor_bytes(numel: int, nonzero: int) -> int:
    """Bytes to store a tensor as fp32 values plus a 1-bit-per-weight presence bitmap, or dense
    when that is smaller (low sparsity)."""
    return min(numel * BYTES_FP32, nonzero * BYTES_FP32 + math.ceil(numel / 8))


def size_bytes(module: nn.Module) -> tuple[int, int]:
    """(dense fp32 bytes, sparse storage bytes) over all parameters."""
    dense = sparse = 0
    for p in module.parameters():
        n, nz = p.numel(), int(torch.count_nonzero(p.detach()))
        dense += n * BYTES_FP32
        sparse += sparse_tensor_bytes(n, nz)
    return dense, sparse


def effective_macs(macs_dense: int, layers: list[LayerInfo], density: dict[str, float]) -> int:
    """MACs that multiply a non-zero weight: each layer's MACs scale with its weight density (0..1)."""
    saved = sum(layer.macs * (1.0 - density.get(layer.name, 1.0)) for layer in layers)
    return round(macs_dense - saved)
