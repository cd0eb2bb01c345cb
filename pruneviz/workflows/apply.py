"""Apply a recipe for real and measure what came out: the workflow behind ``pruneviz apply``,
``pruneviz latency``, ``pruneviz finetune`` of filter recipes, and the Structured and Export pages.

A recipe that removes filters is previewed, then the smaller model is built and measured (parameters
and MACs counted on it, next to what the preview predicted, and the layers whose shapes changed); any
other recipe is applied as masks on the working copy (same shapes, exact zeros). Exports are reloaded
the way a user would load them and evaluated, so a written file is known to be faithful.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from pruneviz.core.errors import PrunevizError
from pruneviz.core.layers import module_macs, prunable_modules
from pruneviz.core.metrics import param_counts
from pruneviz.core.quantize import as_float
from pruneviz.io.formats import FORMATS, ExportMeta, export_model, reload_for_verification
from pruneviz.workflows.latency import compare_latency, unstructured_twin
from pruneviz.workflows.recipe import Recipe, apply_recipe, removes_filters, structured_plan
from pruneviz.workflows.session import PruneSession, Report
from pruneviz.workflows.structured import Removal

Shapes = dict[str, tuple[list[int], list[int]]]


@dataclass
class Applied:
    """A session's model made ready to export: the module, its kind (``dense``, ``masked`` or
    ``structured``), where it comes from (for exporters), reports before and after, parameters and MACs
    per sample (counted on the shrunk model, or non-zero / effective for masks) beside what the preview
    predicted, the coupled groups kept intact, the weight shapes that changed (before, after) and, for a
    smaller model, the session's removal it was built from (which model a page built is this one)."""

    model: nn.Module
    meta: ExportMeta
    kind: str
    dense: Report
    pruned: Report
    params: int
    macs: int
    params_predicted: int
    macs_predicted: int
    skipped: list[str] = field(default_factory=list)
    shapes: Shapes = field(default_factory=dict)
    built_from: Removal | None = None

    @property
    def as_predicted(self) -> bool:
        return (self.params, self.macs) == (self.params_predicted, self.macs_predicted)

    def counts(self) -> dict:
        """Kind, parameters and MACs before, after and predicted, groups kept, shapes changed (the
        figures ``pruneviz apply --json`` reports)."""
        return {
            "kind": self.kind,
            "params_dense": self.dense.params_total,
            "params_pruned": self.params,
            "params_predicted": self.params_predicted,
            "macs_dense": self.dense.macs_dense,
            "macs_pruned": self.macs,
            "macs_predicted": self.macs_predicted,
            "skipped_groups": self.skipped,
            "layers": self.shapes,
        }


def apply_and_measure(session: PruneSession, recipe: Recipe | None) -> Applied:
    """Apply ``recipe`` (None: nothing) to ``session`` and measure the result."""
    dense = session.report()
    if recipe is not None and recipe.structure is None and removes_filters(recipe, session.layers):
        session.preview_removal(session.plan_removal(structured_plan(recipe, session.layers)))
    elif recipe is not None:  # masks, or a transformer's heads, channels and blocks (previewed)
        apply_recipe(session, recipe)
    return as_applied(session, dense)


def as_applied(session: PruneSession, dense: Report) -> Applied:
    """The session's model as it stands: the smaller model when a structured removal is previewed,
    otherwise the working copy with its masks. ``dense`` is the report to compare against."""
    pruned = session.report()
    meta = session.export_meta()
    if session.removal is not None and not session.removal.empty:
        model = session.shrunk()
        params, _ = param_counts(model)
        macs, _ = module_macs(model, session.example)
        predicted = session.predicted_counts()
        shapes = shape_changes(session.calibration().model, model)
        skipped = list(session.removal.skipped)
        counts = (params, macs, *predicted)
        return Applied(model, meta, "structured", dense, pruned, *counts, skipped, shapes, session.removal)
    kind = "masked" if session.masks else "dense"
    params, macs = pruned.params_nonzero, pruned.macs_effective
    model = session.quantized_model() if session.quantization else session.working
    return Applied(model, meta, kind, dense, pruned, params, macs, params, macs)


def retrained(applied: Applied, model: nn.Module, figures: dict[str, float | None], key: str) -> Applied:
    """``applied`` after a fine-tune of its model: ``model`` in its place, measured by ``figures`` (the
    task's figures on the session's data, ``key`` its headline metric's), built as before."""
    pruned = replace(applied.pruned, figures=figures, score=figures[key])
    return replace(applied, model=model, pruned=pruned)


def shape_changes(before: nn.Module, after: nn.Module) -> Shapes:
    """Prunable layers' weight shapes that differ between two models: (before, after)."""
    old = {n: list(m.weight.shape) for n, m in prunable_modules(before).items()}
    new = {n: list(m.weight.shape) for n, m in prunable_modules(after).items()}
    return {n: (old[n], new[n]) for n in old if n in new and old[n] != new[n]}


