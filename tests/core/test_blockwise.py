import pytest
import torch
from torch import nn

from pruneviz.core.blockwise import BlockEvaluator, block_of, find_blocks
from pruneviz.core.evaluate import tensor_bytes
from pruneviz.workflows.session import LayerPlan, open_session


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2"])
def test_re_running_from_the_changed_block_equals_a_full_forward(fixture, request):
    extra = ("lm_head",) if fixture == "tiny_llama" else ()  # GPT-2's head is tied to its embeddings
    session = open_session(f"hf:{request.getfixturevalue(fixture)}", device="cpu", extra_layers=extra)
    evaluator = session.evaluator
    assert isinstance(evaluator, BlockEvaluator) and evaluator.incremental
    full = lambda: session.task.outputs(session.working, session.data.x)  # noqa: E731
    assert torch.equal(session.outputs(), full())
    for name in reversed(session.layer_names):  # the last block first, then ever earlier ones
        session.prune_layer(name, LayerPlan(0.6))
        assert torch.equal(session.outputs(), full()), name
    session.prune_layer(session.layer_names[-1], LayerPlan(0.0))
    assert torch.equal(session.outputs(), full())


def test_only_the_blocks_from_the_changed_one_run(tiny_llama):
    session = open_session(f"hf:{tiny_llama}", device="cpu", extra_layers=("lm_head",))
    session.outputs()
    calls = []
    blocks = find_blocks(session.working)[1]  # a block's attention runs only when the block computes
    handles = [
        b.self_attn.register_forward_pre_hook(lambda m, a, i=i: calls.append(i)) for i, b in enumerate(blocks)
    ]
    session.prune_layer("model.layers.1.mlp.down_proj", LayerPlan(0.5))
    session.outputs()
    assert set(calls) == {1}  # block 0 answered from its cached output
    calls.clear()
    session.prune_layer("lm_head", LayerPlan(0.5))
    session.outputs()
    assert calls == []  # the head only
    for h in handles:
        h.remove()


def test_layers_are_grouped_by_block():
    model = nn.Module()
    model.blocks = nn.ModuleList([nn.Sequential(nn.Linear(4, 4)), nn.Sequential(nn.Linear(4, 4))])
    model.head = nn.Linear(4, 2)
    assert find_blocks(model)[0] == "blocks"
    assert block_of(model, ["blocks.0.0", "blocks.1.0", "head"]) == {
        "blocks.0.0": "block 0", "blocks.1.0": "block 1", "head": "head"
    }  # fmt: skip


def test_a_model_without_blocks_runs_in_full_and_says_why():
    model, x = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)), torch.randn(10, 4)
    ev = BlockEvaluator(model, x, ["0", "2"], lambda m, b: m(b))
    assert not ev.incremental and "no stack" in ev.fallback_reason
    with torch.no_grad():
        assert torch.equal(ev.update(["0"]), model(x))


def test_the_cache_budget_counts_tensors_inside_tuples_and_model_outputs():
    from transformers.modeling_outputs import BaseModelOutputWithPast

    hidden = torch.zeros(4, 8)
    output = BaseModelOutputWithPast(last_hidden_state=hidden, hidden_states=(hidden, torch.zeros(2, 8)))
    cache = [[(torch.zeros(3, 8), None)], [output]]
    assert tensor_bytes(cache) == 4 * (3 * 8 + 4 * 8 + 2 * 8)  # the shared hidden state counted once


def test_a_gpt2_whose_tuple_outputs_exceed_the_budget_runs_in_full(tiny_gpt2):
    session = open_session(f"hf:{tiny_gpt2}", device="cpu", memory_budget=1024)
    session.outputs()
    assert not session.evaluator.incremental and "exceeds budget" in session.evaluator.fallback_reason
