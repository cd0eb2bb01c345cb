"""Fast evaluation: logits of a model over a preloaded dataset, recomputed incrementally.

When one layer's weights change, only the part of the network downstream of that layer can change.
:class:`Evaluator` traces the model with ``torch.fx``, caches (per batch) the activations that the
downstream parts read from upstream, and re-runs only the downstream nodes. It runs the very same
operations on the very same batches as a full forward, so the logits are bit-for-bit equal. Models
that cannot be traced, or whose cache would exceed the memory budget, fall back to a full forward.

Tracing is done once per architecture object and shared (:func:`traced_graph`): sessions trace the
shared, read-only baseline once, under a lock, and every working copy and fork reuses its graph.
``torch.fx`` patches ``nn.Module.__call__`` and ``__getattr__`` for the whole process while it traces,
so a plain trace breaks every other thread's forward pass meanwhile (another session's fine-tune, a
generation): :class:`ThreadTracer` records the tracing thread's calls only and lets every other
thread's calls through untouched.
"""

from __future__ import annotations

import itertools
import operator
import threading
import time
import weakref
from collections.abc import Callable, Iterable

import torch
from torch import fx, nn

from pruneviz.core.errors import first_line

DEFAULT_BATCH = 256
DEFAULT_BUDGET_BYTES = 2 * 2**30

_INPLACE_FUNCTIONS = {operator.iadd, operator.isub, operator.imul, operator.itruediv}
_TRACES: weakref.WeakKeyDictionary[nn.Module, fx.Graph | str] = weakref.WeakKeyDictionary()
_TRACE_LOCK = threading.Lock()


class ThreadTracer(fx.Tracer):
    """``torch.fx``'s tracer, confined to the thread that traces: while it runs, every module call and
    attribute read in the process passes through it (fx patches ``nn.Module`` itself), and those of other
    threads are answered as if no trace were running."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def call_module(self, m, forward, args, kwargs):
        if threading.get_ident() != self.thread:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr, attr_val, parameter_proxy_cache):
        if threading.get_ident() != self.thread:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def symbolic_trace(module: nn.Module) -> fx.Graph:
    """``torch.fx.symbolic_trace(module).graph``, without disturbing other threads' forward passes."""
    return ThreadTracer().trace(module)


def traced_graph(module: nn.Module) -> fx.Graph:
    """The ``torch.fx`` graph of ``module``, traced once per module object (and under a lock, since
    tracing patches every module's ``__call__`` while it runs). Its nodes name submodules and
    parameters by qualified name, so it serves any deep copy of ``module`` as well.

    Raises ``TypeError`` with the reason when the module cannot be traced.
    """
    with _TRACE_LOCK:
        if module not in _TRACES:
            try:
                _TRACES[module] = symbolic_trace(module)
            except Exception as err:  # noqa: BLE001 - fx fails in many ways on dynamic models
                _TRACES[module] = f"not traceable with torch.fx ({type(err).__name__})"
        found = _TRACES[module]
    if isinstance(found, str):
        raise TypeError(found)
    return found


def forward_batches(
    forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = DEFAULT_BATCH
) -> torch.Tensor:
    """``forward`` over ``x`` batch by batch, outputs concatenated: a whole model over a whole data set.

    ``no_grad`` rather than ``inference_mode``: the outputs may become labels that later feed autograd.
    """
    with torch.no_grad():
        return torch.cat([forward(batch) for batch in x.split(batch_size)])


FULL = "<every layer>"  # a pending change that only a whole forward pass takes in
NO_CACHE = "no memory for an activation cache was given (one evaluation needs none)"
SHUFFLE_SEED = 0


def tensor_bytes(obj: object) -> int:
    """Bytes of every distinct tensor in ``obj``, searched through lists, tuples and mappings (a cached
    value may be a tensor, a tuple or ``ModelOutput`` holding tensors, or no tensor at all: an int)."""
    seen: set[int] = set()
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            if item.data_ptr() not in seen:
                seen.add(item.data_ptr())
                total += item.numel() * item.element_size()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return total


