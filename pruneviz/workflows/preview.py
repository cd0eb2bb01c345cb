"""A structured removal shown on a session's working copy before the smaller model is built: exactly what
the removal deletes is zeroed (coupled BatchNorm and biases included), so the outputs are the smaller
model's, live and undoable."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pruneviz.workflows.masking import SetAside
from pruneviz.workflows.structured import Removal


@dataclass
class Preview:
    """``removal`` shown: the parameters it zeroed as they were (``backup``, put back when it ends) and
    the masks it replaced (``aside``; None: nothing to come back to, e.g. after new dense weights)."""

    removal: Removal
    backup: dict[str, torch.Tensor]
    aside: SetAside | None

    def restore(self, params: dict[str, nn.Parameter]) -> None:
        """Put the zeroed parameters back (``params``: the working copy's, by name)."""
        with torch.no_grad():
            for name, dense in self.backup.items():
                params[name].copy_(dense)
