"""The hardware report: each layer timed on each kernel at its real input shape, break-even measured."""

import json

import pytest
import torch

from pruneviz.workflows.hardware import TimingCache, crossing, grid_weight, input_shapes, measure_hardware
from pruneviz.workflows.session import LayerPlan


@pytest.fixture
def sparse_cnn(cnn_session):
    cnn_session.apply_layer_plans({n: LayerPlan(0.9) for n in cnn_session.modules})
    return cnn_session


def test_layers_are_timed_at_the_input_shapes_they_really_get(cnn_session):
    assert input_shapes(cnn_session) == {"conv1": (1, 8, 8), "conv2": (16, 8, 8), "fc1": (512,), "fc2": (64,)}


def test_every_layer_has_every_kernel_timed_or_a_reason(sparse_cnn, tmp_path):
    report = measure_hardware(sparse_cnn, batches=(1, 4), repeats=2, cache=TimingCache(tmp_path / "k.json"))
    assert [x.name for x in report.layers] == ["conv1", "conv2", "fc1", "fc2"]
    for layer in report.layers:
        assert layer.sparsity == pytest.approx(0.9, abs=0.01)
        dense, csr = layer.row("dense"), layer.row("csr")
        assert all(dense.ms[b] > 0 for b in (1, 4)) and dense.speedup(1) == 1.0
        assert csr.promised_macs == pytest.approx(10, rel=0.05)  # one weight in ten is multiplied
        assert csr.speedup(4) == pytest.approx(dense.ms[4] / csr.ms[4])
        assert set(csr.break_even) == {1, 4}
        assert all(at is None or 0.0 <= at <= 0.99 for at in csr.break_even.values())
        assert "not a CUDA GPU" in layer.row("2:4").unavailable
    assert "Linear weights only" in report.layers[0].row("int8").unavailable
    assert report.layers[2].row("int8").ms[1] > 0
    totals = report.totals()
    assert totals["dense"]["speedup"] == {1: 1.0, 4: 1.0} and "2:4" not in totals
    assert totals["int8"]["layers"] == 2  # fc1, fc2; the convolutions stay dense in its total
    assert len(report.break_even_lines()) == 4 * 2 + 2 * 2  # CSR everywhere, BSR on conv2 and fc1
    json.dumps(report.as_dict())
    pays = dict(report.where_it_pays())
    assert list(pays) == [
        "structured (filters, heads, channels, blocks removed)",
        "2:4 semi-structured",
        "unstructured (CSR)",
        "int8 weights (torchao)",
    ]
    assert "not timed here: device cpu is not a CUDA GPU" in pays["2:4 semi-structured"]
    assert f"×{totals['int8']['speedup'][4]:.2f} here at batch 4 (2 layers)" in pays["int8 weights (torchao)"]
    assert (
        f"×{totals['shrunk']['speedup'][4]:.2f} here"
        in pays["structured (filters, heads, channels, blocks removed)"]
    )
    evens = [layer.row("csr").break_even[4] for layer in report.layers]
    if any(at is not None for at in evens):  # the measured range, or the sentence saying there is none
        low = min(at for at in evens if at is not None)
        assert f"({low:.0%}–" in pays["unstructured (CSR)"]
    else:
        assert pays["unstructured (CSR)"].startswith("nowhere measured here")


def test_a_second_report_on_this_device_reads_the_cache(sparse_cnn, tmp_path):
    path = tmp_path / "kernels.json"
    first = measure_hardware(sparse_cnn, batches=(1, 2), kernels=("csr",), repeats=2, cache=TimingCache(path))
    again = measure_hardware(sparse_cnn, batches=(1, 2), kernels=("csr",), repeats=2, cache=TimingCache(path))
    assert [r.ms for x in again.layers for r in x.rows] == [r.ms for x in first.layers for r in x.rows]
    fresh = measure_hardware(sparse_cnn, batches=(1, 2), kernels=("csr",), repeats=2)
    assert [r.ms for x in fresh.layers for r in x.rows] != [r.ms for x in first.layers for r in x.rows]
    assert [r.kernel for r in first.layers[0].rows] == ["dense", "csr"]  # its reference comes along


def test_break_even_is_where_the_kernel_stays_faster():
    grid = [0.0, 0.5, 0.9, 0.99]
    assert crossing(grid, [3.0, 2.0, 0.5, 0.2]) == pytest.approx(0.5 + 0.4 * (1.0 / 1.5))
    assert crossing(grid, [0.9, 1.2, 0.8, 0.5]) == pytest.approx(0.5 + 0.4 * (0.2 / 0.4))  # one lucky point
    assert crossing(grid, [3.0, 2.0, 1.5, 1.1]) is None
    assert crossing(grid, [0.9, 0.8, 0.5, 0.2]) == 0.0


def test_the_break_even_grid_times_exact_sparsities_whatever_the_layers_mask():
    masked = torch.zeros(64, 128)
    masked[:, :13] = 1.0  # a layer already 90% zeros: the grid's 0% point must still be dense
    for s in (0.0, 0.5, 0.9, 0.99):
        w = grid_weight(masked, s)
        assert int((w == 0).sum()) == int(s * w.numel()) and w.shape == masked.shape
