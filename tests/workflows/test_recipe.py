import json

import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import FILTER, granularity
from pruneviz.core.layers import discover_layers
from pruneviz.io.models import load_model
from pruneviz.workflows.recipe import (
    apply_recipe,
    diff_recipes,
    load_recipe,
    parse_recipe,
    recipe_document,
    resolve,
    save_recipe,
    skipped_by_default,
    uniform_plans,
)
from pruneviz.workflows.sequential import apply_plans
from pruneviz.workflows.session import GlobalPlan, LayerPlan, open_session

# demo:cnn's layers: conv1 (1 input channel: no N:M), conv2, fc1, fc2
LAYERS = discover_layers(load_model("demo:cnn").module, torch.zeros(1, 1, 8, 8))
NAMES = [x.name for x in LAYERS]

ISSUE_EXAMPLE = """
pruneviz: 1
model: demo:cnn                  # optional when the command names the model
default: {sparsity: 0.5, criterion: magnitude, granularity: unstructured}
pinned: [fc2]
layers:
  conv1: {sparsity: 0.2}
"""


def test_issue_example_resolves_default_pinned_and_overrides(tmp_path):
    (tmp_path / "r.yaml").write_text(ISSUE_EXAMPLE)
    recipe = load_recipe(tmp_path / "r.yaml")
    assert recipe.model == "demo:cnn"
    assert resolve(recipe, LAYERS) == {
        "conv1": LayerPlan(0.2),
        "conv2": LayerPlan(0.5),
        "fc1": LayerPlan(0.5),
        "fc2": LayerPlan(0.0),
    }


def test_json_recipe_with_global(tmp_path):
    doc = {"pruneviz": 1, "global": {"sparsity": 0.6, "criterion": "taylor", "lamp": True}, "pinned": ["fc2"]}
    (tmp_path / "r.json").write_text(json.dumps(doc))
    plan = resolve(load_recipe(tmp_path / "r.json"), LAYERS)
    assert plan == GlobalPlan(0.6, "taylor", lamp=True, pinned=("fc2",))


def test_layer_override_inherits_criterion_and_granularity():
    recipe = parse_recipe(
        {
            "pruneviz": 1,
            "default": {"sparsity": 0.3, "criterion": "l1", "granularity": "filter"},
            "layers": {"fc1": {"sparsity": 0.1}},
        }
    )
    assert recipe.layers["fc1"] == LayerPlan(0.1, "l1", "filter")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"default": {"sparsity": 0.5}}, "pruneviz: 1"),
        ({"pruneviz": 1, "defaults": {}}, "unknown key 'defaults'"),
        ({"pruneviz": 1, "default": {"sparsity": 1.0}}, r"\[0, 1\)"),
        ({"pruneviz": 1, "default": {"sparsity": -0.1}}, r"\[0, 1\)"),
        ({"pruneviz": 1, "default": {"sparsity": "half"}}, "must be a number"),
        ({"pruneviz": 1, "default": {"sparsity": 0.5, "criterion": "magic"}}, "unknown weight criterion"),
        (
            {"pruneviz": 1, "default": {"sparsity": 0.5, "criterion": "magnitude", "granularity": "filter"}},
            "unknown filter criterion",
        ),
        ({"pruneviz": 1, "default": {"sparsity": 0.5, "granularity": "blocks"}}, "unknown granularity"),
        ({"pruneviz": 1, "default": {"sparsity": 0.5, "speed": 2}}, "unknown key 'speed'"),
        ({"pruneviz": 1, "layers": {"fc1": {"criterion": "l2"}}}, "needs a 'sparsity'"),
        ({"pruneviz": 1, "global": {"sparsity": 0.5}, "default": {"sparsity": 0.5}}, "either 'global'"),
        ({"pruneviz": 1, "pinned": ["fc1"], "layers": {"fc1": {"sparsity": 0.1}}}, "both pinned"),
        ([1, 2], "mapping"),
    ],
)
def test_invalid_recipes_are_clear_errors(doc, message):
    with pytest.raises(PrunevizError, match=message):
        parse_recipe(doc)


