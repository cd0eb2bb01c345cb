"""Which input pixels a classifier's decision rests on: Captum's Integrated Gradients for one sample.

Shown for the dense and the pruned model side by side, it makes visible what pruning changed in what
the model looks at, beyond the accuracy figure (two models may both be right for different reasons).
"""

from __future__ import annotations

import torch
from torch import nn

IG_STEPS = 32  # Riemann steps from the all-zero baseline: enough for a smooth map of a small image


def input_attribution(model: nn.Module, x: torch.Tensor, target: int, steps: int = IG_STEPS) -> torch.Tensor:
    """|Integrated Gradients| of ``model``'s logit for class ``target`` at the single input ``x``
    (without a batch dimension), from a black baseline; an image's channels are summed, so the map has
    the image's height and width."""
    from captum.attr import IntegratedGradients  # imported by the view that uses it: start-up stays quick

    with torch.enable_grad():
        attributions = IntegratedGradients(model).attribute(
            x.unsqueeze(0), target=int(target), n_steps=steps, internal_batch_size=steps
        )
    found = attributions[0].detach().abs()
    return found.sum(0) if found.dim() == 3 else found
