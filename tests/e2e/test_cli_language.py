"""The command line with language models: demo:gpt and hf: directories, end to end."""

import csv
import json
import subprocess
import sys

import pytest

from tests.e2e.test_cli import run


def test_evaluate_gives_perplexity_loss_and_accuracy():
    out = json.loads(run("evaluate", "demo:gpt", "--limit", "16", "--json").stdout)
    assert 3.0 < out["perplexity"] < 4.0 and out["accuracy"] > 0.5 and out["samples"] == 16
    assert out["loss"] == pytest.approx(__import__("math").log(out["perplexity"]))
    assert "model.layers.0.self_attn.q_proj" in out["layers"] and "lm_head" not in out["layers"]
    table = run("evaluate", "demo:gpt", "--limit", "8").stdout
    assert "perplexity" in table and "16 windows" not in table and "8 windows of 128 tokens" in table


def test_sparsegpt_beats_magnitude_and_apply_writes_an_hf_directory_plain_transformers_loads(tmp_path):
    ppl = {}
    for criterion in ("magnitude", "sparsegpt"):
        recipe = tmp_path / f"{criterion}.yaml"
        recipe.write_text(
            f"pruneviz: 1\nmodel: demo:gpt\ndefault: {{sparsity: 0.6, criterion: {criterion}}}\n"
        )
        out = run(
            "evaluate", "--recipe", str(recipe), "--limit", "16", "--calibration", "32", "--json"
        ).stdout
        ppl[criterion] = json.loads(out)["perplexity"]
    assert ppl["sparsegpt"] < ppl["magnitude"]
    export = tmp_path / "hf"
    applied = json.loads(
        run("apply", "--recipe", str(tmp_path / "sparsegpt.yaml"), "--limit", "16", "--calibration", "32",
            "--format", "hf", "--out", str(export), "--json").stdout
    )  # fmt: skip
    assert applied["verified"] and applied["perplexity_reloaded"] == pytest.approx(ppl["sparsegpt"], rel=1e-6)
    check = f"""
import transformers
m = transformers.AutoModelForCausalLM.from_pretrained({str(export)!r})
w = m.model.layers[0].mlp.up_proj.weight
print((w == 0).float().mean().item())
"""
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) == pytest.approx(0.6, abs=1e-3)
    again = json.loads(run("evaluate", f"hf:{export}", "--limit", "16", "--json").stdout)
    assert again["perplexity"] == pytest.approx(ppl["sparsegpt"], rel=1e-6)


def test_sensitivity_and_owl_allocation(tmp_path):
    out = tmp_path / "s.csv"
    run(
        "sensitivity",
        "demo:gpt",
        "--limit",
        "8",
        "--levels",
        "0,0.5",
        "--criterion",
        "wanda",
        "--out",
        str(out),
    )
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["layer", "sparsity", "perplexity", "loss", "criterion", "granularity"]
    assert len(rows) == 28 * 2
    recipe = tmp_path / "owl.yaml"
    summary = json.loads(
        run("auto", "demo:gpt", "--limit", "8", "--allocation", "owl", "--target-params", "0.4",
            "--out", str(recipe), "--json").stdout
    )  # fmt: skip
    assert summary["predicted_perplexity"] is None and summary["measured_perplexity"] > 3
    assert len(set(summary["sparsity"].values())) == 4  # one sparsity per block
    assert (
        json.loads(run("evaluate", "--recipe", str(recipe), "--limit", "8", "--json").stdout)["perplexity"]
        > 3
    )


def test_generate_prints_both_continuations(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pruneviz: 1\nmodel: demo:gpt\ndefault: {sparsity: 0.8}\n")
    args = ("generate", "--recipe", str(recipe), "--prompt", "The if statement", "--tokens", "40", "--json")
    out = json.loads(run(*args).stdout)
    assert out["prompt"] == "The if statement" and out["dense"] != out["pruned"]
    assert "--- dense ---" in run("generate", "demo:gpt", "--prompt", "Hello", "--tokens", "5").stdout


def test_finetune_recovers_perplexity_on_the_training_text(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("pruneviz: 1\nmodel: demo:gpt\ndefault: {sparsity: 0.7}\n")
    out = json.loads(
        run("finetune", "--recipe", str(recipe), "--limit", "16", "--steps", "30", "--batch-size", "16",
            "--out", str(tmp_path / "m.pt"), "--json").stdout
    )  # fmt: skip
    assert out["perplexity_finetuned"] < out["perplexity_pruned"]
    assert "perplexity" in out["curve"][0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evaluate", "hf:/no/such/dir"], "hf model directory not found"),
        (["evaluate", "demo:gpt", "--data", "text:/no/such.txt"], "text file not found"),
        (["evaluate", "demo:gpt", "--context", "9999"], "--context must be between 2"),
        (["evaluate", "demo:gpt", "--data", "digits"], "'text:pydoc' or 'text:PATH'"),
        (["generate", "demo:cnn", "--prompt", "hi"], "not a language model"),
    ],
)
def test_bad_language_model_input_is_one_line(args, message):
    proc = run(*args, ok=False)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
