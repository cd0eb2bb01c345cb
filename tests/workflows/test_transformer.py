"""Structured transformer pruning: heads by whole key/value groups, MLP channels, whole blocks; the
preview equals the built model, which loads back in plain transformers; Block Influence; bad plans."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from pruneviz.core.errors import PrunevizError
from pruneviz.io.anatomy import anatomy_of
from pruneviz.io.data import DataOptions
from pruneviz.io.formats import export_model
from pruneviz.tasks.language import logits
from pruneviz.workflows.recovery import TrainConfig, distillation, finetune_shrunk, train_split
from pruneviz.workflows.session import open_session
from pruneviz.workflows.transformer import (
    TRANSFORMER_CRITERIA,
    TransformerPlan,
    block_influence,
    depth_plan,
    plan_transformer,
    random_blocks,
    structured_speedups,
)
from tests.conftest import save_tiny_lm

DATA = DataOptions(limit=8, context=32, calibration=8)


@pytest.fixture(scope="module")
def gqa_path(tmp_path_factory) -> str:
    """3 Llama blocks, 8 query heads sharing 2 key/value heads (groups of 4), 96 MLP channels."""
    from transformers import LlamaConfig

    config = LlamaConfig(
        vocab_size=384, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=8,
        num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False,
    )  # fmt: skip
    return save_tiny_lm(tmp_path_factory.mktemp("gqa"), config)


def session_of(path: str):
    return open_session(f"hf:{path}", "text:pydoc", data_options=DATA)


@pytest.fixture(scope="module")
def gpt():
    return open_session("demo:gpt", "text:pydoc", data_options=DataOptions(limit=16, calibration=16))


def previewed_and_built(session, plan):
    removal = plan_transformer(session, plan)
    session.preview_removal(removal)
    x = session.data.x[:4]
    with torch.no_grad():
        preview = logits(session.working, x)
        built = session.shrunk()
        return removal, built, preview, logits(built, x)


def test_anatomy_reads_heads_groups_and_widths(gqa_path, tiny_gpt2):
    llama = anatomy_of(session_of(gqa_path).calibration().model)
    shape = (llama.depth, llama.heads, llama.kv_heads, llama.group_size)
    assert (llama.family.name, shape) == ("llama", (3, 8, 2, 4))
    assert (llama.head_dim, llama.intermediate, llama.head_removal) == (8, 96, None)
    gpt2 = anatomy_of(session_of(tiny_gpt2).calibration().model)
    assert (gpt2.family.name, gpt2.kv_heads, gpt2.intermediate) == ("gpt2", 4, 256) and gpt2.head_removal


@pytest.mark.parametrize(
    "plan",
    [
        TransformerPlan(heads=0.5),
        TransformerPlan(channels={0: 0.25, 1: 0.5, 2: 0.75}),  # unequal: blocks 1 and 2 keep zeroed padding
        TransformerPlan(drop_heads={1: (0,)}, channels=0.5, drop_blocks=(2,), criterion="activation"),
        TransformerPlan(heads={0: 0.5}, channels=0.3, criterion="taylor", round_to=16),
    ],
    ids=repr,
)
def test_the_preview_gives_the_built_models_logits_and_counts(gqa_path, plan):
    session = session_of(gqa_path)
    _, built, preview, shrunk = previewed_and_built(session, plan)
    assert (preview - shrunk).abs().max().item() <= 1e-4
    params, _ = session.predicted_counts()
    assert params == sum(p.numel() for p in built.parameters())
    assert params < sum(p.numel() for p in session.calibration().model.parameters())


def test_heads_go_by_whole_key_value_groups(gqa_path):
    session = session_of(gqa_path)
    removal, built, _, _ = previewed_and_built(session, TransformerPlan(heads=0.5))
    assert removal.cut.groups == {
        0: [removal.cut.groups[0][0]],
        1: removal.cut.groups[1],
        2: removal.cut.groups[2],
    }
    config = built.config
    assert (config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (4, 1, 8)
    attention = built.model.layers[0].self_attn
    assert attention.q_proj.out_features == 32 and attention.k_proj.out_features == 8
    assert attention.o_proj.in_features == 32 and attention.num_key_value_groups == 4


def test_a_head_count_that_breaks_grouped_query_attention_is_refused_in_one_line(gqa_path):
    session = session_of(gqa_path)
    with pytest.raises(PrunevizError, match="breaks grouped-query attention") as err:
        plan_transformer(session, TransformerPlan(heads=0.25))  # 2 of 8 heads: half a group
    assert "\n" not in str(err.value) and "round_to" in str(err.value)
    rounded = plan_transformer(session, TransformerPlan(heads=0.25, round_to=1))  # down to whole groups
    assert rounded.cut.groups == {}


@pytest.mark.parametrize(
    "plan, message",
    [
        (TransformerPlan(drop_heads={0: (2,)}), "block 0 has no head group 2"),
        (TransformerPlan(drop_heads={7: (0,)}), "there is no block 7"),
        (TransformerPlan(drop_blocks=(0, 1, 2)), "would drop all 3 blocks"),
        (TransformerPlan(drop_blocks=(3,)), "there is no block 3"),
        (TransformerPlan(channels=1.0), "channels:"),
        (TransformerPlan(heads={5: 0.5}), "heads: there is no block 5"),
        (TransformerPlan(channels=0.5, criterion="wanda"), "wanda"),
    ],
)
def test_plans_that_cannot_be_built_are_refused_in_one_line(gqa_path, plan, message):
    with pytest.raises(PrunevizError, match=message) as err:
        plan_transformer(session_of(gqa_path), plan)
    assert "\n" not in str(err.value)


def test_gpt2_loses_channels_and_blocks_but_refuses_heads(tiny_gpt2):
    session = session_of(tiny_gpt2)
    _, built, preview, shrunk = previewed_and_built(session, TransformerPlan(channels=0.5, drop_blocks=(0,)))
    assert (preview - shrunk).abs().max().item() <= 1e-4
    assert built.config.n_layer == 1 and built.config.n_inner == 128
    with pytest.raises(PrunevizError, match="GPT-2"):
        plan_transformer(session, TransformerPlan(heads=0.5))


@pytest.mark.parametrize("fixture", ["gqa_path", "tiny_gpt2"])
def test_the_built_model_loads_in_plain_transformers_with_the_previewed_logits(fixture, request, tmp_path):
    """save → from_pretrained in a process that imports only torch and transformers → the same logits."""
    session = session_of(request.getfixturevalue(fixture))
    if fixture == "gqa_path":  # the widest block kept (72 of 96 channels) sets every block's width
        plan = TransformerPlan(heads=0.5, channels={0: 0.5, 1: 0.25, 2: 0.25}, drop_blocks=(1,))
    else:  # 2 blocks; GPT-2 keeps its heads
        plan = TransformerPlan(channels={0: 0.5}, drop_blocks=(1,))
    _, built, preview, _ = previewed_and_built(session, plan)
    out = tmp_path / "pruned-hf"
    export_model(built, out, "hf", session.export_meta())
    x = session.data.x[:4]
    torch.save({"x": x, "expected": preview}, tmp_path / "io.pt")
    script = f"""
