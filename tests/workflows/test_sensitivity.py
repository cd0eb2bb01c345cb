import csv
import io
import json

import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.io.data import load_data
from pruneviz.io.models import load_model
from pruneviz.tasks import TASKS
from pruneviz.workflows.sensitivity import (
    DEFAULT_LEVELS,
    Row,
    Sensitivity,
    SweepFile,
    SweepSpec,
    estimate_correlation,
    iter_sweep,
    most_sensitive,
    naive_sweep,
    spearman,
    sweep,
    sweep_status,
    taylor_estimate,
)
from pruneviz.workflows.session import PruneSession

ACCURACY = TASKS.get("classification").metric
LEVELS = (0.0, 0.3, 0.6, 0.9)


def _session(spec: str, data: str | None = None, **kwargs) -> PruneSession:
    model = load_model(spec)
    return PruneSession(model, load_data(data, model, limit=96), **kwargs)


@pytest.mark.parametrize(
    ("model", "data", "granularity", "criterion"),
    [
        ("demo:cnn", None, "unstructured", "magnitude"),
        ("demo:resnet", None, "unstructured", "taylor"),
        ("demo:resnet", None, "filter", "l1"),
        ("torchvision:resnet18", "synthetic:3x32x32:64", "unstructured", "magnitude"),
    ],
)
def test_incremental_sweep_is_identical_to_the_naive_loop(model, data, granularity, criterion):
    session = _session(model, data)
    spec = SweepSpec(LEVELS, criterion, granularity)
    fast, slow = sweep(session, spec), naive_sweep(session, spec)
    assert fast.rows == slow.rows  # exact equality, float for float
    assert len(fast.rows) == len(session.layer_names) * len(LEVELS)
    assert session.layer_sparsity() == dict.fromkeys(session.layer_names, 0.0)


def test_identical_even_when_the_cache_does_not_fit_the_memory_budget():
    session = _session("demo:cnn", memory_budget=1024)
    spec = SweepSpec((0.0, 0.5))
    fast = sweep(session, spec)
    assert not session.evaluator.incremental
    assert fast.rows == naive_sweep(session, spec).rows


def test_default_levels_and_curves(cnn_session):
    assert DEFAULT_LEVELS[:3] == (0.0, 0.05, 0.1) and DEFAULT_LEVELS[-1] == 0.95 and len(DEFAULT_LEVELS) == 20
    result = sweep(cnn_session, SweepSpec((0.0, 0.5, 0.95)))
    curves = result.curves()
    assert all(curve[0.0] == result.baseline_score for curve in curves.values())
    assert curves["conv2"][0.95] < curves["conv2"][0.5]
    within = result.max_sparsity_within(0.01)
    assert within["conv1"] in (0.0, 0.5, 0.95)
    assert most_sensitive(result, 0.95) == min(curves, key=lambda n: curves[n][0.95])


def test_csv_and_json_exports(cnn_session):
    result = sweep(cnn_session, SweepSpec((0.0, 0.5)))
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert list(rows[0]) == ["layer", "sparsity", "accuracy", "loss", "criterion", "granularity"]
    assert len(rows) == 8 and {(r["criterion"], r["granularity"]) for r in rows} == {
        ("magnitude", "unstructured")
    }
    assert float(rows[1]["accuracy"]) == pytest.approx(result.rows[1].score, abs=1e-6)
    doc = json.loads(result.to_json())
    assert doc["spec"]["granularity"] == "unstructured" and len(doc["rows"]) == 8


def test_stopping_early_leaves_the_session_dense(cnn_session):
    rows = iter_sweep(cnn_session, SweepSpec((0.0, 0.9)))
    next(rows), next(rows)  # conv1 at 90% is applied right now
    rows.close()
    assert cnn_session.layer_sparsity()["conv1"] == 0.0
    assert cnn_session.report().score == pytest.approx(0.9833, abs=1e-4)


def test_taylor_estimate_ranks_like_the_measurement(cnn_session):
    spec = SweepSpec((0.0, 0.3, 0.6, 0.9))
    estimate = taylor_estimate(cnn_session, spec)
    assert set(estimate) == set(cnn_session.layer_names) and all(e[0.0] == 0.0 for e in estimate.values())
    assert estimate_correlation(sweep(cnn_session, spec), estimate) > 0.5


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    with pytest.raises(PrunevizError):
        spearman([1], [1])


def test_status_line_and_bad_specs():
    assert sweep_status("conv2", 10, 40, 5.0) == "conv2 · 10/40 · 5.0 s elapsed, about 15.0 s left"
    with pytest.raises(PrunevizError):
        SweepSpec((0.0, 1.0))
    with pytest.raises(PrunevizError, match="sensitivity granularity must be one of unstructured, filter"):
        SweepSpec(granularity="2:4")
    with pytest.raises(PrunevizError, match="unknown filter criterion 'magnitude'"):
        SweepSpec(criterion="magnitude", granularity="filter")
    assert SweepSpec(granularity="filter").criterion == "l1"  # the granularity's default


