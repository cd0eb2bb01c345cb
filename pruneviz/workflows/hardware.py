"""What each pruning choice buys on this device, measured: every prunable layer timed on every kernel
the device offers (:mod:`pruneviz.io.kernels`) at its real input shape, at batch 1 and a larger batch,
beside what it promises on paper; and, for the sparse kernels, the sparsity above which they beat the
dense kernel here (the break-even), found from timings at a grid of sparsities — never from memory.

Timings are cached per device, torch version, kernel, layer and input shape (:class:`TimingCache`),
so a second report on the same machine is read back instead of measured.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from pruneviz.core.budget import within_budget
from pruneviz.core.masks import unstructured_mask
from pruneviz.core.timing import median_ms
from pruneviz.io.kernels import KERNELS, Kernel
from pruneviz.io.models import clone_module
from pruneviz.workflows.session import PruneSession

DEFAULT_BATCHES = (1, 16)
# Sparsities at which a sparse kernel is timed against dense to find where it starts to pay.
BREAK_EVEN_GRID = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
CACHE_ENV = "PRUNEVIZ_CACHE_DIR"
# Each measurement: untimed calls first (caches, lazy kernel set-up), then timed ones adding up to at
# least this long, so a layer that runs in microseconds still gets a median worth comparing.
WARMUP, MIN_SECONDS = 5, 0.02
ROUNDS = 3  # side-by-side ratios behind each break-even grid point (their median)


def device_label(device: torch.device) -> str:
    """The hardware a timing belongs to: the GPU's name, or the CPU's model and torch's thread count."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line
        ]
        model = names[0] if names else model
    return f"{model}, {torch.get_num_threads()} threads (CPU)"


