import torch

from pruneviz.views.heatmap import weight_grid


def test_linear_and_small_conv_layouts():
    assert weight_grid(torch.ones(10, 64)).values.shape == (10, 64)
    g = weight_grid(torch.arange(16 * 2 * 9.0).view(16, 2, 3, 3))
    assert g.values.shape == (16, 18) and g.cols == "in channels x kernel" and g.note == ""
    assert g.values[0, :9].tolist() == list(range(9))


def test_large_conv_uses_kernel_norms_then_downsamples():
    g = weight_grid(torch.ones(64, 64, 3, 3), max_cells=10_000)
    assert g.values.shape == (64, 64) and "kernel-norm" in g.note
    assert torch.allclose(g.values, torch.full((64, 64), 3.0))
    huge = weight_grid(torch.ones(1000, 1000), max_cells=40_000)
    assert huge.values.numel() <= 40_000 and "averaged" in huge.note
