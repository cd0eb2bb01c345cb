"""The one explicit state object: a baseline model, its masked working copy, and their evaluation.

A :class:`PruneSession` owns a *working copy* of the loaded model; masks are applied to that copy as
``weight = dense_weight * mask`` so they can be changed or undone freely, and the loaded baseline
is never mutated. Every dashboard user and every CLI command gets its own session; long jobs work on
a :meth:`PruneSession.fork`, never on the user's copy.

Two counters say what a result derived from the session still describes (the version rule): every
change of weights or masks advances :attr:`PruneSession.version`; a change of the *dense* weights
(a fine-tune taken over, a lottery ticket, undo, another session's weights) also advances
:attr:`PruneSession.basis`. Rankings, plans, sweeps and allocations are computed from the dense weights
and hold while ``basis`` does; a metric, an export or a generated text holds while ``version`` does.
:meth:`PruneSession.stamp` records both with a result, :meth:`PruneSession.holds` tells whether it is
still current.

The session also keeps the *origin* of its dense weights: the loaded model's (None), one recorded
fine-tune from them (:class:`pruneviz.workflows.recovery.Trained`, which a recipe replays), or something
no recipe rebuilds (:class:`Opaque`: a ticket, a stopped or a second fine-tune), so the recipe the session
gives is the configuration it shows, or a refusal that says why.

Quantised weights (:meth:`PruneSession.quantize`) come last: a quantised layer shows the float weight its
int8 values stand for (see :mod:`pruneviz.workflows.masking`). Anything that writes weights (training, a
loaded state) takes the exact weights and drops the quantisation.

The session is a facade over parts with one owner each: :class:`~pruneviz.workflows.scoring.Scoring`
(the calibration copy and every criterion's scores), :class:`~pruneviz.workflows.masking.MaskState` (the
masks, how each was made, the weight format), :class:`~pruneviz.workflows.preview.Preview` (a structured
removal shown) and the task's evaluator; it keeps the versions and what the evaluator has yet to see.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol

import torch
from torch import nn

from pruneviz.core import masks as M
from pruneviz.core.budget import check_estimate, plan_seconds, within_budget
from pruneviz.core.errors import PrunevizError
from pruneviz.core.evaluate import DEFAULT_BUDGET_BYTES
from pruneviz.core.granularity import UNSTRUCTURED, Granularity
from pruneviz.core.importance import Calibration, Scores
from pruneviz.core.jobs import Progress
from pruneviz.core.layers import LayerInfo, discover_layers, module_macs, prunable_modules
from pruneviz.core.metrics import effective_macs, param_counts, size_bytes
from pruneviz.core.quantize import QUANTIZATIONS, Quantization, dequantized
from pruneviz.core.reconstruction import FromInputs
from pruneviz.core.structure import preview as zero_removed
from pruneviz.io.data import DataOptions, DataSet
from pruneviz.io.formats import ExportMeta
from pruneviz.io.models import (
    LoadedModel,
    ModelOptions,
    aliased_copy,
    clone_module,
    eval_mode,
    load_model,
)
from pruneviz.tasks import FILTERS, Estimate, Task, task_of
from pruneviz.workflows.masking import MaskState, SetAside
from pruneviz.workflows.plans import GlobalPlan, LayerPlan
from pruneviz.workflows.preview import Preview
from pruneviz.workflows.scoring import Scoring
from pruneviz.workflows.structured import (
    Removal,
    StructuredPlan,
    plan_removal,
    refuse_unknown_attention,
)

ONE_LAYER = "one layer, against the dense model's inputs"


@dataclass(frozen=True)
class Stamp:
    """The versions a result was computed from: the dense weights' (``basis``) and, for a result that
    depends on the masks too, the whole model's (``version``; None: masks do not matter)."""

    basis: int
    version: int | None = None


class Origin(Protocol):
    """Where a session's dense weights came from, when not from the loaded model: a recorded fine-tune
    (:class:`pruneviz.workflows.recovery.Trained`) or something no recipe rebuilds (:class:`Opaque`)."""

    def mask_for(self, name: str, plan: LayerPlan) -> torch.Tensor | None:
        """The mask layer ``name`` must keep under ``plan`` on these weights (None: choose it anew)."""


