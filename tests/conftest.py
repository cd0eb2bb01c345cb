"""Shared fixtures: real demo models and the digits validation set (shipped, no downloads)."""

import pytest
import torch
from hypothesis import settings

from pruneviz.io.data import load_data
from pruneviz.io.models import load_model
from pruneviz.workflows.session import PruneSession

# Fuzz tests draw the same examples every run: CI results must not depend on luck. (Explore new ones with
# `pytest tests/test_recipe_fuzz.py --hypothesis-seed=N`.)
settings.register_profile("pruneviz", derandomize=True)
settings.load_profile("pruneviz")


@pytest.fixture(scope="session", autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture
def cnn_session() -> PruneSession:
    model = load_model("demo:cnn")
    return PruneSession(model, load_data(None, model))


@pytest.fixture
def resnet_session() -> PruneSession:
    model = load_model("demo:resnet")
    return PruneSession(model, load_data(None, model, limit=128))