class BatchedEvaluator:
    """Outputs of a model over fixed batches, kept per batch, each batch brought up to date on demand.

    After some layers changed (:meth:`mark`), a batch re-runs only what those changes can reach, the
    first time it is asked for (:meth:`batch`); :meth:`outputs` brings every batch up to date, in data
    order, so the outputs are exactly those of a full pass. :attr:`order` is a fixed shuffled order of
    the batches: progressive evaluation asks for them in that order and can stop after any of them.
    Subclasses say how one batch is recomputed (:meth:`_compute`).
    """

    def __init__(self, x: torch.Tensor, layers: Iterable[str], batch_size: int, memory_budget: int) -> None:
        self.batches = x.split(batch_size)
        self.layers = list(layers)
        self.memory_budget = memory_budget
        self.fallback_reason: str | None = None
        self._outs: list[torch.Tensor | None] = [None] * len(self.batches)
        self._pending: list[set[str]] = [{FULL} for _ in self.batches]
        generator = torch.Generator().manual_seed(SHUFFLE_SEED)
        self.order: list[int] = torch.randperm(len(self.batches), generator=generator).tolist()
        starts = [0, *torch.tensor([len(b) for b in self.batches]).cumsum(0).tolist()]
        self.rows = [slice(a, b) for a, b in itertools.pairwise(starts)]  # the samples of each batch
        self.last_batch_s = 0.0  # how long the last batch brought up to date took

    def mark(self, changed: Iterable[str]) -> None:
        """The weights of ``changed`` layers were modified in place: every batch is stale for them."""
        changed = set(changed)
        for pending in self._pending:
            pending |= changed

    def invalidate(self) -> None:
        """Forget what was computed (any weight may have changed); every batch runs in full next time."""
        self.mark({FULL})

    def batch(self, i: int) -> torch.Tensor:
        """Outputs of batch ``i`` as the model is now."""
        if self._pending[i] or self._outs[i] is None:
            pending, self._pending[i] = self._pending[i], set()
            start = time.perf_counter()
            with torch.inference_mode():
                self._outs[i] = self._compute(i, pending)
            self.last_batch_s = time.perf_counter() - start
        return self._outs[i]

    def stale(self) -> int:
        """How many batches are not up to date (what bringing the outputs up to date costs, in batches)."""
        return sum(not self.up_to_date(i) for i in range(len(self.batches)))

    def up_to_date(self, i: int) -> bool:
        """Whether batch ``i``'s outputs describe the model as it is now."""
        return not self._pending[i] and self._outs[i] is not None

    def outputs(self) -> torch.Tensor:
        """Every batch's outputs, in data order (what a full pass gives, bit for bit)."""
        return torch.cat([self.batch(i) for i in range(len(self.batches))])

    def update(self, changed: Iterable[str]) -> torch.Tensor:
        """Outputs after the weights of ``changed`` layers were modified in place."""
        self.mark(changed)
        return self.outputs()

    def full(self) -> torch.Tensor:
        """Outputs from a full forward over every batch."""
        self.invalidate()
        return self.outputs()

    def snapshot(self) -> tuple:
        """What was computed (references: cheap), for :meth:`restore`."""
        return list(self._outs), [set(p) for p in self._pending], self._cached_state()

    def restore(self, snapshot: tuple) -> None:
        """Return to a :meth:`snapshot`, e.g. after restoring the weights it was taken with."""
        outs, pending, cached = snapshot
        self._outs, self._pending = list(outs), [set(p) for p in pending]
        self._restore_cached(cached)

    def _compute(self, i: int, pending: set[str]) -> torch.Tensor:
        raise NotImplementedError

    def _cached_state(self) -> object:
        return None

    def _restore_cached(self, cached: object) -> None:
        pass


