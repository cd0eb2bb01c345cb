"""What a task is: what a batch holds, the loss, the headline metric and which way it improves.

Every session runs one task, chosen by the loaded model (:func:`pruneviz.tasks.task_of`). The engine
asks the task instead of assuming a classifier, so a new kind of model (a language model next to an
image classifier) is one new module here, not an ``if`` on every page.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from pruneviz.core.evaluate import DEFAULT_BUDGET_BYTES, Evaluator, forward_batches
from pruneviz.core.granularity import Granularity
from pruneviz.core.humanize import percent, points
from pruneviz.tasks.structure import FILTERS, StructureKind

if TYPE_CHECKING:  # annotations only: io sits below tasks, never the other way round
    from pruneviz.io.data import DataSet
    from pruneviz.io.models import LoadedModel


@dataclass(frozen=True)
class Metric:
    """A task's headline figure: its key in reports, its label, the better direction, and whether it is
    a fraction shown as a percentage (accuracy) or a plain number (perplexity)."""

    key: str
    label: str
    higher_is_better: bool
    is_fraction: bool

    def format(self, value: float) -> str:
        """83.4% for a fraction, 3.612 otherwise (a thousandth of perplexity is a visible change)."""
        return percent(value) if self.is_fraction else f"{value:.3f}"

    def change(self, now: float, base: float) -> str:
        """The change from ``base`` to ``now``, signed: '-1.2 pt' for fractions, '+0.312' otherwise."""
        return points(now - base) if self.is_fraction else f"{now - base:+.3f}"

    def worse_by(self, base: float, value: float) -> float:
        """How much worse ``value`` is than ``base`` (negative when it is better), in the metric's units."""
        return base - value if self.higher_is_better else value - base

    def at_least_as_good(self, a: float, b: float) -> bool:
        return a >= b if self.higher_is_better else a <= b


@dataclass(frozen=True)
class LatencyOptions:
    """How to time a model: batch sizes and repeats (medians) for a classifier; windows prefilled at
    once and tokens decoded for a language model."""

    batch_sizes: tuple[int, ...] = (1, 64)
    repeats: int = 10
    windows: int = 8
    decode_tokens: int = 64


@dataclass(frozen=True)
class Timing:
    """One timed figure, dense and pruned: what was timed, its unit, and whether more is faster
    (tokens per second) or less (milliseconds)."""

    what: str
    unit: str
    dense: float
    pruned: float
    more_is_faster: bool = False

    @property
    def speedup(self) -> float:
        """× faster than dense."""
        return self.pruned / self.dense if self.more_is_faster else self.dense / self.pruned


@dataclass(frozen=True)
class Estimate:
    """The task's metric measured on the first ``samples`` of ``total`` samples in a fixed shuffled
    order, with a 95% interval for the figure every sample would give (the interval closes as samples
    come in; with all of them the figure is exact and ``low == score == high``)."""

    score: float
    low: float
    high: float
    samples: int
    total: int
    unit: str = "samples"  # what a sample is, for people: "windows" for a language model
    reference: float | None = None  # the baseline's metric on the very same samples, when known

    @property
    def complete(self) -> bool:
        return self.samples == self.total

    @property
    def bounded(self) -> bool:
        """Whether the interval is finite (one window has no spread yet: its interval is unbounded)."""
        return math.isfinite(self.low) and math.isfinite(self.high)


Z95 = 1.959963984540054