@dataclass(frozen=True)
class Verification:
    """An export reloaded and run on the validation data: its score on the task's metric against the
    session's, and how far apart they may be (classifiers: at most one prediction may differ, as ONNX
    kernels round differently)."""

    score: float
    expected: float
    tolerance: float
    samples: int
    # for a format that reloads exactly what it wrote: the layers whose reloaded weights differ
    differing: list[str] | None = None

    @property
    def ok(self) -> bool:
        return abs(self.score - self.expected) <= self.tolerance and not self.differing


def verify_export(
    session: PruneSession, path: str | Path, fmt: str, expected: float, written: nn.Module | None = None
) -> Verification:
    """Reload ``path`` the way a user would (``file:PATH``) and measure it on the session's data; for a
    lossless format, also compare every prunable layer's weights with ``written`` (the model exported)."""
    module, device, dtype = reload_for_verification(path, fmt)
    task, data = session.task, session.data
    x = data.x.to(device) if not torch.is_floating_point(data.x) else data.x.to(device, dtype)
    outputs = task.outputs(module, x).float().cpu()  # (loaders that decompress on the first call have now)
    score, _ = task.quick(outputs, data.y.cpu())
    differing = None
    if written is not None and FORMATS.get(fmt).lossless:
        differing = differing_weights(written, module, list(session.modules))
    return Verification(score, expected, task.tolerance(len(data)), len(data), differing)


def differing_weights(a: nn.Module, b: nn.Module, layers: list[str]) -> list[str]:
    """The layers whose weights (as floats: int8 values times their scales) are not bit-identical."""
    found_a, found_b = dict(a.named_modules()), dict(b.named_modules())
    return [
        name
        for name in layers
        if not torch.equal(
            as_float(found_a[name].weight.detach()).cpu(), as_float(found_b[name].weight.detach()).cpu()
        )
    ]


def export_and_verify(session: PruneSession, applied: Applied, path: str | Path, fmt: str) -> Verification:
    """Write the applied model in ``fmt`` and verify the file against the score it had in the session
    (and, for a lossless format, weight by weight)."""
    path = export_model(applied.model, path, fmt, applied.meta)
    return verify_export(session, path, fmt, applied.pruned.score, applied.model)


def export_faithfully(session: PruneSession, applied: Applied, path: str | Path, fmt: str) -> Verification:
    """:func:`export_and_verify`, refused in one line when the reloaded file does not give the
    session's metric (what ``pruneviz apply`` and the API's ``export`` promise)."""
    check = export_and_verify(session, applied, path, fmt)
    if not check.ok:
        metric = session.task.metric
        raise PrunevizError(
            f"the exported file gives {metric.format(check.score)} {metric.key} but the session "
            f"{metric.format(check.expected)}; {path} is not a faithful export"
        )
    return check


def disk_bytes(path: Path) -> int:
    """Bytes a written export takes on disk (a directory's files together)."""
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files)


def dense_export_bytes(session: PruneSession) -> int:
    """Bytes of the dense model written in the task's first export format: what an export is compared
    with."""
    fmt = session.task.export_formats[0]
    with tempfile.TemporaryDirectory() as tmp, session.calibration().exclusive() as dense:
        model = session.model  # as loaded: its architecture, and any structure it was saved with
        meta = replace(
            session.export_meta(),
            model_spec=model.arch_spec,
            structure=model.structure,
            quantize=None,
            quantized=(),
        )
        return disk_bytes(export_model(dense, Path(tmp) / f"dense{FORMATS.get(fmt).suffix}", fmt, meta))


@dataclass
class LatencyComparison:
    """Structured removal against the same parameter savings unstructured: median ms per model
    (``dense``, ``structured``, ``unstructured``) and batch size, and the speed-up each promises on
    paper (MACs for the structured model; parameters for the unstructured one, which only sparse
    kernels could turn into speed)."""

    ms: dict[str, dict[int, float]]
    promised: dict[str, float]

    def measured(self) -> dict[str, dict[int, float]]:
        """× faster than dense, per pruned model and batch size."""
        dense = self.ms["dense"]
        return {k: {b: dense[b] / t for b, t in per.items()} for k, per in self.ms.items() if k != "dense"}


def structured_speedup(
    dense: nn.Module,
    applied: Applied,
    sample_shape: tuple[int, ...],
    batch_sizes: tuple[int, ...] = (1, 64),
    device: torch.device | str = "cpu",
    progress: Callable[[float, str], None] | None = None,
) -> LatencyComparison:
    """Time ``dense``, the structurally pruned model and an unstructured twin with the same share of
    weights removed, one after another in this process."""
    fraction = 1 - applied.params / applied.dense.params_total
    models = {"dense": dense, "structured": applied.model, "unstructured": unstructured_twin(dense, fraction)}
    ms = compare_latency(models, sample_shape, batch_sizes, device, progress=progress)
    promised = {
        "structured": applied.dense.macs_dense / applied.macs,
        "unstructured": applied.dense.params_total / max(applied.params, 1),
    }
    return LatencyComparison(ms, promised)
