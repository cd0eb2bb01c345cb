"""Sparse + int8: the live metric is the quantised model's, masks move under the quantisation, and the
export keeps the int8 weights and reloads to the same figure."""

import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.core.quantize import QUANTIZATIONS, is_quantized
from pruneviz.io.formats import export_model
from pruneviz.io.models import weights_digest
from pruneviz.workflows.apply import apply_and_measure, export_and_verify
from pruneviz.workflows.recipe import apply_recipe, parse_recipe, session_document
from pruneviz.workflows.session import LayerPlan, open_session

INT8 = QUANTIZATIONS.get("int8")


def test_the_live_metric_is_the_torchao_models(cnn_session):
    session = cnn_session
    session.apply_layer_plans({n: LayerPlan(0.6) for n in session.modules})
    session.quantize("int8")
    assert session.quantization is INT8
    live = session.outputs()
    real = session.task.outputs(session.quantized_model(), session.data.x)
    assert is_quantized(session.quantized_model().fc1.weight)
    assert torch.allclose(live, real, atol=1e-4)
    assert not torch.allclose(live, session.task.outputs(session.model.module, session.data.x), atol=1e-3)


def test_masks_move_under_the_quantisation_and_float_comes_back_bit_identical(cnn_session):
    session = cnn_session
    session.apply_layer_plans({"fc1": LayerPlan(0.5)})
    before = weights_digest(session.working)
    session.quantize("int8")
    assert not is_quantized(session.modules["conv1"].weight)  # convolutions stay float
    session.apply_layer_plans({"fc1": LayerPlan(0.8)})
    exact = session.dense_weights["fc1"] * session.masks["fc1"]
    assert torch.equal(session.modules["fc1"].weight, INT8.rounded(exact))
    session.apply_layer_plans({"fc1": LayerPlan(0.5)})
    session.quantize(None)
    assert weights_digest(session.working) == before


def test_undo_keeps_the_quantisation_and_training_drops_it(cnn_session):
    session = cnn_session
    session.apply_layer_plans({"fc1": LayerPlan(0.5)})
    session.quantize("int8")
    shown = session.modules["fc1"].weight.clone()
    saved = session.snapshot()
    session.quantize(None)
    session.restore(saved)
    assert session.quantization is INT8 and torch.equal(session.modules["fc1"].weight, shown)
    session.writable()  # what a fine-tune takes: the exact weights, float
    assert session.quantization is None
    assert torch.equal(session.modules["fc1"].weight, session.dense_weights["fc1"] * session.masks["fc1"])


def test_size_counts_one_byte_per_kept_int8_weight(cnn_session):
    session = cnn_session
    session.apply_layer_plans({"fc1": LayerPlan(0.9)})
    float_bytes = session.report().size_bytes_sparse
    session.quantize("int8")
    int8_bytes = session.report().size_bytes_sparse
    # fc1 (64 x 512, 10% kept): 4-byte values become 1-byte ones, plus a 4-byte scale per row
    assert float_bytes - int8_bytes > 3 * 0.1 * 64 * 512 - 4 * 64


def test_recipes_say_quantize_and_refuse_what_it_cannot_do(cnn_session):
    recipe = parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.5}, "quantize": {"weights": "int8"}})
    assert recipe.quantize == "int8"
    apply_recipe(cnn_session, recipe)
    assert cnn_session.quantization is INT8
    assert session_document(cnn_session)["quantize"] == {"weights": "int8"}
    for bad, message in (
        ({"weights": "int3"}, "weights must be one of int4, int8"),
        ({"activations": "int8"}, "unknown key 'activations'"),
        ("int8", "must be a mapping"),
    ):
        with pytest.raises(PrunevizError, match=message):
            parse_recipe({"pruneviz": 1, "quantize": bad})
    with pytest.raises(PrunevizError, match="not quantised by pruneviz yet"):
        parse_recipe({"pruneviz": 1, "structure": {"filters": 0.2}, "quantize": {"weights": "int8"}})


def test_the_export_keeps_int8_weights_and_reloads_to_the_same_figure(tmp_path):
    session = open_session("demo:cnn", device="cpu")
    recipe = parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.5}, "quantize": {"weights": "int8"}})
    applied = apply_and_measure(session, recipe)
    check = export_and_verify(session, applied, tmp_path / "int8.pt", "state_dict")
    assert check.ok and check.score == pytest.approx(session.report().score)
    reloaded = open_session(f"file:{tmp_path / 'int8.pt'}", device="cpu")  # pruned and measured as floats
    assert reloaded.report().score == pytest.approx(check.score, abs=1 / len(session.data))
    float_file = export_model(session.writable(), tmp_path / "float.pt", "state_dict", session.export_meta())
    assert (tmp_path / "int8.pt").stat().st_size < 0.5 * float_file.stat().st_size
    with pytest.raises(PrunevizError, match="format onnx holds float weights; int8 weights export as"):
        export_model(applied.model, tmp_path / "x.onnx", "onnx", applied.meta)
