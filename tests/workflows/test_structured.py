"""Structured removal: the masked preview must predict the shrunk model exactly, on every model
the issue names, and the shrunk model must save and load back."""

import pytest
import torch
import torch.nn.functional as F
from timm.layers.bottleneck_attn import BottleneckAttn
from timm.layers.cbam import CbamModule
from timm.layers.halo_attn import HaloAttn
from timm.layers.split_attn import SplitAttn
from timm.layers.squeeze_excite import SEModule
from torch import nn

from pruneviz.core.errors import PrunevizError
from pruneviz.core.importance import Calibration
from pruneviz.core.layers import discover_layers, module_macs
from pruneviz.core.metrics import param_counts
from pruneviz.core.structure import coupled_layers, preview, shrink
from pruneviz.io.data import digits_split
from pruneviz.io.formats import ExportMeta, export_model
from pruneviz.io.models import load_model
from pruneviz.tasks import TASKS
from pruneviz.workflows.structured import (
    STRUCTURED_CRITERIA,
    StructuredPlan,
    _mixes_tokens,
    plan_removal,
    refuse_unknown_attention,
)

CLASSIFICATION = TASKS.get("classification")
MODELS = [
    "demo:cnn", "demo:mlp", "demo:resnet", "torchvision:resnet18", "torchvision:resnet50",
    "torchvision:mobilenet_v2", "torchvision:vgg11_bn", "torchvision:efficientnet_b0",
    "torchvision:densenet121", "torchvision:vit_b_16",
    "torchvision:regnet_y_400mf",  # grouped convs: the preview zeroed columns by global index (IndexError)
    "torchvision:mnasnet0_5",  # its loader needs the module versions a weights-only file loses
]  # fmt: skip


def real_inputs(spec: str, n: int = 4) -> torch.Tensor:
    """Real handwritten digits, resized and repeated to what the model takes."""
    x = digits_split()[1][0][:n]
    if spec.startswith("demo:"):
        return x
    size = 224 if "vit" in spec else 64
    return F.interpolate(x, size=(size, size), mode="bilinear").repeat(1, 3, 1, 1)


@pytest.mark.parametrize("spec", MODELS)
def test_preview_predicts_the_shrunk_model_exactly_and_it_reloads(spec, tmp_path):
    loaded = load_model(spec)
    model, x = loaded.module, real_inputs(spec)
    example = x[:1]
    removal = plan_removal(model, example, StructuredPlan(global_ratio=0.4, criterion="l1"))
    assert removal.history, "nothing was removed"
    masked = load_model(spec).module
    preview(masked, removal.removed)
    small = shrink(model, example, removal.history)
    with torch.no_grad():
        expected, got = masked(x), small(x)
    scale = expected.abs().max().item()
    assert (expected - got).abs().max().item() <= min(1e-4, 1e-3 * scale + 1e-12)

    total, _ = param_counts(model)
    macs, _ = module_macs(model, example)
    params_pred, macs_pred = removal.predict(total, macs, discover_layers(model, example))
    assert params_pred == param_counts(small)[0] < total
    assert macs_pred == module_macs(small, example)[0] < macs

    meta = ExportMeta(loaded.arch_spec, "synthetic", tuple(example.shape[1:]), structure=removal.history)
    path = export_model(small, tmp_path / "small.pt", "state_dict", meta)
    reloaded = load_model(f"file:{path}").module
    with torch.no_grad():
        assert torch.equal(reloaded(x), got)


def test_classifier_and_pinned_layers_are_never_touched():
    model = load_model("demo:resnet").module
    example = real_inputs("demo:resnet")[:1]
    removal = plan_removal(model, example, StructuredPlan(global_ratio=0.5, pinned=("layer1.conv1",)))
    roots = {root for root, _, _ in removal.history}
    assert "layer1.conv1" not in roots and "fc" not in roots
    assert not removal.removed.get("fc.weight", torch.zeros(1, dtype=torch.bool))[:, 0].all()
    small = shrink(model, example, removal.history)
    assert small.fc.out_features == 10 and small.layer1.conv1.out_channels == 16


