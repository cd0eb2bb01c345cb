"""Every kernel computes the layer's own output (or the shrunk layer's), and says why it cannot run."""

import pytest
import torch
from torch import nn

from pruneviz.io.kernels import KERNELS, kept_rows, two_four

CPU = torch.device("cpu")


def _masked(layer: nn.Module, sparsity: float) -> nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        layer.weight.mul_(torch.rand_like(layer.weight) >= sparsity)
    return layer.eval()


LAYERS = [
    (lambda: nn.Linear(128, 64), (3, 5, 128)),  # a language model's (batch, tokens, features)
    (lambda: nn.Conv2d(8, 16, 3, stride=2, padding=1), (2, 8, 9, 9)),
    (lambda: nn.Conv2d(4, 32, (3, 1), padding=(1, 0), dilation=(2, 1), bias=False), (2, 4, 7, 6)),
]


@pytest.mark.parametrize(("make", "shape"), LAYERS)
@pytest.mark.parametrize("name", ["dense", "csr", "bsr"])
def test_sparse_kernels_give_the_layers_own_output(make, shape, name):
    layer = _masked(make(), 0.8)
    x = torch.randn(shape)
    kernel = KERNELS.get(name)
    assert kernel.unavailable(layer, CPU) is None
    with torch.inference_mode():
        assert torch.allclose(kernel.build(layer, 0.8)(x), layer(x), atol=1e-5)


def test_shrunk_keeps_the_leading_rows_of_the_same_layer():
    layer = _masked(nn.Conv2d(8, 16, 3, padding=1), 0.0)
    x = torch.randn(2, 8, 6, 6)
    small = KERNELS.get("shrunk").build(layer, 0.75)
    assert kept_rows(layer, 0.75) == 4 and kept_rows(layer, 0.99) == 1
    with torch.inference_mode():
        assert torch.allclose(small(x), layer(x)[:, :4], atol=1e-6)
    assert KERNELS.get("shrunk").promise(layer, 0.75) == (4.0, 4.0)


def test_int8_weights_run_through_torchao_close_to_the_float_layer():
    layer = _masked(nn.Linear(256, 64), 0.5)
    x = torch.randn(4, 256)
    with torch.inference_mode():
        got, want = KERNELS.get("int8").build(layer, 0.5)(x), layer(x)
    assert type(KERNELS.get("int8").build(layer, 0.5).weight).__name__ == "Int8Tensor"
    assert (got - want).abs().max() < 0.05 * want.abs().max() and not torch.equal(got, want)


def test_what_a_device_cannot_run_is_said_with_the_reason():
    conv, tiny = nn.Conv2d(3, 16, 3), nn.Linear(10, 10)
    assert "Linear weights only" in KERNELS.get("int8").unavailable(conv, CPU)
    assert "no square block" in KERNELS.get("bsr").unavailable(tiny, CPU)
    assert "grouped" in KERNELS.get("csr").unavailable(nn.Conv2d(8, 8, 3, groups=8), CPU)
    assert "not a CUDA GPU" in KERNELS.get("2:4").unavailable(nn.Linear(128, 64), CPU)


def test_csr_promises_what_its_storage_and_nonzeros_say():
    layer = nn.Linear(100, 10, bias=False)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[:, :10] = 1.0  # 100 non-zeros of 1000
    macs, stored = KERNELS.get("csr").promise(layer, 0.9)
    assert macs == 10.0
    assert stored == pytest.approx(1000 * 4 / (100 * (4 + 8) + 11 * 8))  # values, int64 columns, row pointers


def test_two_four_keeps_the_two_largest_of_every_four_inputs():
    w = torch.tensor([[1.0, -4.0, 3.0, 2.0, 0.0, 0.0, 5.0, 0.1]])
    assert torch.equal(two_four(w), torch.tensor([[0.0, -4.0, 3.0, 0.0, 0.0, 0.0, 5.0, 0.1]]))