def test_unknown_layer_is_named():
    recipe = parse_recipe({"pruneviz": 1, "layers": {"conv9": {"sparsity": 0.1}}})
    with pytest.raises(PrunevizError, match="unknown layer 'conv9'"):
        resolve(recipe, LAYERS)


def test_unparseable_and_missing_files(tmp_path):
    (tmp_path / "bad.yaml").write_text("pruneviz: [1\n")
    with pytest.raises(PrunevizError, match="not valid YAML"):
        load_recipe(tmp_path / "bad.yaml")
    with pytest.raises(PrunevizError, match="not found"):
        load_recipe(tmp_path / "absent.yaml")


def test_apply_recipe_replaces_previous_masks(cnn_session):
    cnn_session.prune_layer("fc2", LayerPlan(0.9))
    apply_recipe(cnn_session, parse_recipe({"pruneviz": 1, "layers": {"fc1": {"sparsity": 0.25}}}))
    assert cnn_session.layer_sparsity() == {"conv1": 0.0, "conv2": 0.0, "fc1": 0.25, "fc2": 0.0}


def test_seed_and_training_settings_are_validated():
    recipe = parse_recipe(
        {
            "pruneviz": 1,
            "seed": 3,
            "training": {"steps": 100, "lr": 0.001, "schedule": "gradual"},
            "default": {"sparsity": 0.5},
        }
    )
    assert recipe.seed == 3 and recipe.training.schedule == "gradual"
    with pytest.raises(PrunevizError, match=r"training\.steps must be int"):
        parse_recipe({"pruneviz": 1, "training": {"steps": "many"}})
    with pytest.raises(PrunevizError, match="unknown key 'momentum'"):
        parse_recipe({"pruneviz": 1, "training": {"momentum": 0.9}})
    with pytest.raises(PrunevizError, match="'seed' must be an integer"):
        parse_recipe({"pruneviz": 1, "seed": 1.5})


def test_session_recipe_round_trip_restores_the_same_masks_bit_for_bit(cnn_session, tmp_path):
    plans = {"conv1": LayerPlan(0.3), "conv2": LayerPlan(0.55), "fc1": LayerPlan(0.9), "fc2": LayerPlan(0.0)}
    cnn_session.apply_layer_plans(plans)
    masks = {n: m.clone() for n, m in cnn_session.masks.items()}
    path = save_recipe(tmp_path / "r.yaml", recipe_document("demo:cnn", "digits", plans, seed=0))
    cnn_session.reset()
    apply_recipe(cnn_session, load_recipe(path))
    assert set(cnn_session.masks) == set(masks)
    assert all(torch.equal(cnn_session.masks[n], masks[n]) for n in masks)


def test_diff_recipes(cnn_session):
    a = parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.5}})
    b = parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.5}, "layers": {"fc1": {"sparsity": 0.8}}})
    changes = diff_recipes(a, b, LAYERS)
    assert [c["layer"] for c in changes] == ["fc1"] and changes[0]["change"] == pytest.approx(0.3)
    assert diff_recipes(a, a, LAYERS) == []
    g = parse_recipe({"pruneviz": 1, "global": {"sparsity": 0.6}})
    assert diff_recipes(a, g, LAYERS)[0]["layer"] == "(global)"


def test_a_two_four_default_skips_layers_that_cannot_take_it_and_says_which(cnn_session):
    """Regression: a 2:4 default failed on demo:cnn's conv1 (one input channel)."""
    recipe = parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.5, "granularity": "2:4"}})
    assert list(skipped_by_default(recipe, LAYERS)) == ["conv1"]
    plans = resolve(recipe, LAYERS)
    assert plans["conv1"] == LayerPlan(0.0) and plans["fc1"] == LayerPlan(0.5, "magnitude", "2:4")
    apply_recipe(cnn_session, recipe)
    assert cnn_session.layer_sparsity()["conv1"] == 0.0 and cnn_session.layer_sparsity()["fc1"] == 0.5