def test_filter_sweep_zeroes_whole_filters(resnet_session):
    result = sweep(resnet_session, SweepSpec((0.0, 0.5), "l1", "filter"))
    assert {r.layer for r in result.rows} == set(resnet_session.layer_names)
    assert torch.equal(resnet_session.modules["conv1"].weight, resnet_session.dense_weights["conv1"])


def test_a_stopped_sweep_keeps_only_the_layers_it_finished():
    spec = SweepSpec((0.0, 0.5, 0.9))
    partial = Sensitivity(spec, ACCURACY, 0.9, 0.3)
    for layer, levels in (("conv1", spec.levels), ("conv2", spec.levels), ("fc1", (0.0, 0.5))):
        partial.rows += [Row(layer, s, 0.9 - s / 10, 0.3 + s) for s in levels]
    kept = partial.finished_layers()
    assert list(kept.curves()) == ["conv1", "conv2"] and len(kept.rows) == 6
    assert (kept.baseline_score, kept.baseline_loss) == (0.9, 0.3)


@pytest.mark.parametrize("other", [SweepSpec((0.0, 0.5), "l2"), SweepSpec((0.0, 0.5), granularity="filter")])
def test_resuming_a_csv_refuses_one_written_with_another_criterion_or_granularity(
    cnn_session, tmp_path, other
):
    path = tmp_path / "s.csv"
    first = sweep(cnn_session, SweepSpec((0.0, 0.5)))
    SweepFile(path, first.spec, first.metric).write(first)
    kept = SweepFile(path, first.spec, first.metric).done(cnn_session.layer_names)
    assert [(r.layer, r.sparsity) for r in kept] == [(r.layer, r.sparsity) for r in first.rows]
    with pytest.raises(PrunevizError, match="holds a sweep with other settings"):
        SweepFile(path, other, first.metric).done(cnn_session.layer_names)


@pytest.mark.parametrize("drop", [0.01, 0.02, 0.05])
def test_an_adaptive_sweep_finds_the_exhaustive_answers_from_a_third_of_the_points(drop):
    session = _session("demo:resnet")
    exhaustive = sweep(session.fork(), SweepSpec())
    adaptive = sweep(session.fork(), SweepSpec(drop=drop))
    assert adaptive.max_sparsity_within(drop) == exhaustive.max_sparsity_within(drop)
    assert set(adaptive.rows) <= set(exhaustive.rows)  # the same points, measured the same
    assert len(adaptive.rows) <= len(exhaustive.rows) / 3
    assert all(adaptive.decided(c) for c in adaptive.curves().values())


def test_a_taylor_guided_adaptive_sweep_finds_the_same_answers(cnn_session):
    spec = SweepSpec(drop=0.01)
    guided = sweep(cnn_session.fork(), spec, estimate=taylor_estimate(cnn_session, spec))
    exhaustive = sweep(cnn_session.fork(), SweepSpec())
    assert guided.max_sparsity_within(0.01) == exhaustive.max_sparsity_within(0.01)


def test_a_resumed_adaptive_sweep_asks_for_nothing_twice_and_ends_the_same(cnn_session, tmp_path):
    spec = SweepSpec(drop=0.02)
    whole = sweep(cnn_session.fork(), spec)
    asked: list[Row] = []
    resumed = sweep(cnn_session.fork(), spec, done=whole.rows[:9], on_row=asked.append)
    assert resumed.rows == whole.rows and len(asked) == len(whole.rows) - 9
    path = tmp_path / "s.json"
    SweepFile(path, spec, whole.metric).write(whole)
    with pytest.raises(PrunevizError, match="holds a sweep with other settings"):
        SweepFile(path, SweepSpec(drop=0.05), whole.metric).done(cnn_session.layer_names)


def test_a_stopped_adaptive_sweep_keeps_the_layers_it_decided():
    spec = SweepSpec((0.0, 0.25, 0.5, 0.75), drop=0.05)  # the middle of four levels is index 2
    partial = Sensitivity(spec, ACCURACY, 0.9, 0.3)
    partial.rows += [Row("conv1", s, 0.9, 0.3) for s in (0.0, 0.5, 0.75)]  # every point within
    partial.rows += [Row("conv2", s, v, 0.3) for s, v in ((0.0, 0.9), (0.5, 0.9), (0.75, 0.5))]
    partial.rows += [Row("fc1", s, v, 0.3) for s, v in ((0.0, 0.9), (0.5, 0.5), (0.75, 0.5))]
    kept = partial.finished_layers()
    assert list(kept.curves()) == ["conv1", "conv2"]  # fc1 still has 0.25 to bisect
    assert kept.max_sparsity_within(0.05) == {"conv1": 0.75, "conv2": 0.5}


def test_an_adaptive_spec_needs_a_positive_drop_and_sorts_its_levels():
    assert SweepSpec((0.5, 0.0, 0.9), drop=0.01).levels == (0.0, 0.5, 0.9)
    with pytest.raises(PrunevizError, match="positive drop"):
        SweepSpec(drop=0.0)
    assert "drop" not in SweepSpec().as_dict() and SweepSpec(drop=0.1).as_dict()["drop"] == 0.1
