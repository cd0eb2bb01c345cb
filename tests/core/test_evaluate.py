"""Incremental re-evaluation must give exactly the logits of a full forward."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pruneviz.core.evaluate import Evaluator, traced_graph
from pruneviz.core.masks import unstructured_mask
from pruneviz.io.data import load_data
from pruneviz.io.models import load_model
from pruneviz.workflows.session import LayerPlan, PruneSession


def _full_forward(model, x, batch_size):
    with torch.inference_mode():
        return torch.cat([model(b) for b in x.split(batch_size)])


@pytest.mark.parametrize(
    ("spec", "data"),
    [
        ("demo:cnn", None),
        ("demo:mlp", None),
        ("demo:resnet", None),
        ("torchvision:resnet18", "synthetic:3x64x64:48"),
        ("torchvision:mobilenet_v2", "synthetic:3x64x64:24"),
    ],
)
def test_incremental_equals_full_forward_exactly(spec, data):
    model = load_model(spec)
    session = PruneSession(model, load_data(data, model))
    assert session.evaluator.incremental
    session.outputs()
    names = session.layer_names
    # change layers one at a time, including the first and the last, then several at once
    for i, name in enumerate([names[0], names[len(names) // 2], names[-1]]):
        session.prune_layer(name, LayerPlan(0.3 + 0.2 * i))
        incremental = session.outputs()
        assert torch.equal(incremental, _full_forward(session.working, session.data.x, 256)), name
    for name in names[1::4]:
        session.prune_layer(name, LayerPlan(0.6))
    assert torch.equal(session.outputs(), _full_forward(session.working, session.data.x, 256))


def test_incremental_really_skips_upstream_work(cnn_session):
    calls = []
    cnn_session.modules["conv1"].register_forward_hook(lambda *a: calls.append("conv1"))
    cnn_session.modules["fc2"].register_forward_hook(lambda *a: calls.append("fc2"))
    cnn_session.outputs()
    calls.clear()
    cnn_session.prune_layer("fc2", LayerPlan(0.5))
    cnn_session.outputs()
    assert calls == ["fc2"] * len(cnn_session.evaluator.batches)  # conv1 was not re-run


class _InplaceNet(nn.Module):
    """In-place ops downstream of a cached activation must not corrupt the cache."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.c = nn.Linear(4, 2)

    def forward(self, x):
        h = self.a(x)
        y = self.b(h)
        y += h  # reads the cached h in place of a copy
        return self.c(F.relu(y, inplace=True))


class _Dynamic(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: not traceable
            return self.fc(x)
        return -self.fc(x)


def test_inplace_ops_keep_cache_intact():
    torch.manual_seed(0)
    model = _InplaceNet().eval()
    x = torch.randn(10, 4)
    ev = Evaluator(model, x, ["a", "b", "c"], batch_size=4)
    ev.full()
    for name in ["b", "b", "c", "a", "b"]:
        w = getattr(model, name).weight
        with torch.no_grad():
            w.mul_(unstructured_mask(w.abs(), 0.25))
        assert torch.equal(ev.update([name]), _full_forward(model, x, 4))


def test_untraceable_model_falls_back_to_full_forward():
    model = _Dynamic().eval()
    x = torch.randn(6, 4)
    ev = Evaluator(model, x, ["fc"])
    assert not ev.incremental and "torch.fx" in ev.fallback_reason
    ev.full()
    with torch.no_grad():
        model.fc.weight.zero_()
    assert torch.equal(ev.update(["fc"]), _full_forward(model, x, 256))


def test_memory_budget_exceeded_falls_back():
    torch.manual_seed(0)
    model = _InplaceNet().eval()
    x = torch.randn(10, 4)
    ev = Evaluator(model, x, ["a", "b", "c"], memory_budget=16)
    logits = ev.full()
    assert not ev.incremental and "budget" in ev.fallback_reason
    assert torch.equal(ev.update(["c"]), logits)


def test_working_copies_and_forks_share_the_baselines_trace(cnn_session):
    """torch.fx patches every module's __call__ while it traces, which breaks forward passes running
    in other threads (a background fine-tune): a session's forks must not trace again."""
    fork = cnn_session.fork()
    assert fork.evaluator.graph is cnn_session.evaluator.graph is traced_graph(cnn_session.model.module)
    assert fork.evaluator.model is not cnn_session.evaluator.model
