"""The one explicit state object: a baseline model, its masked working copy, and their evaluation.

A :class:`PruneSession` owns a *working copy* of the loaded model; masks are applied to that copy as
``weight = baseline_weight * mask`` so they can be changed or undone freely, and the loaded baseline
is never mutated. Every dashboard user and every CLI command gets its own session.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from pruneviz import masks as M
from pruneviz.data import DataSet, load_data
from pruneviz.errors import PrunevizError
from pruneviz.evaluate import DEFAULT_BUDGET_BYTES, Evaluator
from pruneviz.export import ExportMeta
from pruneviz.importance import FILTER_CRITERIA, WEIGHT_CRITERIA, Calibration, Scores
from pruneviz.jobs import Progress
from pruneviz.layers import discover_layers, module_macs, prunable_modules
from pruneviz.metrics import classification_metrics, effective_macs, param_counts, size_bytes
from pruneviz.models import LoadedModel, ModelOptions, clone_module, eval_mode, load_model
from pruneviz.structured import Removal, StructuredPlan, plan_removal, predicted_counts, preview, shrink

GRANULARITIES = ("unstructured", "filter", "2:4", "4:8")
CALIBRATION_SAMPLES = 256


@dataclass(frozen=True)
class LayerPlan:
    """How to prune one layer: a sparsity fraction in [0, 1), a criterion name and a granularity
    (``unstructured``, ``filter`` or ``N:M``; N:M fixes the sparsity at 1 - N/M)."""

    sparsity: float
    criterion: str = "magnitude"
    granularity: str = "unstructured"


@dataclass(frozen=True)
class GlobalPlan:
    """One unstructured ranking across all unpinned layers (optionally LAMP-normalised)."""

    sparsity: float
    criterion: str = "magnitude"
    lamp: bool = False
    pinned: tuple[str, ...] = ()
    granularity: str = "unstructured"  # or "filter": one ranking of whole filters across layers


@dataclass
class Report:
    """Evaluation of the working copy. Fractions are 0..1; sizes are bytes; MACs per sample."""

    accuracy: float
    loss: float
    top5: float | None
    params_total: int
    params_nonzero: int
    macs_dense: int
    macs_effective: int
    size_bytes_dense: int
    size_bytes_sparse: int
    layers: dict[str, float]
    per_class_accuracy: list[float | None] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def check_granularity(granularity: str) -> None:
    if granularity not in GRANULARITIES and M.parse_nm(granularity) is None:
        raise PrunevizError(
            f"unknown granularity {granularity!r} (choose one of: {', '.join(GRANULARITIES)})"
        )


class PruneSession:
    """Baseline + masked working copy + incremental evaluator, for one user."""

    def __init__(
        self,
        model: LoadedModel,
        data: DataSet,
        device: str | torch.device = "cpu",
        extra_layers: tuple[str, ...] = (),
        memory_budget: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        self.model = model
        self.data = data
        self.device = torch.device(device)
        self.working = eval_mode(clone_module(model.module, self.device))
        self.modules = prunable_modules(self.working, extra_layers)
        self.dense_weights = {n: m.weight.detach().clone() for n, m in self.modules.items()}
        self.layers = discover_layers(self.working, data.sample_shape, extra_layers)
        self.macs_dense = module_macs(self.working, data.x[:1])[0]
        self.masks: dict[str, torch.Tensor] = {}
        self.evaluator = Evaluator(self.working, data.x, self.modules, memory_budget=memory_budget)
        self.plans: dict[str, LayerPlan] = {}  # the plan behind each layer's current mask, when known
        self._changed: set[str] = set()
        # scores may be computed by a background job and the UI at once
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}
        self._scores: dict[tuple[str, str], Scores] = {}
        self._calibration: Calibration | None = None
        self.removal: Removal | None = None  # the structured removal being previewed, if any
        self._structural_backup: dict[str, torch.Tensor] = {}

    @property
    def layer_names(self) -> list[str]:
        return list(self.modules)

    def check_layer(self, name: str) -> None:
        if name not in self.modules:
            raise PrunevizError(f"unknown layer '{name}' (see `pruneviz info` for the prunable layers)")

    # --- importance -------------------------------------------------------------------------------

    def calibration(self) -> Calibration:
        """Calibration over the dense baseline (a copy, so gradients never touch the working model)."""
        with self._lock:
            return self._calibration_locked()

    def _calibration_locked(self) -> Calibration:
        if self._calibration is None:
            reference = eval_mode(clone_module(self.model.module, self.device))
            n = min(CALIBRATION_SAMPLES, len(self.data))
            self._calibration = Calibration(reference, self.data.x[:n], self.data.y[:n])
        return self._calibration

    def scores(
        self, criterion: str, granularity: str = "unstructured", progress: Progress | None = None
    ) -> Scores:
        """Importance of every weight (or, for ``filter``, every output channel) of the dense model;
        computed once and cached. ``progress(fraction, message)`` hears about data-driven passes."""
        registry = FILTER_CRITERIA if granularity == "filter" else WEIGHT_CRITERIA
        key = (registry.kind, criterion)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # cheap criteria answer while a slow one is computed in a background job
            if key not in self._scores:
                calib = self.calibration()
                calib.progress = progress
                modules = prunable_modules(calib.model, tuple(self.modules))
                modules = {n: modules[n] for n in self.modules}
                self._scores[key] = registry.get(criterion)(modules, calib)
            return self._scores[key]

    def has_scores(self, criterion: str, granularity: str = "unstructured") -> bool:
        """Whether :meth:`scores` would answer without computing (gradients can take a while)."""
        kind = (FILTER_CRITERIA if granularity == "filter" else WEIGHT_CRITERIA).kind
        return (kind, criterion) in self._scores

    # --- masks --------------------------------------------------------------------------------------

    def mask_for(self, name: str, plan: LayerPlan) -> torch.Tensor:
        """The mask ``plan`` gives layer ``name`` (pure; nothing is applied)."""
        self.check_layer(name)
        check_granularity(plan.granularity)
        shape = self.dense_weights[name].shape
        kind = "filter" if plan.granularity == "filter" else "unstructured"
        scores = self.scores(plan.criterion, kind).get(name)
        if scores is None:
            raise PrunevizError(f"criterion '{plan.criterion}' cannot score layer '{name}'")
        if kind == "filter":
            return M.filter_mask(scores, plan.sparsity, shape)
        nm = M.parse_nm(plan.granularity)
        if nm is not None:
            return M.nm_mask(scores, *nm)
        return M.unstructured_mask(scores, plan.sparsity)

    def set_mask(self, name: str, mask: torch.Tensor | None) -> None:
        """Apply ``mask`` (True = keep) to layer ``name``'s working weight; None restores it dense."""
        self.check_layer(name)
        dense = self.dense_weights[name]
        self.plans.pop(name, None)
        with torch.no_grad():
            if mask is None:
                self.masks.pop(name, None)
                self.modules[name].weight.copy_(dense)
            else:
                mask = mask.to(dense.device)
                self.masks[name] = mask
                self.modules[name].weight.copy_(dense * mask)
        self._changed.add(name)

    def apply_layer_plans(self, plans: dict[str, LayerPlan]) -> list[str]:
        """Set each named layer's mask from its plan, skipping layers already masked by that very plan
        (so a slider move re-masks one layer, not all). Returns the layers that changed."""
        changed = [name for name, plan in plans.items() if self.plans.get(name) != plan]
        for name in changed:
            self.prune_layer(name, plans[name])
        return changed

    def prune_layer(self, name: str, plan: LayerPlan) -> None:
        """Mask layer ``name`` as ``plan`` says (sparsity 0 unstructured/filter restores it dense)."""
        dense = plan.sparsity == 0 and M.parse_nm(plan.granularity) is None
        self.set_mask(name, None if dense else self.mask_for(name, plan))
        self.plans[name] = plan

    def apply_global(self, plan: GlobalPlan) -> None:
        """One ranking across all unpinned layers; pinned layers stay dense."""
        for name in plan.pinned:
            self.check_layer(name)
        ranked = [n for n in self.modules if n not in plan.pinned]
        if plan.granularity == "filter":
            all_scores = self.scores(plan.criterion, "filter")
            scores = {n: all_scores[n] for n in ranked if n in all_scores}
            for name, keep in M.global_masks(scores, plan.sparsity).items():
                self.set_mask(name, M.expand_filters(keep, self.dense_weights[name].shape))
            return
        if plan.lamp:
            scores = {n: self.dense_weights[n] for n in ranked}
        else:
            all_scores = self.scores(plan.criterion)
            scores = {n: all_scores[n] for n in ranked}
        for name, mask in M.global_masks(scores, plan.sparsity, lamp=plan.lamp).items():
            self.set_mask(name, mask)
        for name in plan.pinned:
            self.set_mask(name, None)

    def adopt_weights(self) -> None:
        """Take the working copy's current weights (e.g. after training) as the new dense weights.

        Masks stay recorded; everything is re-evaluated in full next time.
        """
        self.dense_weights = {n: m.weight.detach().clone() for n, m in self.modules.items()}
        self.evaluator.invalidate()
        self._changed.clear()

    def fork(self) -> PruneSession:
        """A second session over the same baseline, starting from this one's current dense weights and
        without masks: background jobs (training, sweeps) work there, never on the user's copy."""
        other = PruneSession(self.model, self.data, self.device)
        other.working.load_state_dict(self.working.state_dict())
        with torch.no_grad():
            for name, module in other.modules.items():
                module.weight.copy_(self.dense_weights[name])
        other.adopt_weights()
        return other

    def save_state(self) -> dict:
        """Everything needed to undo a change of weights: parameters, dense weights, masks, plans."""
        return {
            "state": {k: v.clone() for k, v in self.working.state_dict().items()},
            "dense": {k: v.clone() for k, v in self.dense_weights.items()},
            "masks": dict(self.masks),
            "plans": dict(self.plans),
        }

    def load_state(self, saved: dict) -> None:
        """Return to a :meth:`save_state` (or take over another session's: ``other.save_state()``)."""
        self.reset()
        self.working.load_state_dict(saved["state"])
        self.dense_weights = {k: v.clone() for k, v in saved["dense"].items()}
        self.masks, self.plans = dict(saved["masks"]), dict(saved["plans"])
        self.evaluator.invalidate()
        self._changed.clear()

    def reset(self) -> None:
        """Back to the dense model: masks removed, structurally previewed parameters restored."""
        params = dict(self.working.named_parameters())
        with torch.no_grad():
            for name, dense in self._structural_backup.items():
                params[name].copy_(dense)
        if self._structural_backup:
            self.evaluator.invalidate()
        self._structural_backup.clear()
        self.removal = None
        for name in list(self.masks):
            self.set_mask(name, None)

    # --- structured removal -------------------------------------------------------------------------

    def plan_removal(self, plan: StructuredPlan) -> Removal:
        """Which filters Torch-Pruning would remove under ``plan`` (computed on a dense copy)."""
        calib = self.calibration()
        return plan_removal(calib.model, self.data.x[:1], plan, (calib.x, calib.y))

    def preview_removal(self, removal: Removal) -> None:
        """Zero exactly what ``removal`` deletes (coupled BatchNorm and biases included) on the working
        copy: the logits equal the shrunk model's, live and undoable."""
        self.reset()
        params = dict(self.working.named_parameters())
        for name in removal.removed:
            self._structural_backup[name] = params[name].detach().clone()
        preview(self.working, removal)
        for layer in self.modules:
            removed = removal.removed.get(f"{layer}.weight")
            if removed is not None:
                self.masks[layer] = ~removed.to(self.device)
        self.removal = removal
        self.evaluator.invalidate()

    def shrunk(self) -> nn.Module:
        """The physically smaller model for the previewed removal (a new module each call)."""
        if self.removal is None:
            raise PrunevizError("nothing to remove: preview a structured plan first")
        return shrink(self.calibration().model, self.data.x[:1], self.removal.history)

    def export_meta(self) -> ExportMeta:
        """Where the (shrunk) model comes from, for exporters: architecture, data, removals on top."""
        structure = [*(self.model.structure or []), *(self.removal.history if self.removal else [])]
        return ExportMeta(
            self.model.arch_spec, self.data.spec, self.data.sample_shape, structure=structure or None
        )

    def predicted_counts(self) -> tuple[int, int]:
        """(parameters, MACs per sample) the shrunk model will have, from the preview alone."""
        total, _ = param_counts(self.working)
        if self.removal is None:
            return total, self.macs_dense
        return predicted_counts(total, self.macs_dense, self.layers, self.removal)

    # --- evaluation ---------------------------------------------------------------------------------

    def logits(self) -> torch.Tensor:
        """Logits of the working copy; only layers changed since the last call are recomputed."""
        changed, self._changed = self._changed, set()
        return self.evaluator.update(changed)

    def layer_sparsity(self) -> dict[str, float]:
        """Fraction of zero weights per prunable layer, as it stands in the working copy."""
        return {
            n: (m.weight.numel() - int(torch.count_nonzero(m.weight.detach()))) / m.weight.numel()
            for n, m in self.modules.items()
        }

    def current_plans(self) -> dict[str, LayerPlan]:
        """The plan behind every prunable layer's current mask: the one applied when known, otherwise
        (a lottery ticket, a structured preview) the measured sparsity with the default criterion."""
        return {n: self.plans.get(n, LayerPlan(s)) for n, s in self.layer_sparsity().items()}

    def prunable_sparsity(self) -> float:
        """Fraction (0..1) of all prunable layers' weights that are zero in the working copy."""
        sizes = {x.name: x.params for x in self.layers}
        total = sum(sizes.values())
        return sum(s * sizes[n] for n, s in self.layer_sparsity().items()) / total if total else 0.0

    def report(self) -> Report:
        """Evaluate the working copy: accuracy, loss, parameters, MACs and size."""
        cls = classification_metrics(self.logits(), self.data.y)
        total, nonzero = param_counts(self.working)
        dense_bytes, sparse_bytes = size_bytes(self.working)
        sparsity = self.layer_sparsity()
        density = {n: 1.0 - s for n, s in sparsity.items()}
        return Report(
            accuracy=cls["accuracy"],
            loss=cls["loss"],
            top5=cls.get("top5"),
            params_total=total,
            params_nonzero=nonzero,
            macs_dense=self.macs_dense,
            macs_effective=effective_macs(self.macs_dense, self.layers, density),
            size_bytes_dense=dense_bytes,
            size_bytes_sparse=sparse_bytes,
            layers=sparsity,
            per_class_accuracy=cls["per_class_accuracy"],
        )


def resolve_device(requested: str | None) -> torch.device:
    """CUDA when present, else CPU; an explicit ``requested`` device wins and is checked."""
    if requested is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise PrunevizError(f"unknown device '{requested}' (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PrunevizError(f"device '{requested}' requested but CUDA is not available here")
    return device


def open_session(
    model_spec: str,
    data_spec: str | None = None,
    options: ModelOptions | None = None,
    limit: int | None = None,
    device: str | None = None,
    extra_layers: tuple[str, ...] = (),
    memory_budget: int = DEFAULT_BUDGET_BYTES,
) -> PruneSession:
    """Load a model and its data and start a session: what the CLI and the dashboard both do first."""
    dev = resolve_device(device)
    model = load_model(model_spec, options)
    data = load_data(data_spec, model, limit=limit, device=dev)
    return PruneSession(model, data, dev, extra_layers, memory_budget)
