"""The public Python API (``pruneviz.open``): what a notebook does, checked against files reloaded the
way a user reloads them and against the engine the CLI runs."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import plotly.graph_objects as go
import pytest

import pruneviz
from pruneviz.workflows.recipe import apply_recipe, parse_recipe
from pruneviz.workflows.session import open_session


@pytest.fixture(scope="module")
def cnn():
    return pruneviz.open("demo:cnn")


def test_import_loads_nothing_heavy_and_the_issues_one_liner_works():
    code = (
        "import sys, pruneviz; heavy = [m for m in ('torch', 'streamlit') if m in sys.modules]; "
        "s = pruneviz.open('demo:cnn'); s.prune(0.5); r = s.report(); "
        "print(heavy, 'streamlit' in sys.modules, round(r['sparsity'], 3), r['accuracy'] > 0.9)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[0] == "[] False 0.5 True", out


def test_prune_gives_what_the_engine_gives_for_the_same_recipe(cnn):
    mine = cnn.prune(0.6, criterion="taylor").report()
    engine = open_session("demo:cnn")
    recipe = {"pruneviz": 1, "default": {"sparsity": 0.6, "criterion": "taylor"}}
    apply_recipe(engine, parse_recipe(recipe))
    theirs = engine.report()
    assert mine["accuracy"] == theirs.score and mine["params_nonzero"] == theirs.params_nonzero
    assert mine["macs"] == theirs.macs_effective < mine["macs_dense"]
    assert mine["layers"] == theirs.layers


def test_per_layer_sparsities_leave_the_other_layers_dense_and_reset_comes_back(cnn):
    layers = cnn.prune({"fc1": 0.9, "conv2": 0.3}).report()["layers"]
    assert layers["fc1"] == pytest.approx(0.9, abs=0.01) and layers["conv2"] == pytest.approx(0.3, abs=0.01)
    assert layers["conv1"] == 0.0 and layers["fc2"] == 0.0
    dense = cnn.reset().report()
    assert dense["params_nonzero"] == dense["params_total"] and cnn.holds == "the dense model"


def test_a_global_ranking_reaches_its_sparsity_with_layers_unequal(cnn):
    report = cnn.prune(0.7, allocation="global").report()
    assert report["sparsity"] == pytest.approx(0.7, abs=0.005)
    assert len({round(s, 2) for s in report["layers"].values()}) > 1


def test_allocations_are_the_prune_pages_presets(cnn):
    ramp = cnn.prune(0.5, allocation="ramp").report()["layers"]
    assert ramp["conv1"] < ramp["fc2"]  # deeper layers more
    with pytest.raises(pruneviz.PrunevizError, match="run one first"):
        cnn.prune(0.5, allocation="sensitivity")
    cnn.sensitivity((0.3, 0.6, 0.9))
    assert cnn.prune(0.5, allocation="sensitivity").report()["sparsity"] > 0
    with pytest.raises(pruneviz.PrunevizError, match="nothing to allocate"):
        cnn.prune(0.5, granularity="2:4", allocation="ramp")


def test_removed_filters_export_smaller_and_reload_with_the_sessions_figures(cnn, tmp_path):
    report = cnn.remove(0.3).report()
    assert report["params_nonzero"] < report["params_total"]
    assert sum(p.numel() for p in cnn.model.parameters()) == report["params_nonzero"]
    path = cnn.export(tmp_path / "small.pt")
    again = pruneviz.open(f"file:{path}").report()
    assert again["params_total"] == report["params_nonzero"]
    assert again["accuracy"] == pytest.approx(report["accuracy"], abs=1 / 360)
    assert cnn.recipe()["structure"] == {"filters": 0.3, "criterion": "l1"}


def test_a_saved_recipe_rebuilds_the_same_numbers(cnn, tmp_path):
    shown = cnn.prune({"conv2": 0.5, "fc1": 0.8}, criterion="gradient").report()
    path = tmp_path / "recipe.yaml"
    cnn.recipe(path)
    rebuilt = pruneviz.open("demo:cnn").prune(path).report()
    assert (rebuilt["accuracy"], rebuilt["params_nonzero"]) == (shown["accuracy"], shown["params_nonzero"])


def test_sensitivity_is_a_table_on_a_copy_and_every_figure_draws(cnn):
    cnn.prune({"fc1": 0.5})
    table = cnn.sensitivity((0.5, 0.95))
    assert isinstance(table, pd.DataFrame) and list(table.columns) == [
        "layer",
        "sparsity",
        "accuracy",
        "loss",
        "change",
    ]
    assert len(table) == 2 * len(cnn.layers)
    worst = table.loc[table["change"].idxmin()]
    assert worst["sparsity"] == 0.95 and worst["change"] < 0
    assert cnn.report()["layers"]["fc1"] == pytest.approx(0.5, abs=0.01)  # the session's masks stayed
    for kind in ("layers", "importance", "sensitivity", "pareto"):
        figure = cnn.figure(kind)
        assert isinstance(figure, go.Figure) and figure.data, kind
    assert len(cnn.figure("pareto").data[0].x) >= 2  # every report so far is a point
    with pytest.raises(pruneviz.PrunevizError, match="unknown figure"):
        cnn.figure("histogram")


@pytest.mark.parametrize(
    ("how", "options", "message"),
    [
        (1.5, {}, "sparsity must be a fraction"),
        ({"nope": 0.5}, {}, "unknown layer 'nope'"),
        (0.5, {"criterion": "bogus"}, "unknown weight criterion 'bogus'"),
        (0.5, {"allocation": "sideways"}, "unknown allocation 'sideways'"),
        ("missing.yaml", {}, "recipe file not found"),
        ([0.5], {}, "takes a sparsity"),
    ],
)
def test_bad_input_is_one_readable_error_and_the_session_keeps_its_masks(cnn, how, options, message):
    before = cnn.prune({"fc1": 0.5}).report()
    with pytest.raises(pruneviz.PrunevizError, match=message):
        cnn.prune(how, **options)
    assert cnn.report()["params_nonzero"] == before["params_nonzero"]


def test_a_language_model_prunes_with_wanda_and_its_hf_export_reloads(tmp_path):
    gpt = pruneviz.open("demo:gpt", limit=16)
    assert gpt.metric == "perplexity"
    report = gpt.prune(0.5, criterion="wanda").report()
    assert report["perplexity"] > 1 and report["sparsity"] == pytest.approx(0.5, abs=0.01)
    path = gpt.export(tmp_path / "gpt")  # hf: a directory plain transformers reads
    again = pruneviz.open(f"hf:{path}", "text:pydoc", limit=16).report()
    assert again["perplexity"] == pytest.approx(report["perplexity"], rel=1e-4)
    assert again["params_nonzero"] == report["params_nonzero"]
    # a bare fraction removes what this kind of model loses: MLP channels of a transformer, not filters
    gpt.reset()
    shrunk = gpt.remove(0.3).report()
    assert shrunk["params_nonzero"] < report["params_total"] * 0.85 and shrunk["perplexity"] > 1
