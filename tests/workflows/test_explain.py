"""Input attributions (Captum's Integrated Gradients) of the dense and the pruned model."""

import pytest
import torch
from torch import nn

from pruneviz.core.attribution import input_attribution
from pruneviz.core.errors import PrunevizError
from pruneviz.io.data import DataOptions
from pruneviz.workflows.explain import explain_sample
from pruneviz.workflows.session import LayerPlan, open_session


def test_a_linear_models_attribution_is_input_times_weight():
    """Integrated Gradients from a zero baseline is exactly x * w for a linear logit."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 4, 5))
    x = torch.randn(2, 3, 4)
    found = input_attribution(model, x, target=3)
    expected = (x * model[1].weight[3].detach().reshape(2, 3, 4)).abs().sum(0)  # channels summed
    assert found.shape == (3, 4)
    assert torch.allclose(found, expected, atol=1e-5)


def test_the_pruned_map_follows_the_masks_and_the_dense_map_stays(cnn_session):
    before = explain_sample(cnn_session, 7)
    assert before.label == int(cnn_session.data.y[7]) and before.sample.shape == (8, 8)
    assert torch.allclose(before.dense, before.pruned)  # nothing pruned yet: one model
    cnn_session.prune_layer("fc1", LayerPlan(0.97))
    after = explain_sample(cnn_session, 7)
    assert torch.equal(after.dense, before.dense)
    assert not torch.allclose(after.pruned, before.pruned, atol=1e-4)


def test_language_models_and_missing_samples_are_refused_in_one_line(cnn_session):
    with pytest.raises(PrunevizError, match="does not exist"):
        explain_sample(cnn_session, len(cnn_session.data))
    lm = open_session("demo:gpt", data_options=DataOptions(limit=8), device="cpu")
    with pytest.raises(PrunevizError, match="need class targets"):
        explain_sample(lm, 0)
