import torch

from pruneviz.data import load_data
from pruneviz.demo import DEMO_ARCHITECTURES, train_demo
from pruneviz.models import load_model
from pruneviz.session import PruneSession


def test_shipped_demo_weights_reach_95_percent():
    for name in DEMO_ARCHITECTURES.names():
        model = load_model(f"demo:{name}")
        accuracy = PruneSession(model, load_data("digits", model)).report().accuracy
        assert accuracy >= 0.95, name


def test_training_is_deterministic(tmp_path):
    paths = [train_demo("cnn", tmp_path / run, epochs=2, log=lambda _: None) for run in ("a", "b")]
    a, b = (torch.load(p, weights_only=True)["state_dict"] for p in paths)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
