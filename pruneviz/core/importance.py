"""Importance criteria: how much each weight (or each filter) matters, registered by name.

Two registries, because the two granularities rank different things:

* :data:`WEIGHT_CRITERIA` score every weight (same shape as the weight) for unstructured and N:M masks;
* :data:`FILTER_CRITERIA` score every output channel (shape ``(out_channels,)``) for filter masks and
  structured removal.

Every criterion is a function ``(modules, calibration) -> {layer name: scores}``; higher means keep.
Criteria that read nothing but each layer's own weight are marked :func:`weight_only`: a session scores
one layer of those when one is asked for, rather than every layer at once.
A criterion that cannot score a layer (``bn_scale`` without a BatchNorm, ``activation`` on a layer the
model never calls) leaves it out.
Data-driven criteria share one :class:`Calibration`, which computes gradients once and caches them.
"""

from __future__ import annotations

import copy
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from pruneviz.core import dsnot as D
from pruneviz.core import masks as M
from pruneviz.core.errors import PrunevizError
from pruneviz.core.evaluate import symbolic_trace
from pruneviz.core.layers import calls_of, type_name
from pruneviz.core.reconstruction import SPARSEGPT, FromInputs
from pruneviz.core.registry import Registry

Scores = dict[str, torch.Tensor]
Criterion = Callable[[dict[str, nn.Module], "Calibration"], Scores]
# The task's mean loss of a module on one batch (module, inputs, targets) -> scalar, differentiable.
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

WEIGHT_CRITERIA: Registry[Criterion] = Registry("weight criterion")
FILTER_CRITERIA: Registry[Criterion] = Registry("filter criterion")


@dataclass(frozen=True)
class InputStatistics:
    """What one layer's inputs look like over calibration data: per input feature (a Linear's input, a
    conv's input channel) the root mean square, Wanda's ‖X_j‖₂ up to a constant, and the mean |x|; for
    a Linear the Gram matrix XᵀX / rows (inputs × inputs), SparseGPT's Hessian up to a constant; and,
    as DSnoT's reference measures them, a sequence's sum of each feature averaged over sequences and the
    feature's variance within a sequence averaged over sequences (a 2-D input is one sequence of rows;
    a conv's image one sequence of positions)."""

    rms: torch.Tensor
    gram: torch.Tensor | None
    mean_abs: torch.Tensor  # per input feature, mean |x|
    sequence_sum: torch.Tensor
    variance: torch.Tensor


def _as_sequences(x: torch.Tensor, linear: bool) -> torch.Tensor:
    """``x`` as (sequences, positions, features), the way DSnoT's reference sees a layer's input."""
    if not linear:  # conv: an image is a sequence of positions, its channels the features
        return x.flatten(2).transpose(1, 2)
    return x.unsqueeze(0) if x.dim() == 2 else x.reshape(-1, *x.shape[-2:])


@dataclass
class _Sums:
    squares: torch.Tensor | float = 0.0
    gram: torch.Tensor | None = None
    rows: int = 0
    absolute: torch.Tensor | float = 0.0
    sequence_sums: torch.Tensor | float = 0.0
    variances: torch.Tensor | float = 0.0  # each sequence's variance times its positions
    sequences: int = 0


class InputCollector:
    """Sums of what the hooked layers' inputs look like while it is active (see :func:`collect_inputs`)."""

    def __init__(self, modules: dict[str, nn.Module], gram: bool) -> None:
        self.modules, self.gram = modules, gram
        self.sums: dict[str, _Sums] = {}
        self.handles: list = []

    def hook(self, name: str):
        def record(mod, args) -> None:
            # Norms: per-call sums in float32 (as the reference implementations keep them), accumulated
            # in double so that many calls add up without drift. The Gram matrix (SparseGPT's Hessian,
            # whose inverse amplifies rounding) is summed in double throughout.
            x = args[0].detach().float()
            linear = isinstance(mod, nn.Linear)
            if linear:
                rows = x.reshape(-1, x.shape[-1])  # rows x features
                gram = rows.double().T @ rows.double() if self.gram else None
            else:  # conv: channels along dim 1, everything else is a position
                rows, gram = x.transpose(0, 1).reshape(x.shape[1], -1).T, None
            seqs = _as_sequences(x, linear)
            total = self.sums.setdefault(name, _Sums())
            total.squares = total.squares + (rows * rows).sum(0).double()
            total.gram = gram if total.rows == 0 else (None if gram is None else total.gram + gram)
            total.rows += rows.shape[0]
            total.absolute = total.absolute + rows.abs().sum(0).double()
            total.sequence_sums = total.sequence_sums + seqs.sum((0, 1)).double()
            spread = seqs.var(1, unbiased=False) * seqs.shape[1]
            total.variances = total.variances + spread.sum(0).double()
            total.sequences += seqs.shape[0]

        return record

    def result(self) -> dict[str, InputStatistics]:
        return {
            n: InputStatistics(
                (s.squares / s.rows).sqrt().float(),
                None if s.gram is None else (s.gram / s.rows).float(),
                (s.absolute / s.rows).float(),
                (s.sequence_sums / s.sequences).float(),
                (s.variances / s.rows).float(),
            )
            for n, s in self.sums.items()
        }


