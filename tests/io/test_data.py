import pytest
import torch
from PIL import Image

from pruneviz.core.errors import PrunevizError
from pruneviz.io.data import digits_split, digits_table, load_data
from pruneviz.io.models import load_model


@pytest.fixture(scope="module")
def cnn():
    return load_model("demo:cnn")


def test_the_digits_are_scikit_learns_to_the_bit():
    from sklearn.datasets import load_digits  # what the table is read without

    digits = load_digits()
    table = digits_table()
    assert (table[:, :-1] == digits.data).all() and (table[:, -1].astype(int) == digits.target).all()


def test_digits_split_is_fixed_and_disjoint():
    (xt, _yt), (xv, _yv) = digits_split()
    assert len(xt) + len(xv) == 1797 and xv.shape[1:] == (1, 8, 8)
    assert xv.min() >= 0.0 and xv.max() <= 1.0
    (_, _), (xv2, _) = digits_split()
    assert torch.equal(xv, xv2)
    train_rows = {tuple(r.flatten().tolist()) for r in xt}
    overlap = sum(tuple(r.flatten().tolist()) in train_rows for r in xv)
    assert overlap < 10  # load_digits has a few exact duplicate images; the split itself is disjoint


def test_default_data_for_demo_is_digits_validation(cnn):
    data = load_data(None, cnn)
    assert data.spec == "digits" and len(data) == 360 and data.num_classes == 10


def test_limit_is_a_fixed_seeded_subset(cnn):
    a, b = load_data("digits", cnn, limit=50), load_data("digits", cnn, limit=50)
    assert len(a) == 50 and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    with pytest.raises(PrunevizError, match="positive"):
        load_data("digits", cnn, limit=0)


def test_synthetic_is_labelled_by_the_model_itself(cnn):
    data = load_data("synthetic:1x8x8:40", cnn)
    assert data.x.shape == (40, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(data.y, cnn.module(data.x).argmax(1))
    again = load_data("synthetic:1x8x8:40", cnn)
    assert torch.equal(data.x, again.x)


@pytest.mark.parametrize("spec", ["synthetic:3xAx8:4", "synthetic:0x8x8:4", "synthetic:1x8x8:-3"])
def test_malformed_synthetic(cnn, spec):
    with pytest.raises(PrunevizError, match="synthetic"):
        load_data(spec, cnn)


def test_wrong_shape_data_is_a_clear_error(cnn):
    with pytest.raises(PrunevizError, match="channel"):
        load_data("synthetic:3x8x8:4", cnn)
    with pytest.raises(PrunevizError, match="cannot take samples of shape"):
        load_data("synthetic:1x16x16:4", cnn)


def test_folder_of_images(tmp_path):
    model = load_model("torchvision:squeezenet1_0")
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (40, 30), color=(i * 40, 100, 200)).save(tmp_path / cls / f"{i}.png")
    model.input_shape = (3, 32, 32)
    data = load_data(f"folder:{tmp_path}", model)
    assert data.x.shape == (6, 3, 32, 32) and data.y.tolist() == [0, 0, 0, 1, 1, 1]


def test_torchvision_dataset_missing_root_says_how_to_download(cnn, tmp_path):
    with pytest.raises(PrunevizError, match=":download"):
        load_data(f"torchvision:MNIST:{tmp_path}", cnn)
    with pytest.raises(PrunevizError, match="CIFAR10"):
        load_data("torchvision:ImageNet:/x", cnn)


def test_python_data_function(cnn, tmp_path, monkeypatch):
    (tmp_path / "mydata.py").write_text(
        "import torch\ndef val():\n    return torch.rand(12, 1, 8, 8), torch.arange(12) % 10\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    data = load_data("python:mydata:val", cnn)
    assert len(data) == 12 and data.y.tolist()[:3] == [0, 1, 2]


def test_labels_beyond_the_models_classes_are_rejected(cnn, tmp_path, monkeypatch):
    (tmp_path / "manyclasses.py").write_text(
        "import torch\ndef val():\n    return torch.rand(4, 1, 8, 8), torch.tensor([0, 3, 12, 1])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PrunevizError, match="labels up to 12"):
        load_data("python:manyclasses:val", cnn)
