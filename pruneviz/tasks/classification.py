"""Image (or any tensor) classification: logits over classes, cross-entropy, top-1 accuracy."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pruneviz.core.metrics import accuracy_and_loss, classification_metrics, per_class_accuracy
from pruneviz.core.timing import measure_latency
from pruneviz.io.data import DataSet, load_images
from pruneviz.io.vision import vision_blocks
from pruneviz.tasks.base import Z95, Estimate, LatencyOptions, Metric, Task, Timing
from pruneviz.tasks.structure import FILTERS, VISION_TRANSFORMER, StructureKind

if TYPE_CHECKING:
    from pruneviz.io.models import LoadedModel


class Classification(Task):
    """Batches are inputs with integer labels; the model returns (batch, classes) logits."""

    name = "classification"
    metric = Metric("accuracy", "Accuracy", higher_is_better=True, is_fraction=True)
    extra_figures: ClassVar[dict[str, str]] = {"top5": "Top-5"}
    explains_inputs = True
    export_formats: ClassVar[tuple[str, ...]] = (
        "state_dict", "safetensors", "torch-prune", "torchscript", "onnx", "full", "semi-structured",
    )  # fmt: skip

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

    def estimate(self, outputs: torch.Tensor, y: torch.Tensor, total: int) -> Estimate:
        """Accuracy with a Wilson interval, narrowed by the share of the data set already seen."""
        score = accuracy_and_loss(outputs, y)[0]
        n = len(y)
        if n >= total:
            return Estimate(score, score, score, n, total)
        z = Z95 * math.sqrt((total - n) / max(total - 1, 1))  # finite population: all samples, no doubt
        centre = (score + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(score * (1 - score) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return Estimate(score, max(0.0, centre - half), min(1.0, centre + half), n, total)

    def structure(self, model: LoadedModel) -> StructureKind:
        """A vision transformer whose blocks the registry knows (torchvision's ViT and Swin, timm's ViT
        and DeiT) loses MLP channels and heads, any other model filters."""
        return VISION_TRANSFORMER if vision_blocks(model.module) is not None else FILTERS

    def latency(
        self,
        dense: nn.Module,
        pruned: nn.Module,
        data: DataSet,
        device: torch.device,
        options: LatencyOptions,
    ) -> tuple[list[Timing], dict]:
        """Milliseconds per batch of each size (median), the dense and the pruned model in turn."""
        shape, repeats = data.sample_shape, options.repeats
        ms = {
            b: (
                measure_latency(dense, shape, b, device, repeats),
                measure_latency(pruned, shape, b, device, repeats),
            )
            for b in options.batch_sizes
        }
        ref = 64 if 64 in ms else max(ms)  # the batch the headline figure is given for
        timings = [Timing(f"batch {b}", "ms", d, p) for b, (d, p) in ms.items()]
        fields = {
            "latency_ms_dense": ms[ref][0],
            "latency_ms_pruned": ms[ref][1],
            "batch_size": ref,
            "latency_ms": {str(b): {"dense": d, "pruned": p} for b, (d, p) in ms.items()},
        }
        return timings, fields
