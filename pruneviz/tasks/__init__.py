"""Tasks: what a loaded model does with its data (classification, language modelling), by name.

The loaded model names its task (:attr:`pruneviz.io.models.LoadedModel.task`); sessions, sweeps,
training and the pages ask :func:`task_of` for batches, loss and the headline metric.
"""

from __future__ import annotations

from pruneviz.core.registry import Registry
from pruneviz.io.models import LoadedModel
from pruneviz.tasks.base import Estimate, LatencyOptions, Metric, Task, Timing
from pruneviz.tasks.classification import Classification
from pruneviz.tasks.language import LanguageModelling
from pruneviz.tasks.structure import FILTERS, STRUCTURE_KINDS, TRANSFORMER, VISION_TRANSFORMER, StructureKind

CLASSIFICATION: Task = Classification()
LANGUAGE_MODELLING: Task = LanguageModelling()
TASKS: Registry[Task] = Registry("task")
for _task in (CLASSIFICATION, LANGUAGE_MODELLING):
    TASKS.register(_task.name)(_task)


def task_of(model: LoadedModel) -> Task:
    """The task the loaded model performs."""
    return TASKS.get(model.task)


__all__ = [
    "CLASSIFICATION", "FILTERS", "LANGUAGE_MODELLING", "STRUCTURE_KINDS", "TASKS", "TRANSFORMER",
    "VISION_TRANSFORMER", "Estimate", "LatencyOptions", "Metric", "StructureKind", "Task", "Timing",
    "task_of",
]  # fmt: skip
