"""The Prune page's int8 weights and the Export page's Hardware section, through AppTest."""

import pytest

from pruneviz.core.quantize import QUANTIZATIONS
from tests.e2e.test_pages import WORKSPACE, metric, open_page, wait_for


def test_int8_weights_are_live_on_the_prune_page_and_exported_as_int8():
    at = open_page("app.py")
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_layer_fc1").set_value(80).run()
    float_size = metric(at, "Sparse size")
    at.selectbox(key="prune_weights").set_value("int8").run()
    assert not at.exception
    session = at.session_state[WORKSPACE].session
    assert session.quantization is QUANTIZATIONS.get("int8")
    assert metric(at, "Sparse + int8 size") != float_size  # the size follows the int8 weights
    real = session.task.outputs(session.quantized_model(), session.data.x)
    accuracy = (real.argmax(1) == session.data.y).float().mean().item()
    assert metric(at, "Accuracy") == f"{100 * accuracy:.1f}%"  # the live figure is the int8 model's
    assert "quantize:\n  weights: int8" in at.session_state[WORKSPACE].recipe()

    at.switch_page("pages/8_Export.py").run()
    at.selectbox(key="ex_format").set_value("state_dict")
    at.button(key="ex_run").click().run()
    assert not at.exception and "verified" in at.success[0].value and "KiB on disk" in at.success[0].value
    at.selectbox(key="ex_format").set_value("onnx")
    at.button(key="ex_run").click().run()
    assert not at.exception
    assert any("format onnx holds float weights; int8 weights export as" in e.value for e in at.error)
    assert session.quantization is QUANTIZATIONS.get("int8")  # nothing lost


def test_hardware_section_times_the_masks_and_says_where_sparse_kernels_pay():
    at = open_page("app.py")
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_layer_fc1").set_value(95).run()
    at.switch_page("pages/8_Export.py").run()
    at.number_input(key="ex_hardware_batch").set_value(4)
    next(b for b in at.button if b.label == "Measure on this device").click().run()
    ws = at.session_state[WORKSPACE]
    job = ws.jobs["hardware"]
    wait_for(lambda: job.done)
    at.run()
    assert not at.exception and not at.error
    report = ws.hardware
    assert report.batches == (1, 4) and "(CPU)" in report.device
    assert report.layers[2].name == "fc1" and report.layers[2].sparsity == pytest.approx(0.95, abs=1e-3)
    chart = next(c for c in at.get("plotly_chart"))
    assert "Measured vs promised speed-up" in chart.proto.spec
    assert any("Break-even sparsity, measured" in m.value and "on this CPU" in m.value for m in at.markdown)
    totals, break_even = at.dataframe[0].value, at.dataframe[1].value
    assert list(totals["kernel"]) == ["dense", "csr", "bsr", "shrunk", "int8"]
    assert list(break_even["layer"]) == ["conv1", "conv2", "fc1", "fc2"]
    fc1 = break_even.set_index("layer").loc["fc1"]
    assert fc1["zeros now"] == "95%"
    assert all(v.startswith(("above ", "at any", "only above 99%")) for v in fc1.drop("zeros now").dropna())
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_layer_fc1").set_value(50).run()
    at.switch_page("pages/8_Export.py").run()
    assert ws.hardware is None  # timed on masks the session no longer has