import torch, transformers
model = transformers.AutoModelForCausalLM.from_pretrained({str(out)!r}).eval()
io = torch.load({str(tmp_path / "io.pt")!r})
with torch.no_grad():
    got = model(input_ids=io["x"]).logits
c = model.config
kv = getattr(c, "num_key_value_heads", c.num_attention_heads)
mlp = getattr(c, "intermediate_size", None) or c.n_inner
print((got - io["expected"]).abs().max().item(), c.num_hidden_layers, c.num_attention_heads, kv, mlp)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    diff, layers, heads_left, kv, mlp = run.stdout.split()
    assert float(diff) <= 1e-4
    expected = ("2", "4", "1", "72") if fixture == "gqa_path" else ("1", "4", "4", "128")
    assert (layers, heads_left, kv, mlp) == expected


def test_block_influence_is_one_minus_the_cosine_of_each_blocks_input_and_output(gpt):
    calibration = gpt.calibration()
    model = calibration.model
    influence = block_influence(calibration)
    final_norm_input = []
    hook = model.model.norm.register_forward_pre_hook(lambda m, args: final_norm_input.append(args[0]))
    try:
        with torch.no_grad():
            hidden = model(input_ids=calibration.x, output_hidden_states=True).hidden_states
    finally:
        hook.remove()
    outputs = [*hidden[1:-1], final_norm_input[0]]  # hidden[-1] is after the final norm
    direct = [
        1 - F.cosine_similarity(a.double(), b.double(), dim=-1).mean().item() for a, b in zip(hidden, outputs)
    ]
    assert influence == pytest.approx(direct, abs=1e-6)
    assert len(influence) == 4 and depth_plan(influence, 1) == (min(range(4), key=influence.__getitem__),)


def test_the_block_influence_choice_hurts_less_than_the_block_it_ranks_first(gpt):
    influence = block_influence(gpt.calibration())
    scores = {}
    for block in (depth_plan(influence, 1)[0], max(range(4), key=influence.__getitem__)):
        gpt.preview_removal(plan_transformer(gpt, TransformerPlan(drop_blocks=(block,))))
        scores[block] = gpt.report().score
    low, high = scores.values()
    assert low < high


