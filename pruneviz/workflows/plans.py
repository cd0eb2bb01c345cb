"""How a layer is pruned (:class:`LayerPlan`) and how a ranking across layers is (:class:`GlobalPlan`):
what sliders, recipes, sweeps and allocations say, and what a session's masks are made from."""

from __future__ import annotations

from dataclasses import dataclass

from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import UNSTRUCTURED, Granularity, granularity
from pruneviz.core.layers import LayerInfo
from pruneviz.core.reconstruction import FromInputs


@dataclass(frozen=True)
class Refusal:
    """Why a plan cannot prune a layer: what the layer cannot take (the plan's granularity or its
    criterion) and why, said as ``cannot take 2:4: 2:4 needs the input dimension …``."""

    what: str
    why: str

    def __str__(self) -> str:
        return f"cannot take {self.what}: {self.why}"


@dataclass(frozen=True)
class LayerPlan:
    """How to prune one layer: a sparsity fraction in [0, 1), a criterion name and a granularity.
    At sparsity 0 the layer stays dense; an N:M granularity fixes any other sparsity at 1 - N/M."""

    sparsity: float
    criterion: str = "magnitude"
    granularity: Granularity = UNSTRUCTURED

    def __post_init__(self) -> None:
        object.__setattr__(self, "granularity", granularity(self.granularity))

    @property
    def dense(self) -> bool:
        return self.sparsity == 0

    def ineligible(self, layer: LayerInfo) -> Refusal | None:
        """Why this plan cannot prune ``layer`` (None: it can): its granularity needs another weight
        shape (2:4 and 6 inputs), its method reads Linear layers only (SparseGPT and a conv), or it
        watches the layer run and the model never calls it (nn.MultiheadAttention's out_proj). Every
        place that plans a layer asks this: recipes, sliders, sequential solving, one layer's mask."""
        why = self.granularity.ineligible(layer.shape)
        if why:
            return Refusal(str(self.granularity), why)
        criteria = self.granularity.criteria
        method = criteria.get(self.criterion) if self.criterion in criteria else None
        if getattr(method, "watches_layer", False) and not layer.called:
            why = (
                f"{self.criterion} watches the layer run, and the model never runs this {layer.type}: "
                "it uses its weight"
            )
        elif isinstance(method, FromInputs):
            why = method.ineligible(layer)
        return Refusal(self.criterion, why) if why else None


@dataclass(frozen=True)
class GlobalPlan:
    """One ranking across all unpinned layers (optionally LAMP-normalised), of single weights or of
    whole filters (any granularity that does not fix the sparsity)."""

    sparsity: float
    criterion: str = "magnitude"
    lamp: bool = False
    pinned: tuple[str, ...] = ()
    granularity: Granularity = UNSTRUCTURED

    def __post_init__(self) -> None:
        g = granularity(self.granularity)
        if not g.rankable:
            raise PrunevizError(f"a global ranking needs a granularity without fixed sparsity, not {g}")
        object.__setattr__(self, "granularity", g)
