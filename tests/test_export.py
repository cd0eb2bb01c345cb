import pytest
import torch

from pruneviz.errors import PrunevizError
from pruneviz.export import EXPORTERS, ExportMeta, export_model
from pruneviz.models import ModelOptions, load_model


@pytest.fixture(scope="module")
def cnn():
    return load_model("demo:cnn")


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("fmt", [f for f in EXPORTERS.names() if f != "semi-structured"])  # GPU: own test
def test_every_format_loads_back_with_its_data_spec(cnn, tmp_path, fmt):
    meta = ExportMeta("demo:cnn", "digits", (1, 8, 8))
    suffix = {"onnx": "onnx", "safetensors": "safetensors"}.get(fmt, "pt")
    path = export_model(cnn.module, tmp_path / f"m.{suffix}", fmt, meta)
    options = ModelOptions(trust_pickle=fmt == "full")
    loaded = load_model(f"file:{path}", options)
    assert loaded.default_data == "digits"
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), cnn.module(x), atol=1e-5)


def test_full_format_is_a_pickle_and_needs_trust(cnn, tmp_path):
    path = export_model(cnn.module, tmp_path / "m.pt", "full", ExportMeta("demo:cnn", "digits", (1, 8, 8)))
    with pytest.raises(PrunevizError, match="--trust-pickle"):
        load_model(f"file:{path}")


def test_unknown_format_and_unrebuildable_state_dict(cnn, tmp_path):
    with pytest.raises(PrunevizError, match="unknown export format"):
        export_model(cnn.module, tmp_path / "m", "tflite", ExportMeta("demo:cnn", "digits", (1, 8, 8)))
    with pytest.raises(PrunevizError, match="torchscript or onnx"):
        export_model(cnn.module, tmp_path / "m", "state_dict", ExportMeta(None, "digits", (1, 8, 8)))
