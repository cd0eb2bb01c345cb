"""timm models from the command line (random weights, no download): a DeiT loses heads and MLP
channels for real and reloads with the preview's outputs; a ConvNeXt loses filters through
Torch-Pruning; what cannot be done is refused in one line. (EfficientNet-B0 and the full-size models
are measured by benchmarks/timm_models.py.)"""

import json

import pytest
import torch
from safetensors.torch import save_file

from pruneviz.core.errors import PrunevizError
from pruneviz.io.models import load_model
from pruneviz.workflows.recipe import apply_recipe, load_recipe
from pruneviz.workflows.session import open_session
from tests.e2e.test_cli import run
from tests.e2e.test_cli_vision import recipe

DATA = ("--data", "synthetic:3x224x224:4")
DEIT = "timm:deit_tiny_patch16_224"  # 3 heads of 64 in each of 12 blocks, MLPs of 768


def test_a_deit_loses_heads_and_mlp_channels_for_real_and_reloads_with_the_previews_outputs(tmp_path):
    """A third of the heads by magnitude in every block (block 5: the two named), a quarter of the MLP
    channels; the checkpoint replays the removal on a fresh DeiT and gives the preview's logits."""
    body = "structure: {heads: 0.34, drop_heads: {5: [0, 1]}, channels: 0.25, criterion: magnitude}\n"
    plan = recipe(tmp_path, body)
    out = tmp_path / "deit.pt"
    summary = json.loads(run("apply", DEIT, *DATA, "--recipe", plan, "--out", str(out), "--json").stdout)
    assert summary["verified"]
    assert summary["params_pruned"] == summary["params_predicted"] < summary["params_dense"]
    assert summary["macs_pruned"] == summary["macs_predicted"] < summary["macs_dense"]
    model = load_model(f"file:{out}").module
    assert [b.attn.num_heads for b in model.blocks] == [2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2]
    for block in model.blocks:
        heads = block.attn.num_heads
        assert block.attn.qkv.weight.shape == (3 * 64 * heads, 192)
        assert block.attn.proj.weight.shape == (192, 64 * heads) and block.mlp.fc1.weight.shape == (576, 192)
    session = open_session(DEIT, data_spec=DATA[1])
    apply_recipe(session, load_recipe(plan))
    x = session.data.x
    with torch.no_grad():  # synthetic labels follow each model's own predictions: compare the logits
        assert torch.allclose(model(x), session.working(x), atol=1e-4)


def test_the_methods_that_read_inputs_prune_a_deit_unstructured_and_two_of_four(tmp_path):
    """Wanda, RIA, DSnoT and SparseGPT on a timm ViT's Linear layers, sequentially, from one recipe;
    the patch embedding (a conv) is left dense by DSnoT with the reason (it once died inside DSnoT)."""
    body = (
        "default: {sparsity: 0.5, criterion: dsnot}\n"
        "layers:\n"
        "  blocks.0.mlp.fc1: {sparsity: 0.5, criterion: sparsegpt, granularity: '2:4'}\n"
        "  blocks.1.attn.qkv: {sparsity: 0.5, criterion: ria, granularity: '2:4'}\n"
        "  blocks.2.mlp.fc2: {sparsity: 0.6, criterion: wanda}\n"
    )
    proc = run("evaluate", DEIT, *DATA, "--recipe", recipe(tmp_path, body), "--json")
    assert "left dense: patch_embed.proj (DSnoT prunes Linear layers only, not a Conv2d)" in proc.stderr
    layers = json.loads(proc.stdout)["layers"]
    assert layers["patch_embed.proj"] == 0.0 and layers["blocks.2.mlp.fc2"] == int(0.6 * 768) / 768  # per row
    assert {v for k, v in layers.items() if k not in ("patch_embed.proj", "blocks.2.mlp.fc2")} == {0.5}


def test_a_convnext_loses_filters_through_torch_pruning(tmp_path):
    plan = recipe(tmp_path, "default: {sparsity: 0.3, criterion: l1, granularity: filter}\n")
    out = tmp_path / "small.pt"
    applied = run("apply", "timm:convnext_atto", *DATA, "--recipe", plan, "--out", str(out), "--json")
    summary = json.loads(applied.stdout)
    assert summary["verified"] and summary["params_pruned"] == summary["params_predicted"]
    assert summary["params_pruned"] < 0.8 * summary["params_dense"]


def test_a_local_checkpoint_loads_and_what_cannot_be_done_is_refused_in_one_line(tmp_path):
    weights = tmp_path / "deit.safetensors"
    dense = load_model(DEIT).module
    save_file({k: v * 0.5 if k == "head.weight" else v for k, v in dense.state_dict().items()}, weights)
    assert torch.equal(load_model(f"{DEIT}:{weights}").module.head.weight, dense.head.weight * 0.5)
    for spec, said in (
        ("timm:no_such_net", "is not a timm model"),
        (f"{DEIT}:{tmp_path / 'missing.pt'}", "not found"),
    ):
        with pytest.raises(PrunevizError, match=said):
            load_model(spec)
    for body, args, said in (
        (None, ("--weights", "DEFAULT"), "--allow-download"),
        ("structure: {drop_heads: {3: [0, 1, 2]}}\n", (), "would lose all its 3 heads"),
        ("structure: {filters: 0.3}\n", (), "loses MLP channels"),
    ):
        if body is not None:  # each recipe written just before its run (they share one file name)
            args = ("--recipe", recipe(tmp_path, body))
        refused = run("evaluate", DEIT, *args, *DATA, ok=False)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
        assert len(refused.stderr.splitlines()) == 1
