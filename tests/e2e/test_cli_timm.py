"""timm models from the command line (random weights, no download): a DeiT loses heads and MLP
channels for real and reloads with the preview's outputs; a ConvNeXt and an EfficientNet lose filters
through Torch-Pruning; what cannot be done is refused in one line."""

import json

import pytest
import torch
from safetensors.torch import save_file

from pruneviz.io.models import load_model
from pruneviz.workflows.recipe import apply_recipe, load_recipe
from pruneviz.workflows.session import open_session
from tests.e2e.test_cli import run
from tests.e2e.test_cli_vision import recipe

DATA = ("--data", "synthetic:3x224x224:4")
DEIT = "timm:deit_tiny_patch16_224"  # 3 heads of 64 in each of 12 blocks, MLPs of 768


def test_a_deit_loses_heads_and_mlp_channels_for_real_and_reloads_with_the_previews_outputs(tmp_path):
    plan = recipe(tmp_path, "structure: {heads: 0.34, channels: 0.25, criterion: magnitude}\n")
    out = tmp_path / "deit.pt"
    summary = json.loads(run("apply", DEIT, *DATA, "--recipe", plan, "--out", str(out), "--json").stdout)
    assert summary["verified"]
    assert summary["params_pruned"] == summary["params_predicted"] < summary["params_dense"]
    assert summary["macs_pruned"] == summary["macs_predicted"] < summary["macs_dense"]
    model = load_model(f"file:{out}").module
    for block in model.blocks:
        assert block.attn.num_heads == 2 and block.attn.qkv.weight.shape == (3 * 128, 192)
        assert block.attn.proj.weight.shape == (192, 128) and block.mlp.fc1.weight.shape == (576, 192)
    session = open_session(DEIT, data_spec=DATA[1])
    apply_recipe(session, load_recipe(plan))
    x = session.data.x
    with (
        torch.no_grad()
    ):  # the preview's logits, reloaded (synthetic labels follow each model: compare logits)
        assert torch.allclose(model(x), session.working(x), atol=1e-4)


def test_named_heads_go_and_a_block_keeps_at_least_one(tmp_path):
    named = recipe(tmp_path, "structure: {drop_heads: {0: [2], 5: [0, 1]}}\n")
    out = tmp_path / "named.pt"
    run("apply", DEIT, *DATA, "--recipe", named, "--out", str(out))
    blocks = load_model(f"file:{out}").module.blocks
    assert [b.attn.num_heads for b in blocks] == [2, 3, 3, 3, 3, 1, 3, 3, 3, 3, 3, 3]
    every = recipe(tmp_path, "structure: {drop_heads: {3: [0, 1, 2]}}\n")
    refused = run("evaluate", DEIT, *DATA, "--recipe", every, ok=False)
    assert refused.returncode == 2 and "would lose all its 3 heads" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1


@pytest.mark.parametrize("model", ["timm:convnext_atto", "timm:efficientnet_b0"])
def test_a_timm_convnet_loses_filters_through_torch_pruning(tmp_path, model):
    plan = recipe(tmp_path, "default: {sparsity: 0.3, criterion: l1, granularity: filter}\n")
    out = tmp_path / "small.pt"
    summary = json.loads(run("apply", model, *DATA, "--recipe", plan, "--out", str(out), "--json").stdout)
    assert summary["verified"] and summary["params_pruned"] == summary["params_predicted"]
    assert summary["params_pruned"] < 0.8 * summary["params_dense"]


def test_a_local_checkpoint_loads_and_what_cannot_be_done_is_refused_in_one_line(tmp_path):
    weights = tmp_path / "deit.safetensors"
    dense = load_model(DEIT).module
    save_file({k: v * 0.5 if k == "head.weight" else v for k, v in dense.state_dict().items()}, weights)
    loaded = load_model(f"{DEIT}:{weights}").module
    assert torch.equal(loaded.head.weight, dense.head.weight * 0.5)
    for args, said in (
        (("timm:no_such_net",), "is not a timm model"),
        ((DEIT, "--weights", "DEFAULT"), "--allow-download"),
        ((f"{DEIT}:{tmp_path / 'missing.pt'}",), "not found"),
        ((DEIT, "--recipe", recipe(tmp_path, "structure: {filters: 0.3}\n")), "loses MLP channels"),
    ):
        refused = run("evaluate", *args, *DATA, ok=False)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
        assert len(refused.stderr.splitlines()) == 1