@dataclass(frozen=True)
class Opaque:
    """Dense weights no recipe rebuilds, and why (said when a recipe is asked for)."""

    reason: str

    def mask_for(self, name: str, plan: LayerPlan) -> torch.Tensor | None:
        return None


@dataclass(frozen=True)
class Snapshot:
    """A session's model at one moment, enough to return to it (undo) or to hand it to another session:
    ``state`` the working copy's parameters and buffers (a quantised layer's exact masked weight, not its
    rounding), ``dense`` the dense prunable weights, ``masks`` with the ``plans`` that gave them and how
    input-reading methods were ``solved``, the ``origin`` of the dense weights and the dense reference
    they were adopted as (``basis``; None: the loaded model's, or ``dense`` over ``state`` when the
    origin is not the loaded model), and the weight format shown (``quantize``)."""

    state: dict[str, torch.Tensor]
    dense: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    plans: dict[str, LayerPlan] = field(default_factory=dict)
    solved: dict[str, str] = field(default_factory=dict)
    origin: Origin | None = None
    basis: dict[str, torch.Tensor] | None = None
    quantize: str | None = None


@dataclass
class Report:
    """Evaluation of the working copy: the task's figures (``figures``: accuracy, loss, top-5 for a
    classifier; fractions 0..1), ``score`` (the task's headline metric among them), parameter counts,
    MACs per sample, sizes in bytes, per-layer sparsity and the per-class breakdown (if the task has one).
    """

    figures: dict[str, float | None]
    score: float
    params_total: int
    params_nonzero: int
    macs_dense: int
    macs_effective: int
    size_bytes_dense: int
    size_bytes_sparse: int
    layers: dict[str, float]
    per_class_accuracy: list[float | None] = field(default_factory=list)
    # how far the figures rest on the data: every sample (complete), or the first of a shuffled order
    estimate: Estimate | None = None
    quantize: str | None = None  # the weight format of the quantised layers (None: all float)

    @property
    def loss(self) -> float:
        return self.figures["loss"]

    @property
    def complete(self) -> bool:
        """Whether every sample is in (else the figures are an estimate from some of them)."""
        return self.estimate is None or self.estimate.complete

    def as_dict(self) -> dict:
        """The report as ``evaluate --json`` prints it: the task's figures at the top level."""
        out = asdict(self)
        out.pop("figures")
        out.pop("score")
        out.pop("estimate")
        return self.figures | out


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
        self.task: Task = task_of(model)
        self.device = torch.device(device)
        self.extra_layers = tuple(extra_layers)
        self.memory_budget = memory_budget
        # The working copy shares the baseline's tensors until a layer is masked (set_mask gives that
        # layer a tensor of its own) or something writes it in place (writable()).
        self.working = eval_mode(aliased_copy(model.module, self.device))
        found = prunable_modules(self.working, self.extra_layers)
        chosen = self.task.prunable(self.working, found)
        self.modules = {n: m for n, m in found.items() if n in chosen or n in self.extra_layers}
        self.dense_weights = self._loaded_weights()
        self.example = data.x[:1]
        self.layers = discover_layers(self.working, self.example, self.modules)
        self.macs_dense = module_macs(self.working, self.example)[0]
        self.masking = MaskState(self.modules)
        self.evaluator = self.task.evaluator(
            self.working, data.x, self.modules, memory_budget, architecture=model.module
        )
        self.origin: Origin | None = None  # where the dense weights came from (None: loaded)
        self.version = 0  # advances on every change of weights or masks
        self.basis = 0  # advances on every change of the dense weights
        self._changed: set[str] = set()
        self.scoring = Scoring(model, data, self.task, self.device, tuple(self.modules))
        self.preview: Preview | None = None  # the structured removal shown, if any
        self._reference: torch.Tensor | None = None  # the baseline's per-sample outputs (see baseline())

    def writable(self) -> nn.Module:
        """The working copy with tensors of its own: what anything writing its weights in place takes
        (training, loading a state, a structured preview). Until then it shares the storage of the
        baseline (shared by every session on this model) and of the dense weights, which must never
        change under them. Quantised weights are set back to their exact values first (training
        rounded weights would train the rounding)."""
        self.quantize(None)
        loaded = [*self.model.module.parameters(), *self.model.module.buffers(), *self.dense_weights.values()]
        shared = {t.untyped_storage().data_ptr() for t in loaded}
        with torch.no_grad():
            for t in [*self.working.parameters(), *self.working.buffers()]:
                if t.untyped_storage().data_ptr() in shared:
                    t.data = t.data.clone()
        return self.working

    # --- what the parts own, read here ---------------------------------------------------------------

    @property
    def masks(self) -> dict[str, torch.Tensor]:
        """Each masked layer's mask (True = keep); written by :meth:`set_mask` only."""
        return self.masking.masks

    @property
    def plans(self) -> dict[str, LayerPlan]:
        """The plan behind each layer's current mask, when known."""
        return self.masking.plans

    @property
    def solved(self) -> dict[str, str]:
        """How each layer pruned by a method reading its inputs was solved: :data:`ONE_LAYER` (live) or
        sequentially (:mod:`pruneviz.workflows.sequential`)."""
        return self.masking.solved

    @property
    def quantization(self) -> Quantization | None:
        """The weight format shown (None: float)."""
        return self.masking.quantization

    @property
    def removal(self) -> Removal | None:
        """The structured removal shown, if any."""
        return self.preview.removal if self.preview is not None else None

    @property
    def set_aside(self) -> SetAside | None:
        """The masks the structured preview replaced (None: no preview, or nothing to come back to)."""
        return self.preview.aside if self.preview is not None else None

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the prunable weights are held in."""
        return next(iter(self.dense_weights.values())).dtype

    @property
    def layer_names(self) -> list[str]:
        return list(self.modules)

    def check_layer(self, name: str) -> None:
        if name not in self.modules:
            raise PrunevizError(f"unknown layer '{name}' (see `pruneviz info` for the prunable layers)")

    def shape(self, name: str) -> tuple[int, ...]:
        """The weight shape of prunable layer ``name``."""
        return tuple(self.dense_weights[name].shape)

    def layer(self, name: str) -> LayerInfo:
        """What pruneviz knows of prunable layer ``name`` (type, shape, MACs, whether it is a Linear)."""
        self.check_layer(name)
        return next(x for x in self.layers if x.name == name)

    # --- importance (the scoring part owns the cache) ----------------------------------------------

    def calibration(self) -> Calibration:
        """The dense model and its calibration samples (see :meth:`Scoring.calibration`)."""
        return self.scoring.calibration()

    def scores(
        self, criterion: str, kind: Granularity = UNSTRUCTURED, progress: Progress | None = None
    ) -> Scores:
        """Every layer's scores under ``criterion``, cached (see :meth:`Scoring.scores`)."""
        return self.scoring.scores(criterion, kind, progress)

    def layer_scores(
        self, name: str, criterion: str, kind: Granularity = UNSTRUCTURED
    ) -> torch.Tensor | None:
        """One layer's scores (see :meth:`Scoring.layer_scores`)."""
        return self.scoring.layer_scores(name, criterion, kind)

    def input_weighted(self) -> Scores:
        """|W_ij| · ‖X_j‖₂ of every layer (see :meth:`Scoring.input_weighted`)."""
        return self.scoring.input_weighted()

    def has_scores(self, criterion: str, kind: Granularity = UNSTRUCTURED) -> bool:
        """Whether :meth:`scores` would answer without computing."""
        return self.scoring.has_scores(criterion, kind)

    # --- versions -----------------------------------------------------------------------------------

    def stamp(self, masks: bool = False) -> Stamp:
        """The versions a result computed now derives from: the dense weights' and, with ``masks``, the
        whole model's."""
        return Stamp(self.basis, self.version if masks else None)

    def holds(self, stamp: Stamp | None) -> bool:
        """Whether a result stamped ``stamp`` still describes this session's model."""
        return stamp is not None and stamp.basis == self.basis and stamp.version in (None, self.version)

    def _changed_model(self, dense: bool = False) -> None:
        self.version += 1
        if dense:
            self.basis += 1

    # --- masks --------------------------------------------------------------------------------------

    def weights_for(self, name: str, plan: LayerPlan) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The mask ``plan`` gives layer ``name`` and, for a method that rewrites weights (sparsegpt),
        the rewritten weight (pure; nothing is applied). A method reading the layer's inputs (wanda,
        sparsegpt) is solved one-shot here: this layer alone, against the dense model's inputs."""
        refusal = plan.ineligible(self.layer(name))
        if refusal:
            raise PrunevizError(f"layer '{name}' {refusal}; weight shape {self.shape(name)}")
        kind = plan.granularity
        kept = self.origin.mask_for(name, plan) if self.origin is not None else None
        if kept is not None:
            return kept.to(self.device), None  # e.g. the mask a fine-tune trained with
        method = kind.criteria.get(plan.criterion)
        if isinstance(method, FromInputs):
            calib = self.calibration()
            module = prunable_modules(calib.model, tuple(self.modules))[name]
            stats = calib.inputs({name: module}, gram=method.gram)[name]
            return kind.solve(method, self.dense_weights[name], stats, plan.sparsity)
        scores = self.layer_scores(name, plan.criterion, kind)
        if scores is None:
            raise PrunevizError(f"criterion '{plan.criterion}' cannot score layer '{name}'")
        return kind.mask(scores, plan.sparsity, self.dense_weights[name].shape), None

    def set_mask(
        self,
        name: str,
        mask: torch.Tensor | None,
        weight: torch.Tensor | None = None,
        plan: LayerPlan | None = None,
        solved_by: str | None = None,
    ) -> None:
        """Apply ``mask`` (True = keep) to layer ``name``'s working weight; None restores it dense.
        ``weight`` (zero where the mask is False) replaces the surviving weights too (a reconstruction);
        the dense weights stay as they were, so undo and re-masking start from them. ``plan`` is the
        per-layer plan that gives this mask (what recipes and the sliders show; None: none does), and
        ``solved_by`` how a method reading the layer's inputs solved it (one layer against the dense
        inputs, or sequentially): the session's record of both is written here only."""
        self.check_layer(name)
        self.masking.set(name, self.dense_weights[name], mask, weight, plan, solved_by)
        self._changed_model()
        self._changed.add(name)

    def quantize(self, scheme: str | None) -> None:
        """Show every quantisable prunable layer with ``scheme``'s weights (``"int8"``; None: float
        again), on top of whatever masks it has; the live metric is then the quantised model's."""
        chosen = None if scheme is None else QUANTIZATIONS.get(scheme)
        if chosen is not None:
            chosen.check(self.device, self.dtype)
            if self.removal is not None:
                raise PrunevizError(
                    "quantised weights go on masks; a structured preview is showing (build the smaller "
                    "model, or go back to masks, first)"
                )
        shown = self.quantization
        self._changed.update(self.masking.show_format(chosen))
        if chosen != shown:  # the weight format is part of the model (exports name it)
            self._changed_model()

    def quantized_model(self) -> nn.Module:
        """A copy of the working model whose quantised layers hold torchao's quantised tensors, made
        from the exact masked weights (what an export writes; the values the live metric used)."""
        model = clone_module(self.working, self.device)
        layers = prunable_modules(model, tuple(self.modules))
        with torch.no_grad():
            for name, exact in self.masking.exact.items():
                layers[name].weight.data = exact.clone()
        return self.quantization.convert(model, list(self.masking.exact)) if self.quantization else model

    def apply_layer_plans(self, plans: dict[str, LayerPlan]) -> list[str]:
        """Set each named layer's mask from its plan, skipping layers already masked by that very plan
        and dense layers planned dense (so a slider move re-masks one layer, not all, and a page opened
        on the dense model re-evaluates nothing). Returns the layers that changed."""
        if self.removal is not None:  # a structured preview is showing: plans start from dense
            self.reset()
        changed = [
            name
            for name, plan in plans.items()
            if self.plans.get(name) != plan and not (plan.dense and name not in self.masks)
        ]
        for name in changed:
            self.prune_layer(name, plans[name])
        return changed

    def prune_layer(self, name: str, plan: LayerPlan) -> None:
        """Mask layer ``name`` as ``plan`` says (sparsity 0 restores it dense)."""
        mask, weight = (None, None) if plan.dense else self.weights_for(name, plan)
        from_inputs = isinstance(plan.granularity.criteria.get(plan.criterion), FromInputs)
        self.set_mask(name, mask, weight, plan, ONE_LAYER if from_inputs and not plan.dense else None)

    def apply_global(self, plan: GlobalPlan) -> None:
        """One ranking across all unpinned layers; pinned layers stay dense."""
        for name in plan.pinned:
            self.check_layer(name)
        ranked = [n for n in self.modules if n not in plan.pinned]
        kind = plan.granularity
        if plan.lamp:
            scores = {n: self.dense_weights[n] for n in ranked}
        else:
            all_scores = self.scores(plan.criterion, kind)
            scores = {n: all_scores[n] for n in ranked if n in all_scores}
        for name, keep in M.global_masks(scores, plan.sparsity, lamp=plan.lamp).items():
            mask = kind.expand(keep, self.dense_weights[name].shape)
            # what the ranking gave this layer, as a per-layer plan that gives the very same mask (the
            # same scores, the same count; LAMP ranks a layer's weights as magnitude does)
            units = kind.units(mask.shape)
            pruned = units - int(keep.sum())
            criterion = "magnitude" if plan.lamp else plan.criterion
            self.set_mask(name, mask, plan=LayerPlan(M.sparsity_for(pruned, units), criterion, kind))
        for name in plan.pinned:
            self.set_mask(name, None)

    def adopt_weights(self, origin: Origin | None) -> None:
        """Take the working copy's current weights (e.g. after training) as the new dense weights, made
        as ``origin`` says (None: they are the loaded model's).

        Masks stay recorded; everything is re-evaluated in full next time, and criteria score the new
        weights from now on (an iterative schedule re-ranks what training changed).
        """
        self.quantize(None)
        self.dense_weights = {n: m.weight.detach().clone() for n, m in self.modules.items()}
        self.origin = origin
        self._rebase({k: v.detach().clone() for k, v in self.working.state_dict().items()})

    def _rebase(self, basis: dict[str, torch.Tensor] | None) -> None:
        """The dense reference is now ``basis``: forget scores and caches computed on the old one."""
        if self.preview is not None:  # masks chosen on the old weights mean nothing on the new ones
            self.preview.aside = None
        self.scoring.rebase(basis)
        self.evaluator.invalidate()
        self._changed.clear()
        self._changed_model(dense=True)

    def fork(self, keep_weights: bool = True, memory_budget: int | None = None) -> PruneSession:
        """A second session over the same baseline with this one's settings (device, extra layers,
        memory budget unless a smaller one is given), without masks: long jobs (training, sweeps,
        checks) work there, never on the user's copy. With ``keep_weights`` it starts from this
        session's current dense weights (after a fine-tune), else from the loaded baseline's."""
        budget = self.memory_budget if memory_budget is None else min(memory_budget, self.memory_budget)
        other = PruneSession(self.model, self.data, self.device, self.extra_layers, budget)
        if keep_weights and self.scoring.basis is not None:
            other.take_weights(self.dense_state(), self.origin)
        return other

    def _loaded_weights(self) -> dict[str, torch.Tensor]:
        """The loaded model's prunable weights, read-only: the baseline's own tensors (copies only on
        another device), so a session holds no second copy of them."""
        loaded = prunable_modules(self.model.module, tuple(self.modules))
        return {n: loaded[n].weight.detach().to(self.device) for n in self.modules}

    def back_to_loaded(self) -> None:
        """The loaded model's weights again, dense, with nothing derived from others kept."""
        self.reset()
        self.writable().load_state_dict(self.model.module.state_dict())
        self.dense_weights = self._loaded_weights()
        self.origin = None
        self._rebase(None)

    def dense_state(self) -> dict[str, torch.Tensor]:
        """The working copy's state with every prunable weight dense: what another session (in this
        process or another one) takes with :meth:`take_weights` to start from this one's weights."""
        state = {k: v.detach().clone() for k, v in self.working.state_dict().items()}
        for name in self.modules:
            state[f"{name}.weight"] = self.dense_weights[name].clone()
        return state

    def take_weights(self, state: dict[str, torch.Tensor], origin: Origin | None) -> None:
        """Start from ``state`` (another session's :meth:`dense_state`) as this session's dense weights,
        made as ``origin`` says."""
        self.writable().load_state_dict(state)
        self.adopt_weights(origin)

    def snapshot(self) -> Snapshot:
        """Everything needed to undo a change of weights (see :class:`Snapshot`)."""
        state = self.working.state_dict() | {f"{n}.weight": w for n, w in self.masking.exact.items()}
        return Snapshot(
            state={k: v.clone() for k, v in state.items()},
            dense={k: v.clone() for k, v in self.dense_weights.items()},
            masks=dict(self.masks),
            plans=dict(self.plans),
            solved=dict(self.solved),
            origin=self.origin,
            basis=self.scoring.basis,
            quantize=self.masking.quantize,
        )

    def restore(self, snapshot: Snapshot) -> None:
        """Return to ``snapshot`` (an undo), or take over another session's (``other.snapshot()``)."""
        self.reset()
        self.writable().load_state_dict(snapshot.state)
        self.dense_weights = {k: v.clone() for k, v in snapshot.dense.items()}
        for name, mask in snapshot.masks.items():  # the state holds the masked weights already
            self.masking.record(name, mask)
        self.masking.recall(snapshot.plans, snapshot.solved)
        self.origin = snapshot.origin
        basis = snapshot.basis
        if basis is None and self.origin is not None:  # trained weights: the dense ones are the reference
            basis = {**snapshot.state, **{f"{n}.weight": w for n, w in self.dense_weights.items()}}
        self._rebase(basis)
        self.quantize(snapshot.quantize)

    def reset(self) -> None:
        """Back to the dense model: masks removed, structurally previewed parameters restored, and no
        plan left behind (a plan of 0 says nothing of a layer another kind of pruning changes)."""
        if self.preview is not None:
            self.preview.restore(dict(self.working.named_parameters()))
            if self.preview.backup:
                self.evaluator.invalidate()
                self._changed_model()
            self.preview = None
        for name in list(self.masks):
            self.set_mask(name, None)
        self.masking.forget_records()

    # --- structured removal -------------------------------------------------------------------------

    def plan_removal(self, plan: StructuredPlan, pinned_by_registry: bool = False) -> Removal:
        """Which filters Torch-Pruning would remove under ``plan`` (computed on a dense copy), within
        the job memory budget. A model whose kind of structure is not filters, or one with attention in
        blocks pruneviz does not know, is refused before any graph is built, unless the plan comes from
        its family's registry entry (``pinned_by_registry``: every layer but the MLP's pinned, as a
        vision transformer's channel plan is)."""
        calib = self.calibration()
        if not plan.empty and not pinned_by_registry:
            kind = self.task.structure(self.model)
            if kind is not FILTERS:
                reason = "filter groups would run through its residual stream and attention"
                raise PrunevizError(f"{kind.refusal(self.model.spec, 'filters')}: {reason}")
            refuse_unknown_attention(calib.model, self.model.spec)
        what = f"planning {self.model.spec}'s filter removal ({_words(plan)})"
        params, _ = param_counts(calib.model)
        check_estimate(what, 3 * params * self.dtype.itemsize)  # the copy, and Torch-Pruning's working copies
        with (
            within_budget(what, seconds=plan_seconds()),
            calib.exclusive() as dense,
        ):  # planned on a private copy, taken between passes
            return plan_removal(dense, self.example, plan, calib)

    def preview_removal(self, removal: Removal) -> None:
        """Zero exactly what ``removal`` deletes (coupled BatchNorm and biases included) on the working
        copy: the outputs equal the shrunk model's, live and undoable. The masks it replaces are set
        aside (:attr:`set_aside`) until :meth:`end_preview` brings them back."""
        aside = self.set_aside if self.preview is not None else self.masking.set_aside()
        self.reset()
        params = dict(self.writable().named_parameters())
        backup = {name: params[name].detach().clone() for name in removal.removed}
        zero_removed(self.working, removal.removed)
        for layer in self.modules:
            removed = removal.removed.get(f"{layer}.weight")
            if removed is not None:
                self.masking.record(layer, ~removed.to(self.device))
        self.preview = Preview(removal, backup, aside)
        self._changed_model()
        self.evaluator.invalidate()

    def end_preview(self) -> None:
        """Leave the structured preview for the masks it replaced, exactly as they were (a lottery
        ticket's or a reconstruction's weights included); nothing happens when no preview shows."""
        if self.preview is None:
            return
        aside = self.preview.aside
        self.reset()
        if aside is None:
            return
        for name, mask in aside.masks.items():
            self.set_mask(name, mask, aside.weights[name])
        self.masking.recall(aside.plans, aside.solved)
        self.quantize(aside.quantize)

    def shrunk(self) -> nn.Module:
        """The physically smaller model for the previewed removal (a new module each call)."""
        if self.removal is None:
            raise PrunevizError("nothing to remove: preview a structured plan first")
        what = f"building {self.model.spec}'s smaller model"
        with within_budget(what), self.calibration().exclusive() as dense:  # builds from a private copy
            return self.removal.build(dense, self.example)

    def export_meta(self) -> ExportMeta:
        """Where the (shrunk) model comes from, for exporters: architecture, data, removals on top (a
        removal whose smaller model carries its own architecture, like a transformer's config, names
        none)."""
        replay = self.removal.replay if self.removal is not None else []
        structure = [*(self.model.structure or []), *(replay or [])]
        return ExportMeta(
            self.model.arch_spec if replay is not None else None,
            self.data.spec,
            self.data.sample_shape,
            structure=structure or None,
            tokenizer=self.model.tokenizer,
            input_dtype=self.data.x.dtype,
            quantize=self.masking.quantize,
            quantized=tuple(self.masking.exact),
            layers=tuple(self.modules),
        )

    def predicted_counts(self) -> tuple[int, int]:
        """(parameters, MACs per sample) the shrunk model will have, from the preview alone."""
        total, _ = param_counts(self.working)
        if self.removal is None:
            return total, self.macs_dense
        return self.removal.predict(total, self.macs_dense, self.layers)

    # --- evaluation ---------------------------------------------------------------------------------

    def outputs(self) -> torch.Tensor:
        """The task's outputs (a classifier's logits) of the working copy over the data; only layers
        changed since the last call are recomputed."""
        changed, self._changed = self._changed, set()
        return self.evaluator.update(changed)

    def estimate(self, batches: int | None = None) -> Estimate:
        """The task's metric on the first ``batches`` batches of the evaluator's fixed shuffled order
        (None: every batch, the exact figure of :meth:`report`), with its interval: what a page shows of
        a large model while the rest is computed. Only what changed is recomputed, and what is
        computed here is not computed again."""
        return self._estimated(batches)[0]

    def _estimated(self, batches: int | None) -> tuple[Estimate, torch.Tensor, torch.Tensor]:
        """:meth:`estimate`, with the outputs and targets it rests on."""
        changed, self._changed = self._changed, set()
        evaluator = self.evaluator
        evaluator.mark(changed)
        if batches is None or batches >= len(evaluator.batches):
            outputs, y = evaluator.outputs(), self.data.y
            return self.task.estimate(outputs, y, len(self.data)), outputs, y
        outputs, y, reference = self._first_batches(batches)
        return replace(self.task.estimate(outputs, y, len(self.data)), reference=reference), outputs, y

    def _first_batches(self, batches: int) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        """The outputs and targets of the first ``batches`` batches of the shuffled order, and the
        baseline's metric on those same samples (None before :meth:`baseline`)."""
        chosen = self.evaluator.order[: max(1, batches)]
        rows = [self.evaluator.rows[i] for i in chosen]
        outputs = torch.cat([self.evaluator.batch(i) for i in chosen])
        y = torch.cat([self.data.y[r] for r in rows])
        reference = None
        if self._reference is not None:
            figures = self.task.figures(torch.cat([self._reference[r] for r in rows]), y)
            reference = figures[self.task.metric.key]
        return outputs, y, reference

    def baseline(self) -> Report:
        """The full report of the model as it stands (the loaded model, when a dashboard session opens):
        what every change is measured against. Its per-sample outputs are kept, so an estimate from a few
        batches is set beside this model on the very same samples (:attr:`Estimate.reference`), never
        beside a figure from other samples."""
        report = self.report()
        self._reference = self.evaluator.outputs()
        return report

    def report_within(self, seconds: float) -> Report:
        """A report as complete as about ``seconds`` allow: every sample when bringing them all up to
        date costs less than that (judged by the last batch's time), else the batches of the shuffled
        order brought up to date one after another for about ``seconds`` (one at least) — an estimate
        that the next call refines the same way until it is the exact figure. (In the dashboard each call
        is one page run: a batch a call made a refinement pay the page's drawing once per batch.) A change
        in between starts the estimate again from the first batch."""
        start = time.perf_counter()
        changed, self._changed = self._changed, set()
        evaluator = self.evaluator
        evaluator.mark(changed)
        stale = evaluator.stale()
        if stale <= 1 or stale * evaluator.last_batch_s <= seconds:
            return self.report()
        done = self.ready()
        while done < len(evaluator.batches):
            evaluator.batch(evaluator.order[done])
            done += 1
            if time.perf_counter() - start >= seconds:
                break
        return self.report(done)

    def ready(self) -> int:
        """How many batches of the evaluator's shuffled order are up to date, from the first on (what an
        estimate rests on without computing more)."""
        done = 0
        for i in self.evaluator.order:
            if not self.evaluator.up_to_date(i) or self._changed:
                break
            done += 1
        return done

    def layer_sparsity(self) -> dict[str, float]:
        """Fraction of zero weights per prunable layer, as it stands in the working copy."""
        return {
            n: (m.weight.numel() - int(torch.count_nonzero(m.weight.detach()))) / m.weight.numel()
            for n, m in self.modules.items()
        }

    def current_plans(self) -> dict[str, LayerPlan]:
        """The plan behind every prunable layer's current mask: the one applied when known, otherwise
        (a mask no plan made: a lottery ticket's) its pruned count with the default criterion."""
        out = {}
        for name in self.modules:
            mask = self.masks.get(name)
            if name in self.plans or mask is None:
                out[name] = self.plans.get(name, LayerPlan(0.0))
            else:
                out[name] = LayerPlan(M.sparsity_for(int((~mask).sum()), mask.numel()))
        return out

    def prunable_sparsity(self) -> float:
        """Fraction (0..1) of all prunable layers' weights that are zero in the working copy."""
        sizes = {x.name: x.params for x in self.layers}
        total = sum(sizes.values())
        return sum(s * sizes[n] for n, s in self.layer_sparsity().items()) / total if total else 0.0

    def report(self, batches: int | None = None) -> Report:
        """Evaluate the working copy: the task's figures, parameters, MACs and size — on every sample, or
        (``batches``) on the first batches of the evaluator's shuffled order, an estimate with its
        interval that later calls refine (see :meth:`estimate`)."""
        if batches is not None and batches < len(self.evaluator.batches):
            estimate, outputs, y = self._estimated(batches)
        else:
            estimate, outputs, y = None, self.outputs(), self.data.y
        figures = self.task.figures(outputs, y)
        total, nonzero = param_counts(self.working)
        quantized = {f"{n}.weight": self.quantization for n in self.masking.exact}
        dense_bytes, sparse_bytes = size_bytes(self.working, quantized)
        sparsity = self.layer_sparsity()
        density = {n: 1.0 - s for n, s in sparsity.items()}
        return Report(
            figures=figures,
            score=figures[self.task.metric.key],
            params_total=total,
            params_nonzero=nonzero,
            macs_dense=self.macs_dense,
            macs_effective=effective_macs(self.macs_dense, self.layers, density),
            size_bytes_dense=dense_bytes,
            size_bytes_sparse=sparse_bytes,
            layers=sparsity,
            per_class_accuracy=self.task.breakdown(outputs, y),
            estimate=estimate,
            quantize=self.masking.quantize if self.masking.exact else None,
        )


