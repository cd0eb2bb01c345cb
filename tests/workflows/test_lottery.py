import csv
import io

import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.io.data import load_data
from pruneviz.io.models import load_model
from pruneviz.workflows.lottery import LotteryRun, adopt_ticket, lottery, reinitialise, to_csv
from pruneviz.workflows.recovery import TrainConfig
from pruneviz.workflows.session import Opaque, PruneSession


@pytest.fixture(scope="module")
def mlp():
    model = load_model("demo:mlp")
    return model.module, load_data(None, model, train=True), load_data(None, model)


CONFIG = TrainConfig(steps=60, eval_every=20)


def test_rounds_prune_the_remaining_weights_and_are_reproducible(mlp):
    model, train, val = mlp
    run = lottery(model, train, val, rounds=3, rate=0.2, config=CONFIG)
    first, masks = run.rounds, run.masks
    again = lottery(model, train, val, rounds=3, rate=0.2, config=CONFIG).rounds
    assert first == again  # a fixed seed gives the same run
    assert [r.round for r in first] == [0, 1, 2, 3] and first[0].remaining == 1.0
    # fc1, fc2 at 20% of what remains, fc3 (output) at 10%: 64*300 + 300*100 weights, 100*10 output
    expected = (19200 * 0.8**3 + 30000 * 0.8**3 + 1000 * 0.9**3) / 50200
    assert first[-1].remaining == pytest.approx(expected, abs=2e-3)
    assert masks["fc3"].float().mean().item() == pytest.approx(0.9**3, abs=2e-3)
    for r in first:
        assert 0 < r.accuracy <= 1 and r.early_stop_iter in (20, 40, 60)


def test_late_rewinding_and_csv(mlp):
    model, train, val = mlp
    run = lottery(model, train, val, rounds=1, rate=0.5, rewind_iter=20, config=CONFIG)
    results, state = run.rounds, run.state
    rows = list(csv.DictReader(io.StringIO(to_csv(results))))
    assert list(rows[0]) == [
        "round",
        "remaining",
        "accuracy",
        "early_stop_iter",
        "control_accuracy",
        "control_early_stop_iter",
    ]
    assert float(rows[1]["remaining"]) < 0.55 and "fc1.weight" in state


def test_reinitialise_is_seeded_and_changes_every_layer(mlp):
    model = mlp[0]
    a, b, c = reinitialise(model, 0), reinitialise(model, 0), reinitialise(model, 1)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert all(not torch.equal(x, y) for x, y in zip(a.parameters(), c.parameters()))
    assert all(not torch.equal(x, y) for x, y in zip(a.parameters(), model.parameters()))


def test_bad_settings(mlp):
    with pytest.raises(PrunevizError, match="rate"):
        lottery(*mlp, rounds=2, rate=1.5, config=CONFIG)


def test_adopting_the_ticket_makes_it_the_sessions_model(mlp):
    model, train, val = mlp
    run = lottery(model, train, val, rounds=1, rate=0.5, config=CONFIG)
    session = PruneSession(load_model("demo:mlp"), val)
    adopt_ticket(session, run)
    assert isinstance(session.origin, Opaque) and session.masks.keys() == run.masks.keys()
    ticket = reinitialise(model, 0)
    ticket.load_state_dict(run.state)
    expected, _ = session.task.quick(session.task.outputs(ticket, val.x), val.y)
    assert session.report().score == pytest.approx(expected, abs=1e-9)
    assert all(torch.equal(session.modules[n].weight, run.state[f"{n}.weight"]) for n in session.layer_names)
    with pytest.raises(PrunevizError, match="stopped lottery run has no ticket"):
        adopt_ticket(session, LotteryRun(run.rounds))
