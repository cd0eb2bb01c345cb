import torch

from pruneviz.data import load_data
from pruneviz.recovery import train_masked
from pruneviz.session import GlobalPlan


def test_training_keeps_pruned_weights_at_zero_and_recovers_accuracy(cnn_session):
    cnn_session.apply_global(GlobalPlan(0.95))
    pruned = cnn_session.report()
    train = load_data("digits", cnn_session.model, train=True)
    zeros = {n: ~m for n, m in cnn_session.masks.items()}
    train_masked(
        cnn_session.working, cnn_session.modules, cnn_session.masks, train.x, train.y, epochs=3, lr=3e-3
    )
    cnn_session.adopt_weights()
    for name, off in zeros.items():
        assert (cnn_session.modules[name].weight[off] == 0).all()
    recovered = cnn_session.report()
    assert recovered.params_nonzero <= pruned.params_nonzero
    assert recovered.accuracy > pruned.accuracy + 0.1
    assert not cnn_session.working.training


def test_training_is_deterministic(cnn_session):
    train = load_data("digits", cnn_session.model, train=True, limit=256)
    cnn_session.apply_global(GlobalPlan(0.5))
    start = {k: v.clone() for k, v in cnn_session.working.state_dict().items()}
    results = []
    for _ in range(2):
        cnn_session.working.load_state_dict(start)
        train_masked(cnn_session.working, cnn_session.modules, cnn_session.masks, train.x, train.y, epochs=1)
        results.append({k: v.clone() for k, v in cnn_session.working.state_dict().items()})
    assert all(torch.equal(results[0][k], results[1][k]) for k in start)
