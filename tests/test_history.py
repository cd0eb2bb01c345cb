from pruneviz.history import History, pareto_front


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