class TimingCache:
    """Median milliseconds by measurement key, kept in a JSON file (``$PRUNEVIZ_CACHE_DIR/kernels.json``,
    default ``~/.cache/pruneviz``); None keeps them in memory only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._times: dict[str, float] = {}
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text())
            except ValueError:  # a damaged cache is measured again, not trusted
                loaded = {}
            self._times = {k: float(v) for k, v in loaded.items() if isinstance(v, int | float)}

    @classmethod
    def default(cls) -> TimingCache:
        root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "pruneviz"
        return cls(Path(root) / "kernels.json")

    def get(self, key: str, measure: Callable[[], float]) -> float:
        if key not in self._times:
            self._times[key] = measure()
        return self._times[key]

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps(self._times, indent=0, sort_keys=True))
        scratch.replace(self.path)  # atomic: a concurrent reader sees the old file or the new one


@dataclass(frozen=True)
class KernelRow:
    """One kernel on one layer: median ms per batch size and its reference's (``versus``: dense, or
    dense fp16 for 2:4), × fewer MACs and weight bytes it promises, why it is unavailable (then no
    times), and for sparse kernels the break-even sparsity per batch (None: not below 99%)."""

    kernel: str
    label: str
    versus: str
    ms: dict[int, float] = field(default_factory=dict)
    versus_ms: dict[int, float] = field(default_factory=dict)
    promised_macs: float | None = None
    promised_bytes: float | None = None
    unavailable: str | None = None
    break_even: dict[int, float | None] = field(default_factory=dict)

    def speedup(self, batch: int) -> float | None:
        """× faster than its reference at ``batch`` (None when it did not run)."""
        if batch not in self.ms:
            return None
        return self.versus_ms[batch] / self.ms[batch]


@dataclass(frozen=True)
class LayerHardware:
    """A prunable layer as measured: its weight shape, input shape per sample, fraction of zero weights,
    granularity, MACs per sample and one row per kernel."""

    name: str
    shape: tuple[int, ...]
    input_shape: tuple[int, ...]
    sparsity: float
    granularity: str
    macs: int
    rows: list[KernelRow]

    def has(self, kernel: str) -> bool:
        return any(r.kernel == kernel for r in self.rows)

    def row(self, kernel: str) -> KernelRow:
        return next(r for r in self.rows if r.kernel == kernel)

    def ms(self, kernel: str, batch: int) -> float:
        """``kernel``'s time at ``batch``, or, where it cannot run, its reference's (then dense's)."""
        row = self.row(kernel)
        if row.unavailable is None:
            return row.ms[batch]
        return self.ms(row.versus, batch) if row.versus != kernel else self.row("dense").ms[batch]


@dataclass(frozen=True)
class HardwareReport:
    """Every prunable layer on every kernel of one device, at the given batch sizes."""

    device: str
    batches: tuple[int, ...]
    layers: list[LayerHardware]

    def totals(self) -> dict[str, dict]:
        """Per kernel, the prunable layers together: ms per batch (a layer the kernel cannot run stays on
        the reference kernel), × faster than the reference, × fewer MACs promised, and how many layers
        ran on it. Kernels no layer can run are left out."""
        out = {}
        for kernel in KERNELS.registered():
            rows = [(layer, layer.row(kernel)) for layer in self.layers if layer.has(kernel)]
            ran = [layer for layer, r in rows if r.unavailable is None]
            if not ran:
                continue
            ms = {b: sum(layer.ms(kernel, b) for layer, _ in rows) for b in self.batches}
            ref = {b: sum(layer.ms(r.versus, b) for layer, r in rows) for b in self.batches}
            macs = sum(layer.macs for layer, _ in rows)
            kept = sum(layer.macs / (r.promised_macs or 1.0) for layer, r in rows)
            out[kernel] = {
                "ms": ms,
                "speedup": {b: ref[b] / ms[b] for b in self.batches},
                "promised_macs": macs / kept if kept else None,
                "layers": len(ran),
            }
        return out

    def break_even_lines(self) -> list[str]:
        """Sentences a person reads: where each sparse kernel starts to pay for each layer, here."""
        return [
            f"{r.label} pays off {pays_off(at)} for {layer.name} at batch {b} on this {self.kind}"
            for layer in self.layers
            for r in layer.rows
            for b, at in r.break_even.items()
        ]

    @property
    def kind(self) -> str:
        return "GPU" if self.device.endswith("(CUDA)") else "CPU"

    def where_it_pays(self) -> list[tuple[str, str]]:
        """(choice, where it pays) for each way of pruning, in words, from this report's measurements:
        what a person deciding how to prune and how to ship needs, beside the serving stacks' facts."""
        totals, big = self.totals(), self.batches[-1]

        def here(kernel: str) -> str:
            found = totals.get(kernel)
            if found is None:
                reasons = {r.unavailable for layer in self.layers for r in layer.rows if r.kernel == kernel}
                why = next(iter(sorted(r for r in reasons if r)), "not timed")
                return f"not timed here: {why}"
            return f"×{found['speedup'][big]:.2f} here at batch {big} ({found['layers']} layers)"

        evens = [at for layer in self.layers for r in layer.rows if r.kernel == "csr"
                 for b, at in r.break_even.items() if b == big]  # fmt: skip
        measured = sorted(at for at in evens if at is not None)
        if measured:
            csr = (
                f"only above the break-even measured here ({measured[0]:.0%}–{measured[-1]:.0%} at batch "
                f"{big}; {len(evens) - len(measured)} layers never); below it masks save nothing at run time"
            )
        elif evens:
            csr = f"nowhere measured here (no layer's CSR beat dense below {BREAK_EVEN_GRID[-1]:.0%})"
        else:
            csr = f"{here('csr')}; run the break-even search to see from which sparsity it would"
        return [
            (
                "structured (filters, heads, channels, blocks removed)",
                f"everywhere, in every format: smaller dense layers; {here('shrunk')}",
            ),
            (
                "2:4 semi-structured",
                "NVIDIA GPUs with sparse tensor cores (Ampere or later) through torch/torchao's "
                f"semi-structured kernels; vLLM no longer ships 2:4 kernels; {here('2:4')}",
            ),
            ("unstructured (CSR)", csr),
            (
                "int8 weights (torchao)",
                "a quarter of the weight bytes wherever int8 kernels run (transformers, vLLM); "
                + here("int8"),
            ),
        ]

    def as_dict(self) -> dict:
        return {
            "device": self.device,
            "batches": list(self.batches),
            "layers": [asdict(x) for x in self.layers],
        } | {"totals": self.totals()}


def measure_hardware(
    session: PruneSession,
    batches: tuple[int, ...] = DEFAULT_BATCHES,
    device: torch.device | str | None = None,
    kernels: tuple[str, ...] | None = None,
    break_even: bool = True,
    cache: TimingCache | None = None,
    repeats: int = 10,
    progress: Callable[[float, str], None] | None = None,
) -> HardwareReport:
    """Time each of the session's prunable layers, with its current mask, on each kernel (default:
    all) at each batch size on ``device`` (default: the session's), and find the sparse kernels'
    break-even sparsities. ``cache`` (default: in memory) holds timings already measured."""
    device = torch.device(device or session.device)
    cache = cache or TimingCache(None)
    wanted = set(kernels or KERNELS.registered())
    wanted |= {"dense"} | {KERNELS.get(k).versus for k in wanted}  # what each is compared with
    chosen = [KERNELS.get(k) for k in KERNELS.registered() if k in wanted]
    inputs = input_shapes(session)
    plans, sparsity = session.current_plans(), session.layer_sparsity()
    macs = {x.name: x.macs for x in session.layers}
    label = device_label(device)
    with within_budget(f"timing the layers of {session.model.spec} on {label}"):
        layers = []
        names = list(session.modules)
        for i, name in enumerate(names):
            if progress:
                progress(i / len(names), f"timing {name}")
            layer = clone_module(session.modules[name], device).eval()
            timer = _Timer(layer, inputs[name], device, label, cache, repeats)
            rows = [_kernel_row(timer, k, sparsity[name], batches, break_even) for k in chosen]
            layers.append(
                LayerHardware(
                    name,
                    tuple(layer.weight.shape),
                    inputs[name],
                    sparsity[name],
                    plans[name].granularity.name,
                    macs.get(name, 0),
                    _with_references(rows),
                )
            )
        cache.save()
        if progress:
            progress(1.0, "done")
        return HardwareReport(label, tuple(batches), layers)


def input_shapes(session: PruneSession) -> dict[str, tuple[int, ...]]:
    """Each prunable layer's input shape for one sample (batch dimension dropped), from one forward of
    the session's example through a private dense copy."""
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple) -> None:
            shapes.setdefault(name, tuple(args[0].shape[1:]))

        return hook

    with session.calibration().exclusive() as dense:
        modules = dict(dense.named_modules())
        hooks = [modules[name].register_forward_pre_hook(record(name)) for name in session.modules]
        try:
            with torch.inference_mode():
                session.task.outputs(dense, session.example.to(session.device))
        finally:
            for hook in hooks:
                hook.remove()
    return shapes