def test_depth_plan_and_random_blocks_are_checked_and_repeatable():
    assert depth_plan([0.5, 0.1, 0.1, 0.3], 2) == (1, 2)
    assert random_blocks(8, 3, seed=1) == random_blocks(8, 3, seed=1) and len(set(random_blocks(8, 3))) == 3
    with pytest.raises(PrunevizError, match="between 1 and 3"):
        depth_plan([0.5, 0.1, 0.1, 0.3], 4)


def test_every_criterion_scores_every_group_and_channel(gpt):
    anatomy = anatomy_of(gpt.calibration().model)
    for criterion in TRANSFORMER_CRITERIA.names():
        scores = TRANSFORMER_CRITERIA.get(criterion)(gpt, anatomy)
        assert scores.groups.shape == (4, 2) and scores.channels.shape == (4, 512), criterion
        assert torch.isfinite(scores.channels).all() and (scores.channels >= 0).all(), criterion


@pytest.mark.parametrize("criterion", ["activation", "taylor"])
def test_data_driven_criteria_keep_what_matters(gpt, criterion):
    """Removing the half of each block's MLP channels a criterion ranks lowest hurts less than removing
    half at random, and far less than removing the half it ranks highest (the trained demo model).
    (Magnitude does not pass this on demo:gpt: its lowest-L2 channels matter more than its highest, as
    LLM-Pruner found L2 worse than random for LLaMA channels; the benchmark reports it.)"""
    anatomy = anatomy_of(gpt.calibration().model)
    scores = TRANSFORMER_CRITERIA.get(criterion)(gpt, anatomy)
    half = TransformerPlan(channels=0.5, criterion=criterion)
    perplexity, seeded = {}, torch.Generator().manual_seed(0)
    for name, ranked in [
        ("lowest", scores),
        ("highest", type(scores)(-scores.groups, -scores.channels)),
        (
            "random",
            type(scores)(
                torch.rand(scores.groups.shape, generator=seeded),
                torch.rand(scores.channels.shape, generator=seeded),
            ),
        ),
    ]:
        gpt.preview_removal(plan_transformer(gpt, half, ranked))
        perplexity[name] = gpt.report().score
    assert perplexity["lowest"] < perplexity["random"] < perplexity["highest"], perplexity


def test_distillation_is_the_task_loss_at_alpha_0_and_zero_against_itself(gpt):
    model, x = gpt.calibration().model, gpt.data.x[:2]
    task = gpt.task
    with torch.no_grad():
        teacher = lambda batch: task.logits(model, batch)  # noqa: E731
        alone = distillation(task, teacher, TrainConfig(distill=True, alpha=0.0))(model, x, x)
        itself = distillation(task, teacher, TrainConfig(distill=True, alpha=1.0))(model, x, x)
        assert alone.item() == pytest.approx(task.batch_loss(model, x, x).item(), rel=1e-6)
        assert abs(itself.item()) < 1e-6


def test_fine_tuning_the_smaller_model_with_distillation_recovers_perplexity(gpt):
    gpt.preview_removal(plan_transformer(gpt, TransformerPlan(channels=0.5, drop_blocks=(1,))))
    before = gpt.report().score
    model = gpt.shrunk()
    config = TrainConfig(steps=20, lr=1e-3, batch_size=8, distill=True, eval_every=10)
    curve = finetune_shrunk(gpt, model, train_split(gpt), config)
    assert [p.step for p in curve] == [10, 20] and curve[-1].score < before


def test_speedups_build_each_part_and_count_its_parameters(gpt):
    plan = TransformerPlan(heads=0.5, channels=0.5, drop_blocks=(1,))
    speedups = structured_speedups(gpt, plan, windows=2, repeats=1)
    assert list(speedups) == ["heads", "MLP channels", "blocks", "all of it", "unstructured, same parameters"]
    dense = sum(p.numel() for p in gpt.calibration().model.parameters())
    for name, part in [
        ("MLP channels", TransformerPlan(channels=0.5)),
        ("blocks", TransformerPlan(drop_blocks=(1,))),
    ]:
        built = plan_transformer(gpt, part).build(gpt.calibration().model, gpt.example)
        assert speedups[name].params == sum(p.numel() for p in built.parameters())
        assert speedups[name].promised == pytest.approx(dense / speedups[name].params)
    assert speedups["unstructured, same parameters"].params == speedups["all of it"].params
    assert all(s.prefill > 0 and s.decode > 0 for s in speedups.values())
