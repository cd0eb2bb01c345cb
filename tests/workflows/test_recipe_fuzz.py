"""Fuzzing the recipe loader: any YAML/JSON gives a valid recipe or one clear PrunevizError, never a crash."""

import json

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pruneviz.core.errors import PrunevizError
from pruneviz.core.layers import discover_layers
from pruneviz.io.models import load_model
from pruneviz.workflows.recipe import Recipe, load_recipe, parse_recipe, resolve
from pruneviz.workflows.recipe.schema import TOP_KEYS

# demo:cnn's layers: conv1 (1 input channel: no N:M), conv2, fc1, fc2
LAYERS = discover_layers(load_model("demo:cnn").module, torch.zeros(1, 1, 8, 8))
NAMES = [x.name for x in LAYERS]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["magnitude", "l1", "filter", "2:4", "4:8", "unstructured", "conv1"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
layer_entries = st.dictionaries(
    st.sampled_from(["sparsity", "criterion", "granularity", "extra"]),
    st.one_of(
        st.floats(-1, 2), st.sampled_from(["magnitude", "l1", "taylor", "filter", "2:4", "bogus"]), scalars
    ),
    max_size=3,
)
recipe_like = st.fixed_dictionaries(
    {"pruneviz": st.sampled_from([1, 1, 1, 2, "1", None])},
    optional={
        "model": st.one_of(st.just("demo:cnn"), scalars),
        "default": layer_entries,
        "layers": st.dictionaries(st.sampled_from([*NAMES, "conv9", "1"]), layer_entries, max_size=4),
        "pinned": st.one_of(st.lists(st.sampled_from([*NAMES, "nope"]), max_size=3), scalars),
        "global": st.dictionaries(
            st.sampled_from(["sparsity", "criterion", "lamp", "granularity"]), scalars | st.floats(0, 1)
        ),
        "round_to": st.one_of(st.integers(-2, 64), scalars),
        "surprise": scalars,
    },
)


def _parse_and_resolve(doc) -> None:
    try:
        recipe = parse_recipe(doc)
    except PrunevizError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert isinstance(recipe, Recipe)
    try:
        resolve(recipe, LAYERS)
    except PrunevizError as err:
        assert "unknown layer" in str(err)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recipe_like)
def test_recipe_shaped_documents(doc):
    _parse_and_resolve(doc)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_values(doc):
    _parse_and_resolve(doc)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), recipe_like.map(json.dumps)))
def test_arbitrary_files(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "recipe.yaml"
    path.write_text(text)
    try:
        assert isinstance(load_recipe(path), Recipe)
    except PrunevizError as err:
        assert str(err) and "\n" not in str(err)


def test_the_schema_lists_every_top_level_key():
    assert set(TOP_KEYS) >= {"pruneviz", "model", "data", "default", "pinned", "layers", "global"}


def test_names_with_newlines_stay_on_one_line():
    """Found by the fuzzer: a key with a line break used to split the error message over two lines."""
    for doc in ({"pruneviz": 1, "\n": None}, {"pruneviz": 1, "layers": {"a\nb": {"sparsity": 0.1}}}):
        try:
            resolve(parse_recipe(doc), LAYERS)
        except PrunevizError as err:
            assert "\n" not in str(err)
        else:
            raise AssertionError("expected an error")