@pytest.mark.parametrize("criterion", ["sparsegpt", "dsnot"])
def test_a_default_whose_method_reads_linear_layers_only_leaves_the_convs_dense_and_says_why(
    cnn_session, criterion
):
    """Regression: ``default: {criterion: sparsegpt}`` on demo:cnn failed inside SparseGPT on conv1's
    4-D weight (a raw ValueError); DSnoT likewise. The convs stay dense, the Linear layers are solved."""
    recipe = parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.5, "criterion": criterion}})
    skipped = skipped_by_default(recipe, LAYERS)
    assert list(skipped) == ["conv1", "conv2"]
    assert skipped["conv1"].why.endswith("prunes Linear layers only, not a Conv2d")
    plans = resolve(recipe, LAYERS)
    assert plans["conv2"] == LayerPlan(0.0) and plans["fc1"] == LayerPlan(0.5, criterion)
    apply_recipe(cnn_session, recipe)
    sparsity = cnn_session.layer_sparsity()
    assert sparsity["conv1"] == sparsity["conv2"] == 0.0 and sparsity["fc1"] == 0.5
    uniform = uniform_plans(LAYERS, dict.fromkeys(NAMES, 0.3), criterion, granularity("unstructured"))
    assert uniform["conv1"] == LayerPlan(0.0) and uniform["fc2"] == LayerPlan(0.3, criterion)


def test_a_layer_named_with_a_method_it_cannot_take_is_refused_before_anything_changes(cnn_session):
    recipe = parse_recipe({"pruneviz": 1, "layers": {"conv2": {"sparsity": 0.5, "criterion": "sparsegpt"}}})
    with pytest.raises(PrunevizError, match=r"layer 'conv2' cannot take sparsegpt: SparseGPT prunes Linear"):
        resolve(recipe, LAYERS)
    plans = {"fc1": LayerPlan(0.5, "dsnot"), "conv1": LayerPlan(0.5, "dsnot")}
    with pytest.raises(PrunevizError, match=r"layer 'conv1' cannot take dsnot: DSnoT prunes Linear"):
        apply_plans(cnn_session, plans)
    assert cnn_session.masks == {}  # fc1 was not solved before conv1 was refused


def test_methods_watching_a_layer_leave_out_the_attention_output_the_model_never_runs():
    """Regression: on demo:vit Wanda, RIA, DSnoT and SparseGPT died with a KeyError on out_proj, and the
    activation criterion with Captum's: nn.MultiheadAttention uses its out_proj's weight without calling
    it, so no hook sees its inputs or outputs. A default leaves it dense and says why."""
    vit = open_session("demo:vit")
    out_projs = [x.name for x in vit.layers if x.name.endswith("out_proj")]
    assert len(out_projs) == 4 and not any(vit.layer(n).called for n in out_projs)
    assert all(x.called for x in vit.layers if x.name not in out_projs)
    for criterion in ("wanda", "activation"):
        recipe = parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.3, "criterion": criterion}})
        skipped = skipped_by_default(recipe, vit.layers)
        assert (
            list(skipped) == out_projs
            and "never runs this NonDynamicallyQuantizableLinear" in skipped[out_projs[0]].why
        )
        fork = vit.fork(keep_weights=False)
        apply_recipe(fork, recipe)
        sparsity = fork.layer_sparsity()
        assert all(sparsity[n] == 0.0 for n in out_projs)
        assert sparsity["encoder.layers.encoder_layer_0.mlp.0"] == pytest.approx(0.3, abs=1 / 64)


def test_an_explicit_layer_that_cannot_take_n_m_stays_an_error():
    recipe = parse_recipe({"pruneviz": 1, "layers": {"conv1": {"sparsity": 0.5, "granularity": "2:4"}}})
    with pytest.raises(PrunevizError, match=r"layer 'conv1' cannot take 2:4: .*multiple of 4"):
        resolve(recipe, LAYERS)


def test_uniform_plans_leave_ineligible_layers_dense():
    plans = uniform_plans(LAYERS, dict.fromkeys(NAMES, 0.3), "magnitude", granularity("2:4"))
    assert plans["conv1"] == LayerPlan(0.0) and plans["conv2"] == LayerPlan(0.3, "magnitude", "2:4")
    assert uniform_plans(LAYERS, {"fc1": 0.4}, "l1", FILTER)["fc1"] == LayerPlan(0.4, "l1", "filter")
