"""The command line removing heads, MLP channels and blocks from demo:gpt: depth, apply, finetune
--distill, latency, and the one-line refusals of recipes that cannot be built."""

import json
import subprocess
import sys

import pytest
import yaml

from tests.e2e.test_cli import run

SMALL = ("--limit", "16", "--calibration", "16")


def recipe(tmp_path, body: str):
    path = tmp_path / "r.yaml"
    path.write_text(f"pruneviz: 1\nmodel: demo:gpt\n{body}")
    return str(path)


def test_depth_ranks_blocks_by_influence_and_writes_a_recipe_apply_builds(tmp_path):
    out = tmp_path / "depth.yaml"
    ranked = json.loads(run("depth", "demo:gpt", "--drop", "1", "--out", str(out), *SMALL, "--json").stdout)
    influence = ranked["block_influence"]
    lowest = min(range(4), key=influence.__getitem__)
    assert ranked["drop_blocks"] == [lowest] and yaml.safe_load(out.read_text())["drop_blocks"] == [lowest]
    export = tmp_path / "hf"
    applied = json.loads(
        run("apply", "--recipe", str(out), *SMALL, "--format", "hf", "--out", str(export), "--json").stdout
    )
    assert applied["kind"] == "structured" and applied["verified"]
    assert applied["params_pruned"] == applied["params_predicted"] < applied["params_dense"]
    config = json.loads((export / "config.json").read_text())
    assert config["num_hidden_layers"] == 3 and config["num_key_value_heads"] == 2


def test_a_structure_recipe_builds_a_model_plain_transformers_loads(tmp_path):
    export = tmp_path / "hf"
    r = recipe(tmp_path, "structure: {heads: 0.5, channels: 0.25, criterion: activation}\n")
    run("apply", "--recipe", r, *SMALL, "--format", "hf", "--out", str(export))
    check = f"""
import transformers
m = transformers.AutoModelForCausalLM.from_pretrained({str(export)!r})
c = m.config
print(c.num_attention_heads, c.num_key_value_heads, c.intermediate_size, m.num_parameters())
"""
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    heads, kv, mlp, params = map(int, proc.stdout.split())
    assert (heads, kv, mlp) == (2, 1, 384) and params < 1_100_000


@pytest.mark.parametrize(
    "body, message",
    [
        ("structure: {drop_heads: {0: [5]}}\n", "block 0 has no head group 5"),
        ("drop_blocks: [0, 1, 2, 3]\n", "would drop all 4 blocks"),
        ("structure: {heads: 0.25}\n", "breaks grouped-query attention"),
        ("structure: {heads: 0.5, colour: red}\n", "colour"),
        ("drop_blocks: 2\n", "must be a list of block indices"),
    ],
)
def test_recipes_that_cannot_be_built_fail_in_one_line(tmp_path, body, message):
    proc = run("apply", "--recipe", recipe(tmp_path, body), *SMALL, "--out", str(tmp_path / "m"), ok=False)
    assert proc.returncode != 0 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_finetune_distils_the_smaller_model_and_reports_before_and_after(tmp_path):
    r = recipe(tmp_path, "structure: {channels: 0.5, criterion: activation}\ndrop_blocks: [1]\n")
    out = tmp_path / "tuned"
    summary = json.loads(
        run("finetune", "--recipe", r, *SMALL, "--steps", "20", "--batch-size", "8", "--distill",
            "--temperature", "2", "--out", str(out), "--json").stdout
    )  # fmt: skip
    assert summary["perplexity_finetuned"] < summary["perplexity_pruned"]
    assert summary["perplexity_dense"] < summary["perplexity_pruned"]
    assert [p["step"] for p in summary["curve"]][-1] == 20 and (out / "config.json").exists()
    again = json.loads(run("evaluate", f"hf:{out}", "--limit", "16", "--json").stdout)
    assert again["perplexity"] == pytest.approx(summary["perplexity_finetuned"], rel=1e-4)


def test_latency_of_a_language_model_reports_prefill_and_decode_tokens_per_second(tmp_path):
    r = recipe(tmp_path, "structure: {channels: 0.5}\n")
    out = json.loads(
        run("latency", "--recipe", r, "--limit", "8", "--windows", "2", "--decode-tokens", "4",
            "--repeats", "1", "--json").stdout
    )  # fmt: skip
    assert out["kind"] == "structured" and out["params_pruned"] < out["params_dense"]
    for what in ("prefill_tokens_per_s", "decode_tokens_per_s"):
        assert out[what]["dense"] > 0 and out[what]["pruned"] > 0
    table = run("latency", "--recipe", r, "--limit", "8", "--windows", "2", "--decode-tokens", "4").stdout
    assert "prefill (2 x 128 tokens)" in table and "decode (batch 1, 4 tokens)" in table
