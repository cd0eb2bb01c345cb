"""Vision transformers from the command line: torchvision's ViT-B/16 and Swin-T (random weights, no
download) on synthetic images — evaluate, prune, lose MLP channels for real, export and reload."""

import json

import pytest
import torch

from tests.e2e.test_cli import run

DATA = ("--data", "synthetic:3x224x224:4")


def recipe(tmp_path, body: str):
    path = tmp_path / "r.yaml"
    path.write_text("pruneviz: 1\n" + body)
    return str(path)


def test_vit_b_16_evaluates_prunes_half_its_weights_and_loses_mlp_channels(tmp_path):
    half = json.loads(
        run(
            "evaluate", "torchvision:vit_b_16", *DATA, "--json",
            "--recipe", recipe(tmp_path, "default: {sparsity: 0.5, criterion: magnitude}\n"),
        ).stdout
    )  # fmt: skip
    layers = dict(half["layers"])
    assert layers.pop("heads.head") == 1.0  # torchvision initialises ViT's classifier to zeros
    assert all(s == pytest.approx(0.5, abs=1e-3) for s in layers.values())
    # every Linear and Conv lost half its weights; the attention's in_proj (a quarter) is not a layer
    assert half["params_nonzero"] < 0.7 * half["params_total"]
    out = tmp_path / "vit.ts"
    channels = recipe(tmp_path, "structure: {channels: 0.25, criterion: magnitude}\n")
    applied = run("apply", "torchvision:vit_b_16", *DATA, "--recipe", channels, "--format", "torchscript",
                  "--out", str(out), "--json")  # fmt: skip
    summary = json.loads(applied.stdout)
    assert (
        summary["verified"]
        and summary["params_pruned"] == summary["params_predicted"] < summary["params_dense"]
    )
    shrunk = torch.jit.load(str(out))
    first = dict(shrunk.named_modules())["encoder.layers.encoder_layer_0.mlp.0"]  # scripted: no indexing
    assert first.weight.shape == (2304, 768)  # 3072 - 25%
    preview = json.loads(
        run("evaluate", "torchvision:vit_b_16", *DATA, "--recipe", channels, "--json").stdout
    )
    reloaded = json.loads(run("evaluate", f"file:{out}", *DATA, "--json").stdout)
    assert reloaded["loss"] == pytest.approx(preview["loss"], abs=1e-5)  # the preview's logits, reloaded


def test_swin_t_loses_mlp_channels_and_refuses_heads_and_filters_in_one_line(tmp_path):
    out = tmp_path / "swin.pt"
    channels = recipe(tmp_path, "structure: {channels: 0.25}\n")
    summary = json.loads(
        run("apply", "torchvision:swin_t", *DATA, "--recipe", channels, "--out", str(out), "--json").stdout
    )
    assert (
        summary["verified"]
        and summary["params_pruned"] == summary["params_predicted"] < summary["params_dense"]
    )
    for body, said in (
        ("structure: {heads: 0.5}\n", "computes the head size from the model's width"),
        ("structure: {filters: 0.3}\n", "loses MLP channels"),
    ):
        refused = run("evaluate", "torchvision:swin_t", *DATA, "--recipe", recipe(tmp_path, body), ok=False)
        assert refused.returncode != 0 and said in refused.stderr and len(refused.stderr.splitlines()) == 1


def test_the_demo_vit_runs_sensitivity_allocation_fine_tune_and_lottery(tmp_path):
    """The shipped ViT through every recovery and analysis command, on the suite's short settings."""
    sweep = tmp_path / "sens.csv"
    run("sensitivity", "demo:vit", "--levels", "0,0.5,0.9", "--out", str(sweep))
    rows = sweep.read_text().splitlines()[1:]
    assert len(rows) == 3 * 14  # 4 blocks x (out_proj, mlp.0, mlp.3) + conv_proj + head, 3 levels
    auto = tmp_path / "auto.yaml"
    summary = json.loads(
        run("auto", "demo:vit", "--target-params", "0.5", "--levels", "0,0.25,0.5,0.75,0.9",
            "--out", str(auto), "--json").stdout
    )  # fmt: skip
    evaluated = json.loads(run("evaluate", "--recipe", str(auto), "--json").stdout)
    assert evaluated["accuracy"] == pytest.approx(summary["measured_accuracy"])
    two_four = recipe(tmp_path, "model: demo:vit\ndefault: {sparsity: 0.5, granularity: '2:4'}\n")
    layers = json.loads(run("evaluate", "--recipe", two_four, "--json").stdout)["layers"]
    assert layers.pop("conv_proj") == 0.0  # one input channel: N:M groups run along input channels
    assert set(layers.values()) == {0.5}
    channels = recipe(tmp_path, "model: demo:vit\nstructure: {channels: 0.75, criterion: taylor}\n")
    tuned = json.loads(
        run("finetune", "--recipe", channels, "--steps", "60", "--distill", "--out", str(tmp_path / "ft.pt"),
            "--json").stdout
    )  # fmt: skip
    assert tuned["accuracy_finetuned"] > tuned["accuracy_pruned"]  # distilled from the dense ViT
    reloaded = json.loads(run("evaluate", f"file:{tmp_path / 'ft.pt'}", "--json").stdout)
    assert reloaded["accuracy"] == pytest.approx(tuned["accuracy_finetuned"])
    assert reloaded["params_total"] == tuned["params_total"]
    lottery = tmp_path / "lt.csv"
    run("lottery", "demo:vit", "--rounds", "1", "--steps", "30", "--out", str(lottery))
    assert len(lottery.read_text().splitlines()) == 3  # header, the dense round, one ticket


@pytest.mark.parametrize(
    ("model", "said"),
    [("torchvision:swin_v2_t", "loses MLP channels"), ("torchvision:maxvit_t", "has attention")],
)
def test_a_filter_granularity_on_a_transformer_is_refused_before_any_graph_is_built(tmp_path, model, said):
    """Regression (#34): `apply torchvision:swin_v2_t` with a filter default grew until the kernel
    killed it after 251 s; every filter plan now goes through the one door that refuses it."""
    body = "default: {sparsity: 0.3, criterion: l1, granularity: filter}\n"
    out = str(tmp_path / "x.pt")
    refused = run("apply", model, *DATA, "--recipe", recipe(tmp_path, body), "--out", out, ok=False)
    assert refused.returncode == 2 and said in refused.stderr and len(refused.stderr.splitlines()) == 1
