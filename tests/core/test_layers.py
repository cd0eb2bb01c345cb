import pytest
import torch
from torch import nn

from pruneviz.core.errors import PrunevizError
from pruneviz.core.layers import discover_layers, prunable_modules
from pruneviz.io.models import load_model


def test_demo_cnn_layers_with_macs():
    layers = discover_layers(load_model("demo:cnn").module, torch.zeros(1, 1, 8, 8))
    assert [(x.name, x.type, x.shape, x.params) for x in layers] == [
        ("conv1", "Conv2d", (16, 1, 3, 3), 144),
        ("conv2", "Conv2d", (32, 16, 3, 3), 4608),
        ("fc1", "Linear", (64, 512), 32768),
        ("fc2", "Linear", (10, 64), 640),
    ]
    # conv2: 32 filters x 16x3x3 weights at each of 8x8 positions
    assert layers[1].macs == 32 * 16 * 9 * 64
    assert layers[2].macs == 512 * 64
    assert sum(x.macs_share for x in layers) == pytest.approx(1.0, abs=1e-6)


def test_torchvision_resnet18_has_qualified_names():
    layers = discover_layers(load_model("torchvision:resnet18").module, torch.zeros(1, 3, 64, 64))
    names = [x.name for x in layers]
    assert names[0] == "conv1" and "layer1.0.conv1" in names and "layer2.0.downsample.0" in names
    assert names[-1] == "fc" and len(names) == 21


def test_extra_named_modules_with_a_weight():
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    assert list(prunable_modules(model)) == ["0"]
    assert list(prunable_modules(model, ("1",))) == ["0", "1"]
    with pytest.raises(PrunevizError, match="not a module with a weight"):
        prunable_modules(model, ("2",))
