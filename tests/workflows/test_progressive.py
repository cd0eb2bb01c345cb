"""Progressive evaluation: the metric of a large model shown first from a few samples of a fixed shuffled
order, with its interval, refined batch by batch; the complete figure is exactly the full pass's."""

import math

import torch
import torch.nn.functional as F

from pruneviz.core.blockwise import BlockEvaluator
from pruneviz.io.data import DataOptions
from pruneviz.workflows.session import LayerPlan, open_session


def test_the_complete_perplexity_is_the_full_passs_bit_for_bit():
    """The head runs a few windows at a time now; the figures are those of one forward of everything."""
    session = open_session("demo:gpt", data_options=DataOptions(limit=96), device="cpu")
    session.prune_layer("model.layers.3.mlp.down_proj", LayerPlan(0.5))
    x = session.data.x
    with torch.no_grad():
        scores = session.working(input_ids=x, use_cache=False).logits[:, :-1].float()
        nll = F.cross_entropy(scores.transpose(1, 2), x[:, 1:], reduction="none").sum(1).double()
    expected = math.exp(nll.sum().item() / (x.shape[0] * (x.shape[1] - 1)))
    assert session.report().score == expected == session.estimate().score


def test_an_estimate_narrows_as_batches_come_in_and_ends_exact():
    session = open_session("demo:gpt", data_options=DataOptions(limit=96), device="cpu")
    x, forward = session.data.x, session.task.forward  # six batches of 16 windows, to watch it narrow
    session.evaluator = BlockEvaluator(session.working, x, session.layer_names, forward, 16)
    full = session.report().score
    session.prune_layer(session.layer_names[-1], LayerPlan(0.6))
    widths, reports = [], []
    while True:
        report = session.report_within(0.0)
        reports.append(report)
        if report.complete:
            break
        e = report.estimate
        assert e.low <= e.score <= e.high and e.samples == 16 * len(reports)
        widths.append(e.high - e.low)
    assert len(reports) == 6 and widths == sorted(widths, reverse=True)
    assert reports[-1].score == session.report().score != full
    session.prune_layer(session.layer_names[0], LayerPlan(0.6))  # a change: the estimate starts again
    assert session.report_within(0.0).estimate.samples == 16


def test_a_classifier_estimates_accuracy_with_a_binomial_interval(cnn_session):
    cnn_session.prune_layer("conv2", LayerPlan(0.9))
    first = cnn_session.report(1)
    assert not first.complete and first.estimate.samples == 256 and first.estimate.total == 360
    assert 0 <= first.estimate.low < first.score < first.estimate.high <= 1
    assert cnn_session.report().complete and cnn_session.report().estimate is None


def test_an_estimate_carries_the_baselines_figure_on_the_same_windows():
    """Regression (issue 31): a first estimate from 1 of 64 windows was set beside the full-set baseline,
    so a 10 % prune read as a change of -10,166 perplexity; it is compared on the same windows now."""
    session = open_session("demo:gpt", data_options=DataOptions(limit=12), device="cpu")
    x, forward = session.data.x, session.task.forward
    session.evaluator = BlockEvaluator(session.working, x, session.layer_names, forward, 1)
    base = session.baseline()
    dense = session.report(3).estimate
    assert dense.reference == dense.score != base.score  # the dense model on those very windows
    session.prune_layer(session.layer_names[-1], LayerPlan(0.1))
    first, third = session.report(1).estimate, session.report(3).estimate
    assert not first.bounded and third.bounded  # one window has no spread: no interval yet
    assert third.reference == dense.score and abs(third.score - third.reference) < abs(
        third.score - base.score
    )
    rows = torch.cat([torch.arange(12)[session.evaluator.rows[i]] for i in session.evaluator.order[:3]])
    fresh = open_session("demo:gpt", data_options=DataOptions(limit=12), device="cpu")
    with torch.no_grad():
        outputs = fresh.task.outputs(fresh.working, x[rows])
    assert math.isclose(fresh.task.figures(outputs, x[rows])["perplexity"], third.reference, rel_tol=1e-9)


def test_one_call_refines_for_as_long_as_it_is_given_not_one_batch():
    """Regression (issue 31): each call (one page run in the dashboard) added one batch, so a refinement
    over 64 windows paid the page's drawing 64 times. A call now fills its time."""
    session = open_session("demo:gpt", data_options=DataOptions(limit=96), device="cpu")
    x, forward = session.data.x, session.task.forward
    session.evaluator = BlockEvaluator(session.working, x, session.layer_names, forward, 16)
    session.report()
    session.prune_layer(session.layer_names[-1], LayerPlan(0.6))
    session.evaluator.last_batch_s = 60.0  # as if the rest would take minutes: no shortcut to report()
    assert session.report_within(0.0).estimate.samples == 16  # no time: one batch, as before
    session.evaluator.last_batch_s = 60.0
    assert session.report_within(30.0).complete  # the five batches left take far less than 30 s
