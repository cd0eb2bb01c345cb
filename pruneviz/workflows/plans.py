"""How a layer is pruned (:class:`LayerPlan`) and how a ranking across layers is (:class:`GlobalPlan`):
what sliders, recipes, sweeps and allocations say, and what a session's masks are made from."""

from __future__ import annotations

from dataclasses import dataclass

from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import UNSTRUCTURED, Granularity, granularity


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
