"""A workshop room in one process: many AppTest sessions over the one cached baseline.

Every attendee drags sliders, builds a shrunk model, fine-tunes and hunts a lottery ticket while the
others do the same: AppTest runs one script at a time per process, so the attendees take turns step by
step, while their fine-tunes and lottery rounds run side by side in background threads. Afterwards the
shared baseline must be bit-for-bit the shipped weights, and the numbers each attendee saw must be the
ones a fresh engine computes for that attendee's own sliders. (Truly parallel browser sessions on a real
server: benchmarks/workshop_load.py.)
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from pruneviz.core.humanize import count, percent
from pruneviz.io.models import load_model, weights_digest
from pruneviz.workflows.session import LayerPlan, open_session
from tests.e2e.test_pages import WORKSPACE, metric, open_page

ATTENDEES = 6
LAYERS = ("conv1", "conv2", "fc1", "fc2")


def attend(seed: int, seen: list) -> Iterator[None]:
    """One attendee's busy session, yielding between steps; appends the Prune sliders (percent) and
    the metrics shown for them to ``seen``."""
    rng = random.Random(seed)
    at = open_page("app.py")
    at.switch_page("pages/4_Structured.py").run()
    at.slider(key="st_layer_conv2").set_value(rng.choice([25, 50, 75])).run()
    at.button(key="st_apply").click().run()
    assert not at.exception and "as predicted" in at.success[0].value
    yield
    at.switch_page("pages/3_Prune.py").run()
    for _ in range(10):
        at.slider(key=f"prune_layer_{rng.choice(LAYERS)}").set_value(rng.randrange(100)).run()
        yield
    sliders = {n: at.slider(key=f"prune_layer_{n}").value for n in LAYERS}
    shown = metric(at, "Accuracy"), metric(at, "Non-zero params")
    at.switch_page("pages/6_Recovery.py").run()
    at.number_input(key="ft_steps").set_value(20)
    next(b for b in at.button if b.label == "Fine-tune").click().run()
    job = at.session_state[WORKSPACE].jobs["finetune"]
    yield  # the others carry on while this fine-tune runs
    assert job.wait(300) and job.error is None
    at.switch_page("pages/7_Lottery_ticket.py").run()
    at.number_input(key="lt_rounds").set_value(1)
    at.number_input(key="lt_steps").set_value(20)
    next(b for b in at.button if b.label == "Find a ticket").click().run()
    job = at.session_state[WORKSPACE].jobs["lottery"]
    yield
    assert job.wait(300) and job.error is None
    at.run()
    at.button(key="lt_load").click().run()
    assert not at.exception
    seen.append((sliders, *shown))


@pytest.fixture(scope="module")
def room():
    first = open_page("pages/3_Prune.py")
    baseline = first.session_state[WORKSPACE].session.model.module  # the server-wide cached object
    results: list = []
    attendees = [attend(seed, results) for seed in range(ATTENDEES)]
    while attendees:  # round robin until everyone is done
        attendees = [a for a in attendees if next(a, StopIteration) is not StopIteration]
    return baseline, results


def test_the_cached_baseline_is_never_mutated_by_a_busy_room(room):
    baseline, _ = room
    assert weights_digest(baseline) == weights_digest(load_model("demo:cnn").module)


def test_each_attendee_saw_the_numbers_of_their_own_sliders(room):
    _, results = room
    assert len({tuple(s.values()) for s, *_ in results}) == ATTENDEES  # six different configurations
    fresh = open_session("demo:cnn", device="cpu")
    for sliders, accuracy, params in results:
        fresh.apply_layer_plans({n: LayerPlan(v / 100) for n, v in sliders.items()})
        report = fresh.report()
        assert (accuracy, params) == (percent(report.score), count(report.params_nonzero)), sliders
