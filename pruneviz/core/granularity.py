"""Granularity: what one pruning decision removes — a single weight, a whole filter, or all but N of
every M consecutive weights.

Each granularity is a small frozen class that knows its own rules, so nothing else compares names:

* which criteria registry scores it (per weight or per output channel) and its default criterion;
* which layers can take it (:meth:`Granularity.ineligible`);
* whether it fixes the sparsity (N:M keeps exactly N of M, whatever the slider says) — only
  granularities that do not can be ranked globally, swept level by level or allocated;
* whether what it zeroes can be physically removed (whole filters: structured removal);
* how it turns scores (or a ranking of its units) into a keep-mask shaped like the weight.

A layer planned at sparsity 0 stays dense under every granularity (an N:M layer "above 0" keeps N of
every M). Look granularities up by the name users type with :func:`granularity` (any ``N:M`` parses).
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from pruneviz.core import masks as M
from pruneviz.core.errors import PrunevizError
from pruneviz.core.importance import FILTER_CRITERIA, WEIGHT_CRITERIA, Criterion
from pruneviz.core.reconstruction import FromInputs
from pruneviz.core.registry import Registry


class Granularity(ABC):
    """The rules of one granularity. Subclasses are frozen dataclasses: equal rules compare equal."""

    name: str
    default_criterion: str
    structural: ClassVar[bool] = False  # whole units that structured removal can physically delete

    @property
    @abstractmethod
    def criteria(self) -> Registry[Criterion]:
        """The registry of criteria that score this granularity's units."""

    @property
    def fixed_sparsity(self) -> float | None:
        """The sparsity (fraction) every pruned layer gets regardless of the plan, if any."""
        return None

    @property
    def rankable(self) -> bool:
        """Whether a sparsity level means something: sweeps, global rankings and allocation need it."""
        return self.fixed_sparsity is None

    def ineligible(self, shape: tuple[int, ...]) -> str | None:
        """Why a weight of ``shape`` cannot take this granularity, or None when it can."""
        return None

    def eligible(self, shape: tuple[int, ...]) -> bool:
        return self.ineligible(shape) is None

    def ranking_criteria(self) -> list[str]:
        """The criteria that rank this granularity's units (not the methods that rewrite weights)."""
        return [c for c in self.criteria.names() if getattr(self.criteria.get(c), "score", True) is not None]

    def check_criterion(self, criterion: object) -> str:
        """``criterion`` when this granularity has it; otherwise an error listing the ones it has."""
        if not isinstance(criterion, str) or criterion not in self.criteria:
            raise PrunevizError(
                f"unknown {self.criteria.kind} {criterion!r} for granularity {self.name} "
                f"(choose one of: {', '.join(self.criteria.names())})"
            )
        return criterion

    def units(self, shape: torch.Size | tuple[int, ...]) -> int:
        """How many units a ranking of this granularity orders in a weight of ``shape``."""
        return math.prod(shape)

    def unit_scores(self, per_weight: torch.Tensor) -> torch.Tensor:
        """A weight-shaped quantity summed into one value per unit (e.g. a loss estimate per filter)."""
        return per_weight

    def ranked_mask(self, order: torch.Tensor, sparsity: float, shape: torch.Size) -> torch.Tensor:
        """Keep-mask of ``shape`` pruning the lowest ``sparsity`` of the units in ranking ``order``."""
        return M.mask_from_ranking(order, M.prune_count(sparsity, order.numel()), shape)

    def expand(self, keep: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """A keep vector over units broadcast to the weight's ``shape``."""
        return keep

    @abstractmethod
    def mask(self, scores: torch.Tensor, sparsity: float, shape: torch.Size) -> torch.Tensor:
        """Keep-mask of ``shape`` from this granularity's ``scores`` at ``sparsity`` (fraction)."""

    def solve(
        self, method: FromInputs, weight: torch.Tensor, statistics: object, sparsity: float
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(keep-mask, rewritten weight or None) from a method that reads the layer's inputs."""
        return method.solve(weight, statistics, sparsity, None)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Unstructured(Granularity):
    """Single weights: the lowest-scoring ``floor(sparsity * n)`` of a layer's ``n`` weights."""

    name: ClassVar[str] = "unstructured"
    default_criterion: ClassVar[str] = "magnitude"

    @property
    def criteria(self) -> Registry[Criterion]:
        return WEIGHT_CRITERIA

    def mask(self, scores: torch.Tensor, sparsity: float, shape: torch.Size) -> torch.Tensor:
        return M.unstructured_mask(scores, sparsity)


@dataclass(frozen=True)
class Filter(Granularity):
    """Whole output filters (channels), scored one value per filter."""

    name: ClassVar[str] = "filter"
    default_criterion: ClassVar[str] = "l1"
    structural: ClassVar[bool] = True

    @property
    def criteria(self) -> Registry[Criterion]:
        return FILTER_CRITERIA

    def units(self, shape: torch.Size | tuple[int, ...]) -> int:
        return shape[0]

    def unit_scores(self, per_weight: torch.Tensor) -> torch.Tensor:
        return per_weight.flatten(1).sum(1)

    def ranked_mask(self, order: torch.Tensor, sparsity: float, shape: torch.Size) -> torch.Tensor:
        keep = M.mask_from_ranking(order, M.prune_count(sparsity, shape[0]), torch.Size([shape[0]]))
        return M.expand_filters(keep, shape)

    def expand(self, keep: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        return M.expand_filters(keep, shape)

    def mask(self, scores: torch.Tensor, sparsity: float, shape: torch.Size) -> torch.Tensor:
        return M.filter_mask(scores, sparsity, shape)

    def solve(
        self, method: FromInputs, weight: torch.Tensor, statistics: object, sparsity: float
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise PrunevizError(f"{method.name} prunes single weights or N:M, not whole filters")


@dataclass(frozen=True)
class NM(Granularity):
    """N:M semi-structured: in every M consecutive weights along the input dimension keep the N best."""

    n: int = 2
    m: int = 4
    default_criterion: ClassVar[str] = "magnitude"

    def __post_init__(self) -> None:
        if not 0 < self.n < self.m:
            raise PrunevizError(f"N:M sparsity needs 0 < N < M, got {self.n}:{self.m}")

    @property
    def name(self) -> str:  # type: ignore[override] - derived, not a field
        return f"{self.n}:{self.m}"

    @property
    def criteria(self) -> Registry[Criterion]:
        return WEIGHT_CRITERIA

    @property
    def fixed_sparsity(self) -> float:
        return 1 - self.n / self.m

    def ineligible(self, shape: tuple[int, ...]) -> str | None:
        if M.nm_eligible(tuple(shape), self.m):
            return None
        return f"{self.name} needs the input dimension to be a multiple of {self.m}"

    def mask(self, scores: torch.Tensor, sparsity: float, shape: torch.Size) -> torch.Tensor:
        return M.nm_mask(scores, self.n, self.m)

    def solve(
        self, method: FromInputs, weight: torch.Tensor, statistics: object, sparsity: float
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return method.solve(weight, statistics, 0.0, (self.n, self.m))


UNSTRUCTURED = Unstructured()
FILTER = Filter()

GRANULARITIES: Registry[Granularity] = Registry("granularity")
for _g in (UNSTRUCTURED, FILTER, NM(2, 4), NM(4, 8)):
    GRANULARITIES.register(_g.name)(_g)

_NM = re.compile(r"^(\d+):(\d+)$")


def granularity(name: str | Granularity) -> Granularity:
    """The granularity a user named: one of :data:`GRANULARITIES`, or any ``N:M`` (e.g. ``1:4``)."""
    if isinstance(name, Granularity):
        return name
    match = _NM.match(str(name))
    if match and str(name) not in GRANULARITIES:
        return NM(int(match[1]), int(match[2]))
    if str(name) not in GRANULARITIES:
        raise PrunevizError(
            f"unknown granularity {name!r} (choose one of: {', '.join(GRANULARITIES.registered())}, "
            "or any N:M)"
        )
    return GRANULARITIES.get(str(name))


def rankable() -> list[Granularity]:
    """The granularities a sweep, a global ranking or an allocation can use, in the order offered."""
    return [g for g in map(GRANULARITIES.get, GRANULARITIES.registered()) if g.rankable]
