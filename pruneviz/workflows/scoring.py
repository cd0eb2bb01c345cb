"""What a session's criteria say of its dense model, computed once per criterion and kept: the one
owner of the calibration copy, the scores cache and its locks (a background job and the page may ask at
once). The session rebases it when its dense weights change (:meth:`Scoring.rebase`)."""

from __future__ import annotations

import threading

import torch

from pruneviz.core.granularity import UNSTRUCTURED, Granularity
from pruneviz.core.importance import Calibration, Scores, wanda_metric
from pruneviz.core.jobs import Progress
from pruneviz.core.layers import prunable_modules
from pruneviz.io.data import DataSet
from pruneviz.io.models import LoadedModel, clone_module, eval_mode, shared_view
from pruneviz.tasks import Task

CALIBRATION_SAMPLES = 256


class Scoring:
    """Scores of the prunable ``layers`` of ``model`` (the loaded weights, or the ``basis`` state the
    session adopted) over the calibration samples of ``data``."""

    def __init__(
        self, model: LoadedModel, data: DataSet, task: Task, device: torch.device, layers: tuple[str, ...]
    ) -> None:
        self.model, self.data, self.task, self.device, self.layers = model, data, task, device, layers
        self.basis: dict[str, torch.Tensor] | None = None  # the dense reference's state (None: loaded)
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        self._scores: dict[tuple[str, str], Scores] = {}
        self._calibration: Calibration | None = None

    def calibration(self) -> Calibration:
        """Calibration over the dense model: the baseline, or the weights adopted after training (a
        copy, so gradients never touch the working model). Criteria score it; removals shrink it."""
        with self._lock:
            if self._calibration is None:
                if self.basis is None:  # the loaded weights: read them where they are
                    reference = eval_mode(shared_view(self.model.module, self.device))
                else:
                    reference = eval_mode(clone_module(self.model.module, self.device))
                    reference.load_state_dict(self.basis)
                n = min(CALIBRATION_SAMPLES, len(self.data))
                x, y = self.data.calibration or (self.data.x[:n], self.data.y[:n])
                self._calibration = Calibration(reference, x, y, self.task.batch_loss)
            return self._calibration

    def rebase(self, basis: dict[str, torch.Tensor] | None) -> None:
        """The dense reference is now ``basis``: forget the calibration copy and every score of the old."""
        with self._lock:
            self.basis = basis
            self._calibration = None
            self._scores.clear()

    def scores(
        self, criterion: str, kind: Granularity = UNSTRUCTURED, progress: Progress | None = None
    ) -> Scores:
        """Importance of every unit ``kind`` ranks (weights, or output channels for ``filter``) of the
        dense model; computed once and cached. ``progress(fraction, message)`` hears about data-driven
        passes."""
        registry = kind.criteria
        key = (registry.kind, criterion)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # cheap criteria answer while a slow one is computed in a background job
            if key in self._scores:
                return self._scores[key]
            calib = self.calibration()
            modules = prunable_modules(calib.model, self.layers)
            scores = registry.get(criterion)({n: modules[n] for n in self.layers}, calib.reporting(progress))
            with self._lock:
                if self._calibration is calib:  # not rebased meanwhile (new weights adopted)
                    self._scores[key] = scores
            return scores

    def layer_scores(
        self, name: str, criterion: str, kind: Granularity = UNSTRUCTURED
    ) -> torch.Tensor | None:
        """Layer ``name``'s scores under ``criterion``: computed for that layer alone when the criterion
        reads only the layer's weight (magnitude and the like: no copy of every layer's scores is kept),
        else from :meth:`scores`; None when the criterion cannot score it."""
        method = kind.criteria.get(criterion)
        cached = {k for k, c in self._scores if c == criterion}
        if not getattr(method, "weight_only", False) or kind.criteria.kind in cached:
            return self.scores(criterion, kind).get(name)
        calib = self.calibration()
        return method({name: prunable_modules(calib.model, (name,))[name]}, calib).get(name)

    def input_weighted(self) -> Scores:
        """|W_ij| · ‖X_j‖₂ of every layer over the calibration inputs: what Wanda ranks and OWL counts
        outliers in (the magnitude a weight has once its input's size is taken into account)."""
        calib = self.calibration()
        modules = prunable_modules(calib.model, self.layers)
        return wanda_metric({n: modules[n] for n in self.layers}, calib)

    def has_scores(self, criterion: str, kind: Granularity = UNSTRUCTURED) -> bool:
        """Whether :meth:`scores` would answer without computing (gradients can take a while)."""
        return (kind.criteria.kind, criterion) in self._scores
