from dataclasses import replace

import pytest

from pruneviz.tasks.classification import Classification
from pruneviz.tasks.language import LanguageModelling
from pruneviz.views.charts import criteria_overlap, layer_overview
from pruneviz.workflows.compare import CriteriaComparison


def test_the_layer_overview_makes_room_for_long_names_and_keeps_its_legend_off_them(cnn_session):
    """Regression (issue 31): on demo:gpt's 28 layers the axis title was clipped and the legend sat on
    the rotated layer names."""
    template = cnn_session.layers[0]
    names = [f"model.layers.{b}.self_attn.{p}_proj" for b in range(4) for p in "qkvo"]
    layers = [replace(template, name=n) for n in names]
    fig = layer_overview(layers, {})
    assert fig.layout.height >= 300 + 6 * max(map(len, names))
    assert fig.layout.legend.y >= 1 and fig.layout.legend.yanchor == "bottom"  # above the plot
    assert layer_overview(cnn_session.layers, {}).layout.height == 300  # four short names: as it was


def _compared(metric, baseline: float, scores: dict[str, float]) -> CriteriaComparison:
    """Two criteria on one layer, each with the given metric when that layer alone is pruned."""
    return CriteriaComparison(
        ("magnitude", "wanda"),
        0.5,
        "unstructured",
        metric,
        baseline,
        layers=["fc1"],
        overlap={("magnitude", "wanda"): {"fc1": 0.8}},
        score={c: {"fc1": v} for c, v in scores.items()},
    )


def test_the_comparisons_cost_colours_keep_a_single_sample_pale_and_a_collapse_dark():
    """Regression: the cost map's colours spanned whatever the worst change was, so one digit of 360
    (0.28 points) showed as dark red as a collapse would."""
    accuracy = Classification.metric
    one_sample = criteria_overlap(_compared(accuracy, 0.983, {"magnitude": 0.983, "wanda": 0.983 - 1 / 360}))
    cost = one_sample.data[1]
    assert (cost.zmin, cost.zmax) == (-1.0, 1.0)  # a point of accuracy either way, at least
    assert cost.z[0][1] == pytest.approx(100 / 360)
    collapse = criteria_overlap(_compared(accuracy, 0.983, {"magnitude": 0.60, "wanda": 0.99}))
    assert collapse.data[1].zmax == pytest.approx(38.3) and collapse.data[1].zmin == pytest.approx(-38.3)
    perplexity = criteria_overlap(
        _compared(LanguageModelling.metric, 3.438, {"magnitude": 3.44, "wanda": 3.43})
    )
    assert perplexity.data[1].zmax == pytest.approx(0.03438)  # 1% of the dense perplexity
