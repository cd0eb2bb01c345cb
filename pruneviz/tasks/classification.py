"""Image (or any tensor) classification: logits over classes, cross-entropy, top-1 accuracy."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pruneviz.core.metrics import accuracy_and_loss, classification_metrics, per_class_accuracy
from pruneviz.io.data import load_images
from pruneviz.tasks.base import Metric, Task


class Classification(Task):
    """Batches are inputs with integer labels; the model returns (batch, classes) logits."""

    name = "classification"
    metric = Metric("accuracy", "Accuracy", higher_is_better=True, is_fraction=True)
    extra_figures: ClassVar[dict[str, str]] = {"top5": "Top-5"}

    load_data = staticmethod(load_images)

    def batch_loss(self, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(module(x), y)

    def figures(self, outputs: torch.Tensor, y: torch.Tensor) -> dict[str, float | None]:
        return classification_metrics(outputs, y)

    def quick(self, outputs: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        return accuracy_and_loss(outputs, y)

    def breakdown(self, outputs: torch.Tensor, y: torch.Tensor) -> list[float | None]:
        return per_class_accuracy(outputs, y)

    def tolerance(self, samples: int) -> float:
        return 1.0 / samples + 1e-9  # at most one prediction may differ
