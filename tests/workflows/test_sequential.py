"""SparseGPT in a session: live one-layer solves, the sequential algorithm, and its bookkeeping."""

import pytest
import torch

from pruneviz.core import masks as M
from pruneviz.workflows.recipe import apply_recipe, parse_recipe
from pruneviz.workflows.sequential import SEQUENTIAL, apply_plans
from pruneviz.workflows.session import ONE_LAYER, LayerPlan, open_session


@pytest.fixture
def llama(tiny_llama):
    return open_session(f"hf:{tiny_llama}", device="cpu", extra_layers=("lm_head",))


def test_a_live_slider_solves_one_layer_and_undo_returns_to_dense(llama):
    name = "model.layers.0.mlp.up_proj"
    dense = llama.dense_weights[name].clone()
    llama.prune_layer(name, LayerPlan(0.5, "sparsegpt"))
    weight, mask = llama.modules[name].weight, llama.masks[name]
    assert int((~mask).sum()) == M.prune_count(0.5, weight.numel()) and (weight[~mask] == 0).all()
    assert not torch.equal(weight[mask], dense[mask])  # the survivors were rewritten
    assert llama.solved == {name: ONE_LAYER}
    llama.prune_layer(name, LayerPlan(0.0, "sparsegpt"))
    assert torch.equal(llama.modules[name].weight, dense) and llama.solved == {}


def test_sequential_solves_every_layer_in_order_and_differs_from_one_at_a_time(llama, tiny_llama):
    plans = {n: LayerPlan(0.5, "sparsegpt") for n in llama.layer_names}
    progress = []
    apply_plans(llama, plans, lambda f, m: progress.append(m))
    assert set(llama.solved.values()) == {SEQUENTIAL} and len(llama.solved) == len(plans)
    assert [m.split(" (")[0] for m in progress] == [
        "SparseGPT: block 0",
        "SparseGPT: block 1",
        "SparseGPT: lm_head",
    ]
    sequential = {n: llama.modules[n].weight.clone() for n in plans}
    live = open_session(f"hf:{tiny_llama}", device="cpu", extra_layers=("lm_head",))
    live.apply_layer_plans(plans)  # one layer at a time, each against the dense inputs
    first = llama.layer_names[0]
    assert torch.equal(live.modules[first].weight, sequential[first])  # the first layer sees dense inputs
    assert not torch.equal(live.modules["lm_head"].weight, sequential["lm_head"])


def test_recipes_run_the_sequential_algorithm(llama):
    recipe = parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.5, "criterion": "sparsegpt"}})
    apply_recipe(llama, recipe)
    assert set(llama.solved.values()) == {SEQUENTIAL}
    sparsity = llama.layer_sparsity()
    assert all(s == pytest.approx(0.5, abs=1e-3) for s in sparsity.values())


def test_sequential_sparsegpt_gives_the_same_weights_whatever_the_session_held(llama, tiny_llama):
    """Regression: a block's statistics were gathered with its layers already solved one by one (the
    sliders' live solves, or an earlier run), so the button gave other weights than `evaluate`."""
    plans = {n: LayerPlan(0.7, "sparsegpt") for n in llama.layer_names}
    apply_plans(llama, plans)
    fresh = {n: llama.modules[n].weight.clone() for n in plans}
    live = open_session(f"hf:{tiny_llama}", device="cpu", extra_layers=("lm_head",))
    live.apply_layer_plans(plans)  # the sliders' live solves first
    apply_plans(live, plans)
    assert all(torch.equal(live.modules[n].weight, w) for n, w in fresh.items())
    apply_plans(live, plans)  # pressed twice
    assert all(torch.equal(live.modules[n].weight, w) for n, w in fresh.items())