class _Timer:
    """Times one layer's kernels at its input shape, through the cache."""

    def __init__(
        self,
        layer: nn.Module,
        input_shape: tuple[int, ...],
        device: torch.device,
        label: str,
        cache: TimingCache,
        repeats: int,
    ) -> None:
        self.layer, self.input_shape, self.device = layer, input_shape, device
        self.cache, self.repeats = cache, repeats
        self.prefix = f"{label}|torch {torch.__version__}|{layer!r}|{layer.weight.dtype}|{list(input_shape)}"

    def ms(self, kernel: Kernel, batch: int, sparsity: float) -> float:
        """Median ms of ``kernel`` at ``batch`` on the layer's own weight (``sparsity`` of it zero)."""
        key = f"{self.prefix}|{kernel.name}|{batch}|own@{sparsity:.4f}"
        return self.cache.get(key, lambda: self._median(kernel.build(self.layer, sparsity), batch))

    def _median(self, run: Callable[[torch.Tensor], torch.Tensor], batch: int) -> float:
        x = torch.randn((batch, *self.input_shape), device=self.device, dtype=self.layer.weight.dtype)
        return median_ms(lambda: run(x), self.device, self.repeats, WARMUP, MIN_SECONDS)

    def ratio(self, kernel: Kernel, batch: int, sparsity: float) -> float:
        """``kernel``'s time over dense's at ``batch`` on a weight ``sparsity`` zero (:func:`grid_weight`),
        measured side by side — dense, kernel, dense, kernel, … — each kernel time against the dense
        times around it, the median of :data:`ROUNDS` such ratios: drift on a busy machine cancels."""
        key = f"{self.prefix}|{kernel.name}|{batch}|ratio@{sparsity:.4f}"

        def measure() -> float:
            layer = clone_module(self.layer, self.device)
            layer.weight.data = grid_weight(self.layer.weight, sparsity)
            dense, timed = KERNELS.get("dense").build(layer, sparsity), kernel.build(layer, sparsity)
            around = [self._median(dense, batch)]
            ratios = []
            for _ in range(ROUNDS):
                ms = self._median(timed, batch)
                around.append(self._median(dense, batch))
                ratios.append(ms / ((around[-2] + around[-1]) / 2))
            return statistics.median(ratios)

        return self.cache.get(key, measure)

    def break_even(self, kernel: Kernel, batch: int) -> float | None:
        """The sparsity from which ``kernel`` stays no slower than dense: the first grid point after
        which every point is, interpolated from the point before it (None: slower at the grid's
        highest). Requiring every later point keeps one lucky timing from making the answer. The grid is
        walked from the top and stops at the first point where the kernel is slower: below it nothing
        can change the answer, and sparse kernels are slowest there."""
        measured: list[tuple[float, float]] = []
        for s in reversed(BREAK_EVEN_GRID):
            ratio = self.ratio(kernel, batch, s)
            measured.insert(0, (s, ratio))
            if ratio > 1.0:
                break
        return crossing([s for s, _ in measured], [r for _, r in measured])