@contextmanager
def collect_inputs(modules: dict[str, nn.Module], gram: bool = True) -> Iterator[InputCollector]:
    """Hooks on ``modules`` gathering their inputs while the block runs (with ``gram``, each Linear's
    Gram matrix too: SparseGPT's Hessian, inputs × inputs in double — Wanda needs none)."""
    collector = InputCollector(modules, gram)
    collector.handles = [m.register_forward_pre_hook(collector.hook(n)) for n, m in modules.items()]
    try:
        yield collector
    finally:
        for handle in collector.handles:
            handle.remove()


def input_statistics(
    model: nn.Module,
    modules: dict[str, nn.Module],
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    run: LossFn,
    progress: Callable[[float], None] | None = None,
    gram: bool = True,
) -> dict[str, InputStatistics]:
    """Run ``run(model, x, y)`` over ``batches`` (no gradients) and gather the inputs of ``modules``."""
    with collect_inputs(modules, gram) as collected, torch.no_grad():
        for i, (xb, yb) in enumerate(batches):
            if progress:
                progress(i / len(batches))
            run(model, xb, yb)
    return collected.result()


@dataclass
class Calibration:
    """The dense model and labelled batches the data-driven criteria look at, and the one owner of that
    model: every pass through it (hooked or not) runs inside :meth:`exclusive`.

    ``x``/``y`` are a (small) calibration subset and ``loss`` the task's loss; gradients of that loss
    are computed per batch of ``batch_size`` and cached, so ``gradient`` and ``taylor`` cost one pass
    together. The model is shared by a session's page and its background jobs: a forward pass from one
    while another has hooks on it (Wanda's input statistics, Captum's attributions, Block Influence)
    would fire those hooks and corrupt what they gather, so passes take turns. ``progress`` is the
    caller's own (:meth:`reporting` gives each job a view with its own, sharing caches and lock).
    """

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    loss: LossFn
    batch_size: int = 64
    seed: int = 0
    progress: Callable[[float, str], None] | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)  # "grads" and per-layer "inputs"
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def reporting(self, progress: Callable[[float, str], None] | None) -> Calibration:
        """This calibration (same model, caches and turns) reporting to ``progress``: one job's
        progress and cancellation never reach another's."""
        return replace(self, progress=progress)

    @contextmanager
    def exclusive(self) -> Iterator[nn.Module]:
        """The model, for one pass (or a copy) while no other pass runs."""
        with self._lock:
            yield self.model

    def copy(self) -> nn.Module:
        """A private deep copy of the model, taken between passes (a copy taken while another pass's
        hooks are attached would carry them)."""
        with self.exclusive() as model:
            return copy.deepcopy(model)

    def gradients(self, modules: dict[str, nn.Module]) -> tuple[Scores, Scores]:
        """(mean of dL/dw, mean of |dL/dw|) over calibration batches, for every weight in ``modules``."""
        with self.exclusive():
            grads = self._cache.get("grads")
            if grads is None or not set(modules) <= set(grads[0]):
                grads = self._cache["grads"] = self._gradients(modules)
            return grads

    def _gradients(self, modules: dict[str, nn.Module]) -> tuple[Scores, Scores]:
        weights = [m.weight for m in modules.values()]
        total = [torch.zeros_like(w) for w in weights]
        total_abs = [torch.zeros_like(w) for w in weights]
        batches = self.batches()
        with torch.enable_grad():
            for i, (xb, yb) in enumerate(batches):
                self._report(i / len(batches), f"gradients: batch {i + 1} of {len(batches)}")
                loss = self.loss(self.model, xb, yb)
                grads = torch.autograd.grad(loss, weights, allow_unused=True)
                for t, ta, g in zip(total, total_abs, grads):
                    if g is not None:
                        t += g
                        ta += g.abs()
        n = len(batches)
        names = list(modules)
        return {k: t / n for k, t in zip(names, total)}, {k: t / n for k, t in zip(names, total_abs)}

    def batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The calibration data as (inputs, targets) batches of ``batch_size``."""
        return list(zip(self.x.split(self.batch_size), self.y.split(self.batch_size)))

    def inputs(self, modules: dict[str, nn.Module], gram: bool = False) -> dict[str, InputStatistics]:
        """What each layer's inputs look like over the calibration data (one pass, cached); with
        ``gram``, each Linear's Gram matrix too (SparseGPT's; large, so only when asked)."""
        with self.exclusive():
            known = self._cache.setdefault("inputs", {})
            missing = {n: m for n, m in modules.items() if n not in known or (gram and known[n].gram is None)}
            if missing:
                progress = self.progress and (lambda f: self._report(f, "input statistics"))
                found = input_statistics(self.model, missing, self.batches(), self.loss, progress, gram=gram)
                known.update(found)
            return {n: known[n] for n in modules}

    def _report(self, fraction: float, message: str) -> None:
        if self.progress is not None:
            self.progress(fraction, message)

    def channel_attributions(self, modules: dict[str, nn.Module]) -> Scores:
        """Per-output-channel |gradient x activation| (Captum ``LayerGradientXActivation``), summed
        over positions and averaged over calibration samples. A Linear's outputs are its last
        dimension (a ViT's tokens × features), a conv's the second."""
        from captum.attr import LayerGradientXActivation

        batches = self.batches()
        # Captum hooks each layer: one the model never calls would be a KeyError
        with self.exclusive() as model, calls_of(modules) as called, torch.no_grad():
            model(batches[0][0])
        names = [n for n in modules if n in called]
        if not names:
            return {}
        sums = {n: None for n in names}
        with self.exclusive(), torch.enable_grad():
            attr = LayerGradientXActivation(self.model, [modules[n] for n in names])
            for i, (xb, yb) in enumerate(batches):
                self._report(i / len(batches), f"Captum attribution: batch {i + 1} of {len(batches)}")
                outs = attr.attribute(xb, target=yb)
                outs = outs if isinstance(outs, list) else [outs]
                for n, a in zip(names, outs):
                    channels = a.dim() - 1 if isinstance(modules[n], nn.Linear) else 1
                    dims = [d for d in range(a.dim()) if d != channels]
                    s = a.detach().abs().sum(dim=dims)
                    sums[n] = s if sums[n] is None else sums[n] + s
        return {n: s / len(self.x) for n, s in sums.items()}


def weight_only(criterion: Criterion) -> Criterion:
    """Mark ``criterion`` as reading each layer's own weight and nothing else (no data, no other
    layer): cheap enough to score one layer on demand."""
    criterion.weight_only = True
    return criterion


def watches_layer(criterion: Criterion) -> Criterion:
    """Mark ``criterion`` as watching each layer run through a hook (Captum's attributions), so it
    cannot score a layer the model never calls (:attr:`LayerInfo.called`)."""
    criterion.watches_layer = True
    return criterion


def _per_layer(fn: Callable[[torch.Tensor], torch.Tensor]) -> Criterion:
    def criterion(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
        return {name: fn(m.weight.detach()) for name, m in modules.items()}

    criterion.__doc__ = fn.__doc__
    return weight_only(criterion)


WEIGHT_CRITERIA.register("magnitude")(_per_layer(lambda w: w.abs()))


@WEIGHT_CRITERIA.register("l2")
@weight_only
def _l2(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    """|w| / ||W||_2: magnitude normalised by the layer's L2 norm, so a global ranking compares
    weights relative to their own layer's scale (identical to magnitude within one layer)."""
    return {
        n: m.weight.detach().abs() / m.weight.detach().norm().clamp_min(1e-12) for n, m in modules.items()
    }


@WEIGHT_CRITERIA.register("random")
@weight_only
def _random(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    """Uniform random scores, seeded per layer name: the baseline any real criterion must beat."""
    out = {}
    for name, m in modules.items():
        gen = torch.Generator().manual_seed(calib.seed + zlib.crc32(name.encode()))
        out[name] = torch.rand(m.weight.shape, generator=gen).to(m.weight.device)
    return out


@WEIGHT_CRITERIA.register("gradient")
def _gradient(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    """Mean |dL/dw| over calibration batches: how strongly the loss reacts to each weight."""
    return calib.gradients(modules)[1]


@WEIGHT_CRITERIA.register("taylor")
def _taylor(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    """|w * dL/dw| (first-order Taylor estimate of the loss change when w is zeroed, Molchanov et al.)."""
    mean_grad = calib.gradients(modules)[0]
    return {n: (m.weight.detach() * mean_grad[n]).abs() for n, m in modules.items()}


@WEIGHT_CRITERIA.register("activation")
@watches_layer
def _activation(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    """|w| scaled by its output channel's Captum gradient x activation attribution, so weights feeding
    channels the predictions rely on rank higher."""
    channel = calib.channel_attributions(modules)
    return {
        n: m.weight.detach().abs() * _broadcast(channel[n], m.weight)
        for n, m in modules.items()
        if n in channel
    }


def _broadcast(per_channel: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return per_channel.reshape(-1, *([1] * (weight.dim() - 1))).to(weight.device)


def wanda_metric(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    """|W_ij| · ‖X_j‖₂: each weight's magnitude times the norm of the input feature it multiplies, over
    the calibration inputs (Sun et al., 2023). Large-magnitude input features protect their weights."""
    stats = calib.inputs(modules, gram=False)
    return {n: m.weight.detach().abs() * _along_inputs(stats[n].rms, m.weight) for n, m in modules.items()}


def _along_inputs(per_input: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``per_input`` (a value per input feature or channel) laid along ``weight``'s input dimension, to
    broadcast over it. A grouped conv (a depthwise one: ConvNeXt, EfficientNet) holds only its group's
    channels in that dimension: each output channel gets the values of the channels its group reads."""
    per_input, kernel = per_input.to(weight.device), [1] * (weight.dim() - 2)
    groups, inputs = _groups(per_input, weight), weight.shape[1]
    if groups == 1:
        return per_input.reshape(1, -1, *kernel)
    group_of_output = torch.arange(weight.shape[0], device=weight.device) // (weight.shape[0] // groups)
    channels = (group_of_output * inputs).unsqueeze(1) + torch.arange(inputs, device=weight.device)
    return per_input[channels].reshape(weight.shape[0], inputs, *kernel)


def _groups(per_input: torch.Tensor, weight: torch.Tensor) -> int:
    """How many groups a layer's input channels fall in: 1 for a Linear or a plain conv."""
    return per_input.numel() // weight.shape[1]


def row_ranks(metric: torch.Tensor) -> torch.Tensor:
    """Each entry's rank within its output row (0 = lowest; ties to the lower index), divided by the
    row length: as scores, a layer's lowest ``k`` go one per row in turn, so pruning is spread over the
    rows as evenly as the count allows (exactly ``s·cols`` per row when that is whole)."""
    flat = metric.detach().flatten(1)
    ranks = flat.argsort(dim=1, stable=True).argsort(dim=1, stable=True)
    return (ranks.to(torch.float32) / flat.shape[1]).view(metric.shape)


def _wanda_scores(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    """Wanda's |W_ij| · ‖X_j‖₂ as each weight's rank in its output row (what rankings compare)."""
    return {n: row_ranks(metric) for n, metric in wanda_metric(modules, calib).items()}


def _wanda_solve(
    weight: torch.Tensor, stats: InputStatistics, sparsity: float, n_m: tuple[int, int] | None
) -> tuple[torch.Tensor, None]:
    """Wanda's mask (Sun et al., 2023): |W_ij| · ‖X_j‖₂ compared within each output row, as the
    reference counts it — the lowest floor(sparsity · columns) of every row (ties to the lower index),
    or N of every M inputs."""
    metric = weight.detach().abs() * _along_inputs(stats.rms, weight)
    return (M.nm_mask(metric, *n_m) if n_m else M.row_mask(metric, sparsity)), None


WANDA = FromInputs("wanda", "Wanda", gram=False, rewrites=False, solve=_wanda_solve, score=_wanda_scores)
WEIGHT_CRITERIA.register("wanda")(WANDA)

RIA_POWER = 0.5  # the exponent of the input norm (the reference's --a)


def ria_metric(weight: torch.Tensor, stats: InputStatistics) -> torch.Tensor:
    """RIA's relative importance and activations (Zhang et al., ICLR 2024): |W_ij| relative to its
    input column's and its output row's total magnitude, summed, times ‖X_j‖₂^a. A weight counts by
    how much of its neuron's connections it carries, on either side, so no row or column loses all of
    its weights; a conv's kernel positions are columns of their own, and a grouped conv's columns are
    its groups' own."""
    magnitude = weight.detach().abs()
    tiny = torch.finfo(magnitude.dtype).tiny  # an all-zero column or row: its weights score 0
    groups = _groups(stats.rms, weight)
    by_group = magnitude.reshape(groups, -1, *magnitude.shape[1:])
    column = by_group.sum(1, keepdim=True).expand_as(by_group).reshape(magnitude.shape).clamp_min(tiny)
    row = magnitude.flatten(1).sum(1).clamp_min(tiny).reshape(-1, *([1] * (weight.dim() - 1)))
    return (magnitude / column + magnitude / row) * _along_inputs(stats.rms, weight).pow(RIA_POWER)


def _ria_scores(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    stats = calib.inputs(modules, gram=False)
    return {n: ria_metric(m.weight, stats[n]) for n, m in modules.items()}


def _ria_solve(
    weight: torch.Tensor, stats: InputStatistics, sparsity: float, n_m: tuple[int, int] | None
) -> tuple[torch.Tensor, None]:
    """RIA's mask as its reference compares (per layer, not per row): the lowest floor(s · n) of the
    layer, or N of every M inputs."""
    metric = ria_metric(weight, stats)
    return (M.nm_mask(metric, *n_m) if n_m else M.unstructured_mask(metric, sparsity)), None


RIA = FromInputs("ria", "RIA", gram=False, rewrites=False, solve=_ria_solve, score=_ria_scores)
WEIGHT_CRITERIA.register("ria")(RIA)


def _dsnot_solve(
    weight: torch.Tensor, stats: InputStatistics, sparsity: float, n_m: tuple[int, int] | None
) -> tuple[torch.Tensor, None]:
    """Wanda's mask refined by DSnoT (:mod:`pruneviz.core.dsnot`), as the reference's
    ``--initial_method wanda`` does."""
    initial = weight.detach().abs() * _along_inputs(stats.rms, weight)
    return D.dsnot(weight, initial, stats.sequence_sum, stats.variance, sparsity, n_m, cycles=D.CYCLES), None


DSNOT = FromInputs("dsnot", "DSnoT", gram=False, rewrites=False, solve=_dsnot_solve, linear_only=True)
WEIGHT_CRITERIA.register("dsnot")(DSNOT)


def _filter_reduce(fn: Callable[[torch.Tensor], torch.Tensor]) -> Criterion:
    def criterion(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
        return {name: fn(m.weight.detach().flatten(1)) for name, m in modules.items()}

    return weight_only(criterion)


FILTER_CRITERIA.register("l1")(_filter_reduce(lambda w: w.abs().sum(1)))
FILTER_CRITERIA.register("l2")(_filter_reduce(lambda w: w.norm(dim=1)))


@FILTER_CRITERIA.register("random")
@weight_only
def _filter_random(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    """Seeded random per-filter scores (baseline)."""
    return {n: s.flatten(1)[:, 0] for n, s in _random(modules, calib).items()}


@FILTER_CRITERIA.register("taylor")
def _filter_taylor(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    """(sum over the filter of w * dL/dw)^2: the Taylor estimate for removing the whole filter
    (Molchanov et al., 2019)."""
    mean_grad = calib.gradients(modules)[0]
    return {n: (m.weight.detach() * mean_grad[n]).flatten(1).sum(1).pow(2) for n, m in modules.items()}


@FILTER_CRITERIA.register("activation")
@watches_layer
def _filter_activation(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    """Captum gradient x activation attribution of each output channel."""
    return calib.channel_attributions(modules)


@FILTER_CRITERIA.register("bn_scale")
def _bn_scale(modules: dict[str, nn.Module], calib: Calibration) -> Scores:
    """|gamma| of the BatchNorm right after each conv (network slimming, Liu et al. 2017); layers
    without one get no score."""
    with calib.exclusive() as model:
        following = batchnorm_after(model)
    return {n: following[n].weight.detach().abs() for n in modules if n in following}


def batchnorm_after(model: nn.Module) -> dict[str, nn.Module]:
    """Map each conv's name to the BatchNorm module that directly consumes its output (via torch.fx)."""
    try:
        graph = symbolic_trace(model)
    except Exception as err:  # noqa: BLE001 - tracing fails in many ways on untraceable models
        raise PrunevizError(f"cannot trace the model to find BatchNorm layers: {err}") from None
    modules = dict(model.named_modules())
    found = {}
    for node in graph.nodes:
        if node.op != "call_module" or len(node.users) != 1:
            continue
        user = next(iter(node.users))
        if user.op == "call_module" and type_name(modules[user.target]).startswith("BatchNorm"):
            found[node.target] = modules[user.target]
    return found


WEIGHT_CRITERIA.register("sparsegpt")(SPARSEGPT)
