"""Tasks: what a loaded model does with its data (classification today), registered by name.

The loaded model names its task (:attr:`pruneviz.io.models.LoadedModel.task`); sessions, sweeps,
training and the pages ask :func:`task_of` for batches, loss and the headline metric.
"""

from __future__ import annotations

from pruneviz.core.registry import Registry
from pruneviz.io.models import LoadedModel
from pruneviz.tasks.base import Metric, Task
from pruneviz.tasks.classification import Classification

TASKS: Registry[Task] = Registry("task")
TASKS.register(Classification.name)(Classification())


def task_of(model: LoadedModel) -> Task:
    """The task the loaded model performs."""
    return TASKS.get(model.task)


__all__ = ["TASKS", "Metric", "Task", "task_of"]
