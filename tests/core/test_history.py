from pruneviz.core.history import History, pareto_front


def test_pareto_front_keeps_only_undominated_points():
    points = [(0.98, 100), (0.97, 50), (0.90, 60), (0.99, 100), (0.50, 10)]
    assert pareto_front(points) == [1, 3, 4]


def test_history_deduplicates_configurations():
    h = History()
    h.add({"a": 0.5, "b": 0.0}, "magnitude", "unstructured", 0.9, 100)
    h.add({"b": 0.0, "a": 0.5}, "magnitude", "unstructured", 0.9, 100)
    h.add({"a": 0.5, "b": 0.0}, "taylor", "unstructured", 0.95, 100)
    assert len(h.trials) == 2
    assert h.trials[0].config == {"a": 0.5, "b": 0.0}
    assert h.pareto() == [1]


def test_add_returns_the_index_of_the_trial_even_when_already_tried():
    h = History()
    assert h.add({"a": 0.1}, "magnitude", "unstructured", 0.9, 100) == 0
    assert h.add({"a": 0.2}, "magnitude", "unstructured", 0.8, 90) == 1
    assert h.add({"a": 0.1}, "magnitude", "unstructured", 0.9, 100) == 0


def test_history_is_bounded_and_keeps_the_pareto_front():
    h = History(limit=5)
    h.add({"a": 0.0}, "magnitude", "unstructured", 0.99, 100)  # the best: on the front for good
    for i in range(1, 20):
        h.add({"a": i / 100}, "magnitude", "unstructured", 0.5, 100 - i)  # each dominates the previous
    assert len(h.trials) == 5
    assert h.trials[0].config == {"a": 0.0}
    assert h.trials[-1].config == {"a": 0.19}
    assert [t.config["a"] for t in h.trials[1:]] == [0.16, 0.17, 0.18, 0.19]


def test_a_history_that_is_all_front_forgets_its_oldest_trial():
    h = History(limit=3)
    for i in range(5):
        h.add({"a": i / 10}, "magnitude", "unstructured", 1 - i / 10, 100 - 10 * i)  # a clean trade-off
    assert [t.config["a"] for t in h.trials] == [0.2, 0.3, 0.4]


def test_a_move_becomes_a_trial_only_where_it_settles():
    """Regression (issue 31): every key press on a slider was a tried point (~140 dots after a few
    moves). Steps 0.1 s apart pass through; a configuration shown for a second is kept."""
    history = History(settle_s=1.0)
    for step in range(10):  # ten key presses, 0.1 s apart
        shown = history.show({"fc1": step / 10}, "magnitude", "unstructured", 0.9, 100 - step, now=step / 10)
    assert history.trials == [] and shown.config == {"fc1": 0.9}
    history.show({"fc1": 0.9}, "magnitude", "unstructured", 0.9, 91, now=2.0)  # a rerun a second later
    assert [t.config for t in history.trials] == [{"fc1": 0.9}]
    history.show({"fc1": 0.5}, "magnitude", "unstructured", 0.95, 50, now=2.1)
    history.show({"fc1": 0.4}, "magnitude", "unstructured", 0.96, 40, now=3.5)  # 0.5 stood 1.4 s
    assert [t.config for t in history.trials] == [{"fc1": 0.9}, {"fc1": 0.5}]
    assert history.index(shown) == 0 and history.index(history.shown[0]) is None
