import json

import pytest

from pruneviz.errors import PrunevizError
from pruneviz.recipe import apply_recipe, load_recipe, parse_recipe, resolve
from pruneviz.session import GlobalPlan, LayerPlan

LAYERS = ["conv1", "conv2", "fc1", "fc2"]

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
        {"pruneviz": 1, "default": {"sparsity": 0.3, "criterion": "l1", "granularity": "filter"},
         "layers": {"fc1": {"sparsity": 0.1}}}
    )  # fmt: skip
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
        ({"pruneviz": 1, "default": {"sparsity": 0.5, "criterion": "magnitude", "granularity": "filter"}},
         "unknown filter criterion"),
        ({"pruneviz": 1, "default": {"sparsity": 0.5, "granularity": "blocks"}}, "unknown granularity"),
        ({"pruneviz": 1, "default": {"sparsity": 0.5, "speed": 2}}, "unknown key 'speed'"),
        ({"pruneviz": 1, "layers": {"fc1": {"criterion": "l2"}}}, "needs a 'sparsity'"),
        ({"pruneviz": 1, "global": {"sparsity": 0.5}, "default": {"sparsity": 0.5}}, "either 'global'"),
        ({"pruneviz": 1, "pinned": ["fc1"], "layers": {"fc1": {"sparsity": 0.1}}}, "both pinned"),
        ([1, 2], "mapping"),
    ],
)  # fmt: skip
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
