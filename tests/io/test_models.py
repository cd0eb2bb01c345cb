import pytest
import torch
from torch import nn

from pruneviz.core.errors import PrunevizError
from pruneviz.io.checkpoint import save_checkpoint
from pruneviz.io.demo import DemoCNN
from pruneviz.io.models import ModelOptions, clone_module, load_model, weights_digest


@pytest.mark.parametrize("name", ["cnn", "mlp", "resnet"])
def test_demo_models_load_shipped_weights_in_eval_mode(name):
    loaded = load_model(f"demo:{name}")
    assert loaded.input_shape == (1, 8, 8) and loaded.num_classes == 10
    assert loaded.default_data == "digits" and not loaded.module.training
    untrained = load_model(f"demo:{name}", ModelOptions(weights="none"))
    a, b = loaded.module.state_dict(), untrained.module.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_torchvision_random_init_is_reproducible():
    a = load_model("torchvision:resnet18").module.state_dict()["fc.weight"]
    b = load_model("torchvision:resnet18").module.state_dict()["fc.weight"]
    assert torch.equal(a, b)


def test_torchvision_weights_from_local_state_dict(tmp_path):
    state = load_model("torchvision:squeezenet1_0").module.state_dict()
    state["classifier.1.bias"] = torch.full_like(state["classifier.1.bias"], 7.0)
    torch.save(state, tmp_path / "sq.pth")
    loaded = load_model("torchvision:squeezenet1_0", ModelOptions(weights=str(tmp_path / "sq.pth")))
    assert (loaded.module.classifier[1].bias == 7.0).all()


def test_unknown_torchvision_model_is_a_clear_error():
    with pytest.raises(PrunevizError, match="not a torchvision classification model"):
        load_model("torchvision:resnet999")


@pytest.mark.parametrize("spec", ["demo", "resnet18", "nosuch:thing"])
def test_malformed_specs(spec):
    with pytest.raises(PrunevizError):
        load_model(spec)


def _digits_input():
    return torch.rand(2, 1, 8, 8)


def test_file_checkpoint_carries_specs(tmp_path):
    cnn = load_model("demo:cnn").module
    path = save_checkpoint(tmp_path / "m.pt", cnn, "demo:cnn", "digits")
    loaded = load_model(f"file:{path}")
    assert loaded.default_data == "digits" and loaded.arch_spec == "demo:cnn"
    x = _digits_input()
    assert torch.equal(loaded.module(x), cnn(x))


@pytest.mark.filterwarnings("ignore:`torch.jit")
def test_file_torchscript_and_exported_program(tmp_path):
    cnn = load_model("demo:cnn").module
    x = _digits_input()
    torch.jit.save(torch.jit.script(cnn), tmp_path / "m.ts")
    torch.export.save(torch.export.export(cnn, (x,)), tmp_path / "m.pt2")
    for name in ("m.ts", "m.pt2"):
        loaded = load_model(f"file:{tmp_path / name}")
        assert torch.allclose(loaded.module(x), cnn(x), atol=1e-6), name


def test_bare_state_dict_needs_arch(tmp_path):
    torch.save(DemoCNN().state_dict(), tmp_path / "sd.pt")
    with pytest.raises(PrunevizError, match="--arch"):
        load_model(f"file:{tmp_path / 'sd.pt'}")
    loaded = load_model(f"file:{tmp_path / 'sd.pt'}", ModelOptions(arch="demo:cnn"))
    assert isinstance(loaded.module, DemoCNN)


def test_state_dict_for_wrong_architecture(tmp_path):
    torch.save(DemoCNN().state_dict(), tmp_path / "sd.pt")
    with pytest.raises(PrunevizError, match="does not fit"):
        load_model(f"file:{tmp_path / 'sd.pt'}", ModelOptions(arch="demo:mlp"))


def test_pickled_module_needs_explicit_trust(tmp_path):
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), tmp_path / "pickled.pt")
    with pytest.raises(PrunevizError, match="--trust-pickle"):
        load_model(f"file:{tmp_path / 'pickled.pt'}")
    loaded = load_model(f"file:{tmp_path / 'pickled.pt'}", ModelOptions(trust_pickle=True))
    assert isinstance(loaded.module, nn.Sequential)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(PrunevizError, match="not found"):
        load_model(f"file:{tmp_path / 'absent.pt'}")
    (tmp_path / "junk.pt").write_bytes(b"\x00not a checkpoint at all" * 10)
    with pytest.raises(PrunevizError, match="corrupt"):
        load_model(f"file:{tmp_path / 'junk.pt'}")
    good = save_checkpoint(tmp_path / "good.pt", DemoCNN(), "demo:cnn", "digits")
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:2000])
    with pytest.raises(PrunevizError, match="corrupt"):
        load_model(f"file:{tmp_path / 'cut.pt'}")


def test_python_factory_with_dataset(tmp_path, monkeypatch):
    (tmp_path / "mymodels.py").write_text(
        "import torch\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))\n"
        "    return model, (torch.randn(30, 12), torch.arange(30) % 3)\n"
        "def not_a_model():\n"
        "    return 42\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = load_model("python:mymodels:build")
    assert loaded.default_data == "model" and loaded.dataset is not None
    with pytest.raises(PrunevizError, match=r"not an nn\.Module"):
        load_model("python:mymodels:not_a_model")
    with pytest.raises(PrunevizError, match="cannot import"):
        load_model("python:no_such_module_xyz:build")


def test_weights_digest_changes_with_any_single_weight():
    model = load_model("demo:cnn").module
    before = weights_digest(model)
    assert weights_digest(clone_module(model)) == before
    with torch.no_grad():
        model.fc2.bias[3] += 1e-6
    assert weights_digest(model) != before
