"""Quantised weights: what is exported (torchao tensors) equals what the live metric evaluates."""

import pytest
import torch
from torch import nn

from pruneviz.core.errors import PrunevizError
from pruneviz.core.quantize import QUANTIZATIONS


def test_rounded_weights_are_the_int8_tensors_values_and_keep_every_pruned_zero():
    torch.manual_seed(0)
    weight = torch.randn(64, 128) * (torch.rand(64, 128) > 0.6)
    int8 = QUANTIZATIONS.get("int8")
    rounded = int8.rounded(weight)
    linear = nn.Linear(128, 64, bias=False)
    linear.weight = nn.Parameter(weight.clone(), requires_grad=False)
    stored = int8.convert(linear).weight
    assert stored.qdata.dtype == torch.int8
    assert torch.equal(stored.dequantize(), rounded)
    assert bool(((weight == 0) <= (rounded == 0)).all())  # every pruned weight stays zero
    assert 0 < (rounded - weight).abs().max() <= weight.abs().amax(1).max() / 127 / 2 + 1e-6


def test_convert_touches_only_the_named_linear_layers():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    QUANTIZATIONS.get("int8").convert(model, names=["2"])
    assert type(model[0].weight) is nn.Parameter
    assert type(model[2].weight).__name__ == "Int8Tensor"


def test_int4_says_why_this_cpu_cannot_run_it():
    with pytest.raises(PrunevizError, match=r"int4 weights cannot run here: .*CUDA"):
        QUANTIZATIONS.get("int4").check("cpu")
    QUANTIZATIONS.get("int8").check("cpu")
