import torch

from pruneviz.workflows.demo_training import train_demo


def test_training_is_deterministic(tmp_path):
    paths = [train_demo("cnn", tmp_path / run, epochs=2, log=lambda _: None) for run in ("a", "b")]
    a, b = (torch.load(p, weights_only=True)["state_dict"] for p in paths)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
