import pytest
import torch
from torch import nn

from pruneviz.core.layers import LayerInfo
from pruneviz.core.metrics import (
    classification_metrics,
    effective_macs,
    param_counts,
    per_class_accuracy,
    size_bytes,
    sparse_tensor_bytes,
)


def test_accuracy_top5_loss_and_per_class():
    logits = torch.tensor([[5.0, 1, 0, 0, 0, 0], [0, 5.0, 1, 0, 0, 0], [4.0, 3, 2, 1, 0.5, 0]])
    y = torch.tensor([0, 2, 5])
    m = classification_metrics(logits, y)
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["top5"] == pytest.approx(2 / 3)  # class 5 is ranked 6th of 6 for the last sample
    assert m["loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item())
    assert per_class_accuracy(logits, y) == [1.0, None, 0.0, None, None, 0.0]


def test_no_top5_below_five_classes():
    assert classification_metrics(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))["top5"] is None


def test_param_counts_and_sizes():
    lin = nn.Linear(10, 10)  # 110 parameters
    with torch.no_grad():
        lin.weight[:, :9] = 0  # 90 zeros
    total, nonzero = param_counts(lin)
    assert (total, nonzero) == (110, 20)
    dense, sparse = size_bytes(lin)
    assert dense == 440
    # weight: 10 values + 13-byte bitmap; bias stays dense (10 values are cheaper dense)
    assert sparse == (10 * 4 + 13) + 40


def test_sparse_storage_never_exceeds_dense():
    assert sparse_tensor_bytes(100, 100) == 400
    assert sparse_tensor_bytes(100, 0) == 13


def test_effective_macs_scale_with_density():
    layers = [
        LayerInfo("a", "Conv2d", (1,), 1, 600, 0.6, linear=False, called=True),
        LayerInfo("b", "Linear", (1,), 1, 300, 0.3, linear=True, called=True),
    ]
    assert effective_macs(1000, layers, {"a": 0.5, "b": 1.0}) == 700
    assert effective_macs(1000, layers, {}) == 1000