class Task(ABC):
    """One kind of model and data. Subclasses are stateless singletons registered in :data:`TASKS`.

    Pages and commands ask the task what differs between kinds of model (how latency is measured,
    whether the model generates text, which structure the Structured page removes, which file formats
    hold it, whether the lottery experiment applies) instead of asking which task it is."""

    name: ClassVar[str]
    metric: ClassVar[Metric]
    # Whether the model continues text (the Generate page, `pruneviz generate`).
    generates: ClassVar[bool] = False
    # Whether an input's attributions to its class can be drawn (Integrated Gradients on the Importance page).
    explains_inputs: ClassVar[bool] = False
    # Why the lottery ticket experiment is not offered for this task (None: it is).
    lottery_note: ClassVar[str | None] = None
    # The formats an export of this task's models may take, the usual one first.
    export_formats: ClassVar[tuple[str, ...]] = ()
    # the format to serve this kind of model with (the Export page's default; None: the first above)
    serving_format: ClassVar[str | None] = None
    # The figures a report has besides the metric and the loss, all fractions: key -> label.
    extra_figures: ClassVar[dict[str, str]] = {}
    # Criteria that do not apply to this task's outputs (Captum's per-class attribution to a LM).
    unsupported_criteria: ClassVar[frozenset[str]] = frozenset()
    # load_data(spec, model, options: DataOptions, *, train=False, device="cpu") -> DataSet: the
    # validation (or training) data named by ``spec`` (None: the model's default), as this task's
    # batches take it.
    load_data: Callable[..., DataSet]

    @abstractmethod
    def batch_loss(self, module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The mean training loss of ``module`` on one batch (differentiable): gradients and training."""

    def size_of(self, data: DataSet) -> str:
        """How much data a metric was measured on, for people ("360 samples")."""
        return f"{len(data)} samples"

    def prunable(self, model: nn.Module, modules: dict[str, nn.Module]) -> dict[str, nn.Module]:
        """Which of the Conv/Linear ``modules`` this task prunes unless the user names more."""
        return modules

    def criteria(self, kind: Granularity, ranking: bool = False) -> list[str]:
        """The criteria a user may pick for ``kind`` on this task, sorted (with ``ranking``, only those
        that rank weights: what sweeps and global thresholds need)."""
        names = kind.ranking_criteria() if ranking else kind.criteria.names()
        return [c for c in names if c not in self.unsupported_criteria]

    def forward(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """What :meth:`figures` reads from one batch (a classifier's logits)."""
        return module(x)

    def logits(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The raw output distributions' logits (classes, or a language model's next tokens)."""
        return module(x)

    def outputs(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` over every batch of ``x``: the one way to run a whole model over the data."""
        return forward_batches(lambda batch: self.forward(module, batch), x)

    def evaluator(
        self,
        module: nn.Module,
        x: torch.Tensor,
        layers: Iterable[str],
        memory_budget: int = DEFAULT_BUDGET_BYTES,
        architecture: nn.Module | None = None,
    ) -> Evaluator:
        """The incremental evaluator that recomputes :meth:`outputs` of ``module`` (a copy of
        ``architecture``, the loaded baseline) after layer changes."""
        return Evaluator(module, x, layers, memory_budget=memory_budget, architecture=architecture)

    @abstractmethod
    def figures(self, outputs: torch.Tensor, y: torch.Tensor) -> dict[str, float | None]:
        """Every figure a report shows, keyed as in ``evaluate --json``; includes ``metric.key`` and
        ``loss``."""

    def quick(self, outputs: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """(headline metric, loss): the two numbers a sensitivity sweep records per point."""
        figures = self.figures(outputs, y)
        return figures[self.metric.key], figures["loss"]

    @abstractmethod
    def tolerance(self, samples: int) -> float:
        """How far a reloaded export's metric may lie from the session's over ``samples`` samples
        (kernels of other runtimes round differently)."""

    def breakdown(self, outputs: torch.Tensor, y: torch.Tensor) -> list[float | None]:
        """A per-category view of the metric where the task has one (per-class accuracy), else empty."""
        return []

    @abstractmethod
    def estimate(self, outputs: torch.Tensor, y: torch.Tensor, total: int) -> Estimate:
        """The metric from some samples' ``outputs`` (a random subset of ``total`` samples) with its
        95% interval, as an estimate of what all ``total`` would give."""

    def structure(self, model: LoadedModel) -> StructureKind:
        """The kind of structure this task's ``model`` loses for real: whole filters by default."""
        return FILTERS

    @abstractmethod
    def latency(
        self,
        dense: nn.Module,
        pruned: nn.Module,
        data: DataSet,
        device: torch.device,
        options: LatencyOptions,
    ) -> tuple[list[Timing], dict]:
        """``dense`` and ``pruned`` timed one after the other as this task's models are used: the figures
        for people, and the same as ``pruneviz latency --json`` keys."""
