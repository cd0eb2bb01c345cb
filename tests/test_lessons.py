import pytest

from pruneviz.data import load_data
from pruneviz.lessons import LESSONS
from pruneviz.models import load_model


@pytest.fixture(scope="module")
def demo():
    model = load_model("demo:cnn")
    return model, load_data(None, model), load_data(None, model, train=True)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.title)
def test_every_lesson_example_runs_and_leaves_the_model_alone(demo, lesson):
    model, data, train = demo
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    rows = lesson.example(model, data, train)
    assert rows and all(set(r) == {"configuration", "weights pruned", "accuracy"} for r in rows)
    assert all(r["accuracy"].endswith("%") for r in rows)
    assert all((before[k] == v).all() for k, v in model.module.state_dict().items())


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
