import pytest

from pruneviz.io.data import load_data
from pruneviz.io.models import load_model
from pruneviz.workflows.lessons import LESSONS
from pruneviz.workflows.session import PruneSession


@pytest.fixture(scope="module")
def demo():
    model = load_model("demo:cnn")
    return PruneSession(model, load_data(None, model)), load_data(None, model, train=True)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.title)
def test_every_lesson_example_runs_and_leaves_the_model_alone(demo, lesson):
    session, train = demo
    before = {k: v.clone() for k, v in session.model.module.state_dict().items()}
    rows = lesson.example(session, train)
    assert rows and all(set(r) == {"configuration", "weights pruned", "accuracy"} for r in rows)
    assert all(r["accuracy"].endswith("%") for r in rows)
    assert all((before[k] == v).all() for k, v in session.model.module.state_dict().items())
    assert session.masks == {}


def _accuracy(row):
    return float(row["accuracy"].rstrip("%"))


def test_lottery_ticket_rewinding_beats_random_reinit(demo):
    rows = next(lesson for lesson in LESSONS if "lottery" in lesson.title).example(*demo)
    rewound, reinit = rows[1], rows[2]
    assert "rewound" in rewound["configuration"] and "random" in reinit["configuration"]
    assert _accuracy(rewound) > _accuracy(reinit)


def test_criteria_lesson_shows_random_is_worst(demo):
    rows = next(lesson for lesson in LESSONS if "Gradient" in lesson.title).example(*demo)
    by_name = {r["configuration"].split()[-1]: _accuracy(r) for r in rows}
    assert by_name["random"] < by_name["magnitude"]
