"""What the dense and the pruned model look at in one validation sample (Integrated Gradients)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pruneviz.core.attribution import input_attribution
from pruneviz.core.budget import within_budget
from pruneviz.core.errors import PrunevizError
from pruneviz.workflows.session import PruneSession


@dataclass(frozen=True)
class Explanation:
    """One sample: the input as drawn (channels summed for an image), its label, and for each model its
    prediction and the attribution map (same shape as the drawn input)."""

    sample: torch.Tensor
    label: int
    dense_prediction: int
    pruned_prediction: int
    dense: torch.Tensor
    pruned: torch.Tensor


def explain_sample(session: PruneSession, index: int) -> Explanation:
    """Attribute validation sample ``index``'s true class for the session's dense model (the calibration
    copy, one pass at a time) and its working copy as pruned now."""
    if not session.task.explains_inputs:
        raise PrunevizError(f"input attributions need class targets; a {session.task.name} model has none")
    if index not in range(len(session.data)):
        raise PrunevizError(f"sample {index} does not exist (0..{len(session.data) - 1})")
    x, label = session.data.x[index], int(session.data.y[index])
    with within_budget(f"attributing sample {index} of {session.model.spec}"):
        with session.calibration().exclusive() as dense:
            dense_map = input_attribution(dense, x, label)
            dense_prediction = int(dense(x.unsqueeze(0)).argmax(1))
        pruned_map = input_attribution(session.working, x, label)
        with torch.no_grad():
            pruned_prediction = int(session.working(x.unsqueeze(0)).argmax(1))
    drawn = x.detach().mean(0) if x.dim() == 3 else x.detach()
    return Explanation(
        drawn.cpu(), label, dense_prediction, pruned_prediction, dense_map.cpu(), pruned_map.cpu()
    )
