from pruneviz.io.data import load_data
from pruneviz.io.demo import DEMO_ARCHITECTURES
from pruneviz.io.models import load_model
from pruneviz.workflows.session import PruneSession


def test_shipped_demo_weights_reach_95_percent():
    for name in DEMO_ARCHITECTURES.names():
        model = load_model(f"demo:{name}")
        accuracy = PruneSession(model, load_data("digits", model)).report().score
        assert accuracy >= 0.95, name