def _words(plan: StructuredPlan) -> str:
    """A filter plan for people: "30 % of every layer's filters, l1" or "conv2 50 %, l1"."""
    if plan.global_ratio is not None:
        what = f"{plan.global_ratio:.0%} of the filters, ranked across layers"
    else:
        what = ", ".join(f"{n} {r:.0%}" for n, r in plan.ratios.items()) or "nothing"
    return f"{what}, {plan.criterion}"


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


def load_pair(
    model_spec: str,
    data_spec: str | None = None,
    options: ModelOptions | None = None,
    data_options: DataOptions | None = None,
    device: torch.device | str = "cpu",
) -> tuple[LoadedModel, DataSet]:
    """The model and its validation data, loaded the way its task loads data. A quantised export is
    taken as the float values its weights stand for: what a session prunes and measures."""
    model = load_model(model_spec, options)
    model = replace(model, module=dequantized(model.module))
    data = task_of(model).load_data(data_spec, model, data_options or DataOptions(), device=device)
    return model, data


def open_session(
    model_spec: str,
    data_spec: str | None = None,
    options: ModelOptions | None = None,
    data_options: DataOptions | None = None,
    device: str | None = None,
    extra_layers: tuple[str, ...] = (),
    memory_budget: int = DEFAULT_BUDGET_BYTES,
) -> PruneSession:
    """Load a model and its data and start a session: what the CLI and the dashboard both do first."""
    dev = resolve_device(device)
    model, data = load_pair(model_spec, data_spec, options, data_options, dev)
    return PruneSession(model, data, dev, extra_layers, memory_budget)