def test_per_layer_ratios_and_round_to():
    model = load_model("torchvision:resnet18").module
    example = real_inputs("torchvision:resnet18")[:1]
    plan = StructuredPlan(ratios={"layer1.0.conv1": 0.5, "layer3.0.conv1": 0.3}, round_to=8)
    small = shrink(model, example, plan_removal(model, example, plan).history)
    assert small.layer1[0].conv1.out_channels == 32  # 64 * (1 - 0.5)
    assert small.layer3[0].conv1.out_channels == 176  # 256 * 0.7 = 179.2, rounded down to a multiple of 8
    assert small.layer2[0].conv1.out_channels == 128  # untouched


def test_taylor_needs_calibration_and_every_criterion_runs():
    model = load_model("demo:resnet").module
    (x, y) = digits_split()[1]
    example = x[:1]
    with pytest.raises(PrunevizError, match="calibration"):
        plan_removal(model, example, StructuredPlan(global_ratio=0.3, criterion="taylor"))
    chosen = {}
    for criterion in STRUCTURED_CRITERIA.names():
        calibration = Calibration(model, x[:64], y[:64], CLASSIFICATION.batch_loss)
        removal = plan_removal(
            model, example, StructuredPlan(global_ratio=0.3, criterion=criterion), calibration
        )
        chosen[criterion] = removal.history
        assert removal.history
    assert chosen["l1"] != chosen["bn_scale"] and chosen["l1"] != chosen["random"]


def test_coupled_layers_of_a_residual_block():
    model = load_model("torchvision:resnet18").module
    group = coupled_layers(model, real_inputs("torchvision:resnet18")[:1], "layer1.0.conv2")
    names = {name: kind for name, _, kind in group}
    assert names["layer1.0.bn2"] == "out" and names["layer1.1.conv1"] == "in"
    assert names["conv1"] == "out"  # the residual stream ties it to the stem
    assert {"layer1.1.conv2", "layer2.0.conv1", "layer2.0.downsample.0"} <= set(names)


def test_layernorm_coupled_groups_are_kept_and_reported():
    model = load_model("torchvision:vit_b_16").module
    removal = plan_removal(model, real_inputs("torchvision:vit_b_16")[:1], StructuredPlan(global_ratio=0.3))
    assert all(".mlp.0" in root for root, _, _ in removal.history)
    assert any("LayerNorm" in note for note in removal.skipped)


class _Mix(nn.Module):
    """Mixes channels through a raw parameter in an einsum, which Torch-Pruning cannot follow."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.mix = nn.Parameter(torch.randn(8, 8))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.einsum("bchw,cd->bdhw", self.conv(x), self.mix).mean((2, 3)))


def test_a_model_torch_pruning_cannot_handle_gets_a_message_naming_the_layer():
    model, example = _Mix().eval(), torch.randn(1, 3, 8, 8)
    removal = plan_removal(model, example, StructuredPlan(global_ratio=0.5))
    with pytest.raises(PrunevizError, match=r"cannot remove channels of 'conv'.*pin that layer"):
        shrink(model, example, removal.history)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (StructuredPlan(global_ratio=1.0), r"\[0, 1\)"),
        (StructuredPlan(ratios={"conv9": 0.5}), "unknown layer 'conv9'"),
        (StructuredPlan(ratios={"conv1": 0.5}, criterion="activation"), "unknown structured criterion"),
        (StructuredPlan(global_ratio=0.5, round_to=0), "round_to"),
    ],
)
def test_bad_plans_are_clear_errors(plan, message):
    with pytest.raises(PrunevizError, match=message):
        plan_removal(load_model("demo:cnn").module, real_inputs("demo:cnn")[:1], plan)


def test_attention_with_heads_is_told_from_channel_gates():
    """Regression: timm's BottleneckAttn (botnet26t) passed the ``…Attention`` name test, and its filter
    plan grew Torch-Pruning's graph past 9.5 GB in six minutes, still growing; channel gates
    (squeeze-and-excitation, CBAM, ResNeSt's split attention) are what Torch-Pruning follows."""
    heads = [
        BottleneckAttn(64, feat_size=(8, 8), num_heads=4),
        HaloAttn(64, num_heads=4, block_size=4, halo_size=1),
    ]
    assert all(_mixes_tokens(m) for m in heads)
    gates = [SplitAttn(64), CbamModule(64), SEModule(64)]
    assert not any(_mixes_tokens(m) for gate in gates for m in gate.modules())
    with pytest.raises(
        PrunevizError, match=r"^m has attention \(BottleneckAttn '1'\) in blocks pruneviz does not"
    ):
        refuse_unknown_attention(nn.Sequential(nn.Conv2d(3, 64, 3), heads[0]), "m")