def grid_weight(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A weight of ``weight``'s shape, dtype and device with exactly ``floor(sparsity · n)`` zeros at
    seeded random places (the layer's own zeros play no part: a kernel's time depends on the count)."""
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(weight.shape, generator=generator)
    keep = unstructured_mask(torch.rand(weight.shape, generator=generator), sparsity)
    return (values * keep).to(weight.device, weight.dtype)


def pays_off(at: float | None) -> str:
    """A break-even sparsity in words: "above 93%", "at any sparsity", or "only above 99%, if at all"."""
    if at is None:
        return f"only above {BREAK_EVEN_GRID[-1]:.0%}, if at all"
    return "at any sparsity" if at == BREAK_EVEN_GRID[0] else f"above {at:.0%}"


def crossing(sparsities: list[float], ratios: list[float]) -> float | None:
    """Where ``ratios`` (kernel time / dense time at each sparsity) fall to 1 and stay there, linearly
    interpolated between the last point above 1 and the next (None: they never stay at or below 1)."""
    last_above = max((i for i, r in enumerate(ratios) if r > 1.0), default=None)
    if last_above is None:
        return sparsities[0]
    if last_above == len(ratios) - 1:
        return None
    (s0, r0), (s1, r1) = (
        (sparsities[last_above], ratios[last_above]),
        (sparsities[last_above + 1], ratios[last_above + 1]),
    )
    return s0 + (s1 - s0) * (r0 - 1.0) / (r0 - r1)


def _kernel_row(
    timer: _Timer, kernel: Kernel, sparsity: float, batches: tuple[int, ...], break_even: bool
) -> KernelRow:
    reason = kernel.unavailable(timer.layer, timer.device)
    if reason is None and kernel.removes and sparsity == 0:
        reason = "the layer has no zeros to remove"
    if reason:
        return KernelRow(kernel.name, kernel.label, kernel.versus, unavailable=reason)
    macs, stored = kernel.promise(timer.layer, sparsity)
    ms = {b: timer.ms(kernel, b, sparsity) for b in batches}
    points = {b: timer.break_even(kernel, b) for b in batches} if break_even and kernel.sparse else {}
    return KernelRow(kernel.name, kernel.label, kernel.versus, ms, {}, macs, stored, None, points)


def _with_references(rows: list[KernelRow]) -> list[KernelRow]:
    """Each row with its reference kernel's times (dense fp16 for 2:4; dense for the rest)."""
    by_name = {r.kernel: r for r in rows}
    out = []
    for r in rows:
        reference = by_name.get(r.versus)
        out.append(r if reference is None or r.unavailable else replace(r, versus_ms=dict(reference.ms)))
    return out
