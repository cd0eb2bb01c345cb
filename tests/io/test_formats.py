import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.io.formats import FORMATS, ExportMeta, export_model, writable
from pruneviz.io.models import ModelOptions, load_model
from pruneviz.tasks.classification import Classification


@pytest.fixture(scope="module")
def cnn():
    return load_model("demo:cnn")


@pytest.mark.filterwarnings("ignore::FutureWarning")
# every format a classifier exports (semi-structured needs a GPU: its own test); the language models'
# own formats are tested in tests/io/test_hf.py and tests/io/test_compressed.py
@pytest.mark.parametrize(
    "fmt", [f for f in writable() if f in Classification.export_formats and f != "semi-structured"]
)
def test_every_format_loads_back_with_its_data_spec(cnn, tmp_path, fmt):
    meta = ExportMeta("demo:cnn", "digits", (1, 8, 8))
    path = export_model(cnn.module, tmp_path / f"m{FORMATS.get(fmt).suffix}", fmt, meta)
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
    with pytest.raises(PrunevizError, match="unknown file format 'tflite'"):
        export_model(cnn.module, tmp_path / "m", "tflite", ExportMeta("demo:cnn", "digits", (1, 8, 8)))
    with pytest.raises(PrunevizError, match="torchscript or onnx"):
        export_model(cnn.module, tmp_path / "m", "state_dict", ExportMeta(None, "digits", (1, 8, 8)))


def test_read_only_formats_are_not_offered_for_export(cnn, tmp_path):
    assert "exported-program" in FORMATS and "exported-program" not in writable()
    with pytest.raises(PrunevizError, match="reads exported-program files but does not write them"):
        export_model(
            cnn.module, tmp_path / "m.pt2", "exported-program", ExportMeta("demo:cnn", None, (1, 8, 8))
        )


def test_a_checkpoint_carries_what_it_says_about_itself(cnn, tmp_path):
    path = export_model(
        cnn.module, tmp_path / "m.pt", "torch-prune", ExportMeta("demo:cnn", "digits", (1, 8, 8))
    )
    assert load_model(f"file:{path}").info == {"form": "torch-prune"}


def test_hf_is_for_language_models(cnn, tmp_path):
    with pytest.raises(PrunevizError, match="format hf needs a Hugging Face model"):
        export_model(cnn.module, tmp_path / "dir", "hf", ExportMeta("demo:cnn", "digits", (1, 8, 8)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (this machine has none)")
def test_an_export_leaves_a_gpu_model_on_the_gpu_even_when_it_fails(cnn, tmp_path):
    model = load_model("demo:cnn").module.cuda()
    meta = ExportMeta("demo:cnn", "digits", (1, 8, 8))
    export_model(model, tmp_path / "m.ts", "torchscript", meta)
    with pytest.raises(PrunevizError):
        export_model(model, tmp_path / "m.pt", "state_dict", ExportMeta(None, "digits", (1, 8, 8)))
    assert all(p.device.type == "cuda" for p in model.parameters())