class Evaluator(BatchedEvaluator):
    """Logits of ``model`` over inputs ``x``, re-evaluated after changes to the named layers.

    ``layers`` are the qualified module names whose weights may change; a change to any other name
    runs the batch in full. ``incremental`` tells whether the fast path is in use. ``architecture`` is
    the module whose trace ``model`` shares (``model`` is a deep copy of it).
    """

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        layers: Iterable[str],
        batch_size: int = DEFAULT_BATCH,
        memory_budget: int = DEFAULT_BUDGET_BYTES,
        architecture: nn.Module | None = None,
    ) -> None:
        super().__init__(x, layers, batch_size, memory_budget)
        self.model = model
        self._cache: dict[fx.Node, list] = {}
        self.graph: fx.Graph | None = None
        if memory_budget <= 0:
            self.fallback_reason = NO_CACHE
            return
        try:
            self.graph = traced_graph(architecture or model)
        except TypeError as err:
            self.fallback_reason = str(err)
        else:
            self._plan()

    @property
    def incremental(self) -> bool:
        return self.graph is not None

    def _plan(self) -> None:
        nodes = list(self.graph.nodes)
        self._nodes = nodes
        self._order = {n: i for i, n in enumerate(nodes)}
        self._modules = dict(self.model.named_modules())
        self._downstream: dict[str, set[fx.Node]] = {}
        for name in self.layers:
            roots = [
                n
                for n in nodes
                if (n.op == "call_module" and n.target == name)
                or (n.op == "get_attr" and str(n.target).rpartition(".")[0] == name)
            ]
            self._downstream[name] = _descendants(roots)
        # What downstream regions read from upstream: exactly what must be cached.
        self._cached: set[fx.Node] = set()
        for region in self._downstream.values():
            for node in region:
                self._cached.update(
                    a for a in node.all_input_nodes if a not in region and a.op not in ("get_attr",)
                )
        self._input = next(n for n in nodes if n.op == "placeholder")
        self._cached.discard(self._input)  # the input batches are kept anyway
        self._mutated = {a for n in nodes if _is_inplace(n, self._modules) for a in n.all_input_nodes[:1]}
        self._last_use = {}
        for n in nodes:
            for a in n.all_input_nodes:
                self._last_use[a] = n
        self._cache = {n: [None] * len(self.batches) for n in self._cached}

    def _cached_state(self) -> object:
        return {n: list(per) for n, per in self._cache.items()}

    def _restore_cached(self, cached: object) -> None:
        self._cache = {n: list(per) for n, per in cached.items()}

    def _compute(self, i: int, pending: set[str]) -> torch.Tensor:
        batch = self.batches[i]
        if not self.incremental:
            return self.model(batch)
        if FULL in pending or any(c not in self._downstream for c in pending):
            try:
                out = self._run(self._nodes, batch, {}, i)
            except Exception as err:  # noqa: BLE001 - a traced graph that fails to run: plain forwards
                self._fall_back(f"the traced graph fails to run ({type(err).__name__}: {first_line(err)})")
                return self.model(batch)
            filled = max(1, sum(v is not None for v in next(iter(self._cache.values()), [None])))
            needed = tensor_bytes(self._cache) * len(self.batches) / filled  # every batch's cache
            if needed > self.memory_budget:
                budget = self.memory_budget / 2**20
                self._fall_back(f"activation cache {needed / 2**20:.0f} MiB exceeds budget {budget:.0f} MiB")
            return out
        region = set().union(*(self._downstream[c] for c in pending))
        if not region:
            return self._outs[i]
        env = {n: per[i] for n, per in self._cache.items()}
        env[self._input] = batch
        for node in region:  # parameters the region reads from outside it (ViT's class token), read now
            for a in node.all_input_nodes:
                if a.op == "get_attr" and a not in region:
                    env[a] = _fetch_attr(self.model, a.target)
        out = self._run(sorted(region, key=self._order.__getitem__), batch, env, i)
        return out if any(n.op == "output" for n in region) else self._outs[i]

    def _fall_back(self, reason: str) -> None:
        """Plain forward passes from now on (every batch), saying why."""
        self.graph, self._cache, self.fallback_reason = None, {}, reason
        self.invalidate()

    def _run(self, nodes: list[fx.Node], batch: torch.Tensor, env: dict[fx.Node, object], i: int):
        """Execute ``nodes`` in order on batch ``i``; ``env`` holds the upstream values they read."""
        result = None
        running = set(nodes)
        for node in nodes:
            if node.op == "placeholder":
                env[node] = batch
                continue
            if node.op == "output":
                result = fx.node.map_arg(node.args[0], env.__getitem__)
                continue
            if node.op == "get_attr":
                env[node] = _fetch_attr(self.model, node.target)
                continue
            args = fx.node.map_arg(node.args, env.__getitem__)
            kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
            if _is_inplace(node, self._modules) and node.all_input_nodes[0] not in running and args:
                args = (args[0].clone(), *args[1:])  # never let an in-place op corrupt the cache
            if node.op == "call_module":
                value = self._modules[node.target](*args, **kwargs)
            elif node.op == "call_function":
                value = node.target(*args, **kwargs)
            else:
                value = getattr(args[0], node.target)(*args[1:], **kwargs)
            env[node] = value
            if node in self._cached:
                mutable = node in self._mutated and isinstance(value, torch.Tensor)
                self._cache[node][i] = value.clone() if mutable else value
            for a in node.all_input_nodes:
                if self._last_use.get(a) is node and a in running:
                    env.pop(a, None)
        return result


def _descendants(roots: list[fx.Node]) -> set[fx.Node]:
    seen: set[fx.Node] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.users)
    return seen


def _is_inplace(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return bool(getattr(modules[node.target], "inplace", False))
    if node.op == "call_function":
        return node.target in _INPLACE_FUNCTIONS or bool(node.kwargs.get("inplace", False))
    if node.op == "call_method":
        return str(node.target).endswith("_")
    return False


def _fetch_attr(model: nn.Module, target: str):
    obj = model
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj
