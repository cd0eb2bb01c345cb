"""Every common family of causal LM, as a tiny random model saved with save_pretrained: Wanda at 50%,
heads (where the family's config can hold fewer), MLP channels and a dropped block, exported as an hf
directory and reloaded by plain transformers in a process that imports nothing else, with the logits
the session previewed."""

import json
import subprocess
import sys

import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.io.anatomy import FAMILIES, anatomy_of, family_of
from pruneviz.io.data import DataOptions
from pruneviz.io.formats import export_model
from pruneviz.workflows.recipe import apply_recipe, parse_recipe
from pruneviz.workflows.session import open_session
from pruneviz.workflows.transformer import TransformerPlan, plan_transformer
from tests.conftest import FAMILY_NAMES, save_tiny_lm, tiny_config

TIED = {"gpt_neox", "opt", "gpt2"}  # the head size follows the width: fewer heads would not load back
RELOAD = """
import json, sys, torch, transformers
out = {}
for name, path in json.loads(sys.argv[1]).items():
    model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
    io = torch.load(path + "/io.pt")
    with torch.no_grad():
        got = model(input_ids=io["x"]).logits
    out[name] = [(got - io["expected"]).abs().max().item(), model.config.num_hidden_layers]
print(json.dumps(out))
"""


def session_of(path: str):
    return open_session(f"hf:{path}", data_options=DataOptions(limit=4, calibration=8), device="cpu")


def exported(session, model, path, expected) -> str:
    export_model(model, path, "hf", session.export_meta())
    torch.save({"x": session.data.x[:2], "expected": expected}, path / "io.pt")
    return str(path)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_every_family_prunes_shrinks_and_reloads_in_plain_transformers(tiny_families, family, tmp_path):
    session = session_of(tiny_families[family])
    anatomy = anatomy_of(session.calibration().model)
    x = session.data.x[:2]
    dirs = {}
    apply_recipe(session, parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.5, "criterion": "wanda"}}))
    assert all(s == pytest.approx(0.5, abs=0.02) for s in session.layer_sparsity().values())
    dirs["wanda"] = exported(
        session, session.working, tmp_path / "wanda", session.task.logits(session.working, x)
    )
    plan = TransformerPlan(
        heads=0.0 if family in TIED else 0.5,
        channels={0: 0.5, 1: 0.25},
        drop_blocks=(1,),
        criterion="activation",
    )
    session.preview_removal(plan_transformer(session, plan))
    preview = session.task.logits(session.working, x)
    built = session.shrunk()
    assert (session.task.logits(built, x) - preview).abs().max().item() <= 1e-4
    dirs["structure"] = exported(session, built, tmp_path / "structure", preview)
    run = subprocess.run(
        [sys.executable, "-c", RELOAD, json.dumps(dirs)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    reloaded = json.loads(run.stdout)
    assert reloaded["wanda"][0] <= 1e-4 and reloaded["structure"][0] <= 1e-4, reloaded
    assert reloaded["structure"][1] == 1  # one block dropped of two
    if family not in TIED:  # half the key/value groups went: the config says so
        config = json.loads((tmp_path / "structure" / "config.json").read_text())
        assert config["num_attention_heads"] == anatomy.heads // 2


@pytest.mark.parametrize("family", sorted(TIED))
def test_families_whose_head_size_follows_the_width_refuse_heads_in_one_line(tiny_families, family):
    session = session_of(tiny_families[family])
    with pytest.raises(PrunevizError, match="derives the head size from the model's width") as err:
        plan_transformer(session, TransformerPlan(heads=0.5))
    assert "\n" not in str(err.value)


def test_the_family_registry_reads_llama_like_families_from_their_tensor_parallel_plan():
    for family in ("llama", "qwen2", "mistral", "gemma"):
        found = family_of(tiny_config(family))
        assert (found.q, found.k, found.v, found.o) == ("q_proj", "k_proj", "v_proj", "o_proj")
        assert (found.gate, found.up, found.down) == ("gate_proj", "up_proj", "down_proj")
        assert family not in FAMILIES  # no entry of its own: its configuration says it
    assert family_of(tiny_config("phi3")).qkv == "qkv_proj"


def test_an_unknown_family_is_refused_before_any_work(tmp_path):
    from transformers import BloomConfig

    path = save_tiny_lm(tmp_path / "bloom", BloomConfig(vocab_size=384, hidden_size=64, n_layer=2, n_head=4))
    session = session_of(path)
    with pytest.raises(PrunevizError, match="does not know where a 'bloom' model keeps its heads") as err:
        plan_transformer(session, TransformerPlan(drop_blocks=(0,)))
    assert "\n" not in str(err.value)


def test_a_tokenizer_that_gives_no_tokens_is_named_as_a_tokenizer_problem(tmp_path):
    path = tmp_path / "qwen"
    save_tiny_lm(path, tiny_config("qwen2"))
    settings = json.loads((path / "tokenizer_config.json").read_text())
    settings.pop("tokenizer_class")  # transformers then gives a Qwen2 config an empty Qwen2Tokenizer
    (path / "tokenizer_config.json").write_text(json.dumps(settings))
    with pytest.raises(PrunevizError, match="turns text into no tokens at all: a tokenizer problem"):
        session_of(str(path))
