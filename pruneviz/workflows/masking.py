"""The masks a session's working copy shows and how each was made: one owner for the masks, the plan
behind each, how a method reading a layer's inputs solved it, and the weight format shown over them.

A mask is applied as ``weight = dense_weight * mask`` in a new tensor (never in place: the layer may share
the dense weights' storage). A quantised layer shows the float weight its int8 values stand for while the
exact masked weight is kept aside (:attr:`MaskState.exact`), so masks change freely under the
quantisation and an export converts the exact weights rather than rounding twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pruneviz.core.quantize import Quantization, quantizable
from pruneviz.workflows.plans import LayerPlan


@dataclass(frozen=True)
class SetAside:
    """The masks a structured preview replaced, kept to come back to (:meth:`PruneSession.end_preview`):
    each masked layer's mask and masked weight (exact, before any quantisation), the plans and the way
    input-reading methods solved them, and the weight format shown over them."""

    masks: dict[str, torch.Tensor]
    weights: dict[str, torch.Tensor]
    plans: dict[str, LayerPlan]
    solved: dict[str, str]
    quantize: str | None

    @property
    def dense(self) -> bool:
        return not self.masks


class MaskState:
    """The masks of the prunable ``modules`` (by name) and their records. Only the session calls it; the
    session keeps the versions and tells the evaluator what changed."""

    def __init__(self, modules: dict[str, nn.Module]) -> None:
        self.modules = modules
        self.masks: dict[str, torch.Tensor] = {}
        self.plans: dict[str, LayerPlan] = {}  # the plan behind each layer's current mask, when known
        # How each layer pruned by a method reading its inputs (wanda, sparsegpt) was solved: one layer
        # live, or sequentially with the layers before it pruned (pruneviz.workflows.sequential).
        self.solved: dict[str, str] = {}
        self.quantization: Quantization | None = None  # the weight format shown (None: float)
        self.exact: dict[str, torch.Tensor] = {}  # a quantised layer's masked weight before rounding

    @property
    def quantize(self) -> str | None:
        """The name of the weight format shown (None: float)."""
        return self.quantization.name if self.quantization else None

    def set(
        self,
        name: str,
        dense: torch.Tensor,
        mask: torch.Tensor | None,
        weight: torch.Tensor | None = None,
        plan: LayerPlan | None = None,
        solved_by: str | None = None,
    ) -> None:
        """Show layer ``name`` as ``dense`` under ``mask`` (None: dense again), or ``weight`` (a
        reconstruction, zero where the mask is False) under it, recorded as ``plan`` gives it and as
        ``solved_by`` solved it (None: not known)."""
        self.plans.pop(name, None)
        self.solved.pop(name, None)
        if plan is not None:
            self.plans[name] = plan
        if solved_by is not None:
            self.solved[name] = solved_by
        with torch.no_grad():
            if mask is None:
                self.masks.pop(name, None)
                self.show(name, dense)  # shared again: one copy of the dense weights
            else:
                mask = mask.to(dense.device)
                self.masks[name] = mask
                kept = dense if weight is None else weight.to(dense)
                self.show(name, kept * mask)

    def record(self, name: str, mask: torch.Tensor) -> None:
        """Record ``mask`` as layer ``name``'s without touching its weight (a structured preview zeroes
        what it removes itself); no plan makes it."""
        self.masks[name] = mask

    def recall(self, plans: dict[str, LayerPlan], solved: dict[str, str]) -> None:
        """Take back records set aside (the masks they describe are already shown again)."""
        self.plans.update(plans)
        self.solved.update(solved)

    def forget_records(self) -> None:
        """No plan and no solve record left (the layers are dense, or something else changed them)."""
        self.plans.clear()
        self.solved.clear()

    def show(self, name: str, exact: torch.Tensor) -> None:
        """Give layer ``name`` the weight ``exact``, as the weight format shown rounds it."""
        module = self.modules[name]
        if self.quantization is None or not quantizable(module):
            self.exact.pop(name, None)
            module.weight.data = exact
        else:
            self.exact[name] = exact
            module.weight.data = self.quantization.rounded(exact)

    def weight(self, name: str) -> torch.Tensor:
        """Layer ``name``'s exact masked weight (before any rounding)."""
        return self.exact.get(name, self.modules[name].weight.data)

    def show_format(self, chosen: Quantization | None) -> list[str]:
        """Show every quantisable layer in ``chosen``'s weights (None: float), on top of its mask; returns
        the layers that changed (none when ``chosen`` is what is shown)."""
        if chosen == self.quantization:
            return []
        touched = [n for n, m in self.modules.items() if quantizable(m)]
        exact = {n: self.weight(n) for n in touched}
        self.quantization = chosen
        with torch.no_grad():
            for name in touched:
                self.show(name, exact[name])
        return touched

    def set_aside(self) -> SetAside:
        """The masks as they are, to come back to after a structured preview."""
        weights = {n: self.weight(n) for n in self.masks}
        return SetAside(dict(self.masks), weights, dict(self.plans), dict(self.solved), self.quantize)
