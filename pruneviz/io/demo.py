"""The shipped demo models: four small classifiers of scikit-learn's 8x8 handwritten digits.

They are small enough to train in seconds on a CPU and different enough to show what pruning does to
plain convolutions (``cnn``), fully connected layers (``mlp``, the LeNet-300-100 shape), residual
blocks with BatchNorm (``resnet``) and a vision transformer (``vit``: torchvision's own
``VisionTransformer``, so what works on it works on ``vit_b_16``). Weights are trained by
:func:`pruneviz.workflows.demo_training.train_demo` (``pruneviz train-demo``) and committed under
``assets/``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pruneviz.core.registry import Registry

ASSETS = Path(__file__).resolve().parents[2] / "assets"
INPUT_SHAPE = (1, 8, 8)
NUM_CLASSES = 10

DEMO_ARCHITECTURES: Registry[Callable[[], nn.Module]] = Registry("demo model")


def weights_path(name: str) -> Path:
    return ASSETS / f"demo_{name}.pt"


@DEMO_ARCHITECTURES.register("cnn")
class DemoCNN(nn.Module):
    """Two 3x3 convolutions, a max-pool and two linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc2(F.relu(self.fc1(self.flatten(x))))


@DEMO_ARCHITECTURES.register("mlp")
class DemoMLP(nn.Module):
    """LeNet-300-100: the fully connected net of the original magnitude-pruning papers."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(64, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(self.flatten(x)))
        return self.fc3(F.relu(self.fc2(x)))


class BasicBlock(nn.Module):
    """The ResNet basic block: two 3x3 conv+BN with an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


@DEMO_ARCHITECTURES.register("resnet")
class DemoResNet(nn.Module):
    """A stem, three residual blocks (one downsampling) and a linear classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.layer3 = BasicBlock(32, 32, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(32, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.pool(x)))


@DEMO_ARCHITECTURES.register("vit")
def demo_vit() -> nn.Module:
    """torchvision's ViT at digit size: 2x2 patches (16 tokens and a class token), 4 blocks of width 64
    with 4 heads and an MLP of 128. Its patch embedding reads one channel (torchvision's reads three)."""
    from torchvision.models.vision_transformer import VisionTransformer  # 1.3 s: only when a ViT is built

    model = VisionTransformer(
        image_size=INPUT_SHAPE[1], patch_size=2, num_layers=4, num_heads=4, hidden_dim=64, mlp_dim=128,
        num_classes=NUM_CLASSES,
    )  # fmt: skip
    model.conv_proj = nn.Conv2d(INPUT_SHAPE[0], 64, kernel_size=2, stride=2)
    return model


def initial_model(name: str, seed: int = 0) -> nn.Module:
    """Demo model ``name`` at its seeded initialisation: the starting point of the shipped weights
    (and the point a lottery ticket rewinds to)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return DEMO_ARCHITECTURES.get(name)()
