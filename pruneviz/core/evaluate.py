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

import operator
import threading
import weakref
from collections.abc import Callable, Iterable

import torch
from torch import fx, nn

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


class Evaluator:
    """Logits of ``model`` over inputs ``x``, re-evaluated after changes to the named layers.

    ``layers`` are the qualified module names whose weights may change; :meth:`update` with any other
    name falls back to a full forward. ``incremental`` tells whether the fast path is in use.
    ``architecture`` is the module whose trace ``model`` shares (``model`` is a deep copy of it).
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
        self.model = model
        self.batches = x.split(batch_size)
        self.memory_budget = memory_budget
        self.layers = list(layers)
        self._logits: torch.Tensor | None = None
        self._cache: dict[fx.Node, list[torch.Tensor]] = {}
        self.fallback_reason: str | None = None
        try:
            self.graph: fx.Graph | None = traced_graph(architecture or model)
        except TypeError as err:
            self.graph, self.fallback_reason = None, str(err)
        else:
            self._plan()

    @property
    def incremental(self) -> bool:
        return self.graph is not None

    def _plan(self) -> None:
        nodes = list(self.graph.nodes)
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

    def snapshot(self) -> tuple[dict, torch.Tensor | None]:
        """The current cached activations and logits (references: cheap), for :meth:`restore`."""
        return {n: list(ts) for n, ts in self._cache.items()}, self._logits

    def restore(self, snapshot: tuple[dict, torch.Tensor | None]) -> None:
        """Return to a :meth:`snapshot`, e.g. after restoring the weights it was taken with."""
        cache, logits = snapshot
        self._cache = {n: list(ts) for n, ts in cache.items()}
        self._logits = logits

    def invalidate(self) -> None:
        """Forget cached activations (any weight may have changed); the next update runs in full."""
        self._logits = None

    def full(self) -> torch.Tensor:
        """Logits from a full forward over every batch (refreshes the incremental cache)."""
        with torch.inference_mode():
            if not self.incremental:
                self._logits = torch.cat([self.model(b) for b in self.batches])
                return self._logits
            self._cache = {n: [] for n in self._cached}
            outs = [self._run(list(self.graph.nodes), b, {}, store=True) for b in self.batches]
            self._logits = torch.cat(outs)
            cached = sum(t.numel() * t.element_size() for ts in self._cache.values() for t in ts)
            if cached > self.memory_budget:
                self._cache = {}
                self.graph = None
                self.fallback_reason = (
                    f"activation cache {cached / 2**20:.0f} MiB exceeds budget "
                    f"{self.memory_budget / 2**20:.0f} MiB"
                )
        return self._logits

    def update(self, changed: Iterable[str]) -> torch.Tensor:
        """Logits after the weights of ``changed`` layers were modified in place."""
        changed = list(changed)
        if self._logits is None or not self.incremental or any(c not in self._downstream for c in changed):
            return self.full()
        region = set().union(*(self._downstream[c] for c in changed))
        if not region:
            return self._logits
        to_run = sorted(region, key=self._order.__getitem__)
        outs = []
        with torch.inference_mode():
            for i, batch in enumerate(self.batches):
                env = {n: ts[i] for n, ts in self._cache.items()}
                env[self._input] = batch
                outs.append(self._run(to_run, batch, env, store=False, batch_index=i))
        if any(n.op == "output" for n in region):
            self._logits = torch.cat(outs)
        return self._logits

    def _run(
        self,
        nodes: list[fx.Node],
        batch: torch.Tensor,
        env: dict[fx.Node, torch.Tensor],
        store: bool,
        batch_index: int = 0,
    ):
        """Execute ``nodes`` in order; ``env`` holds the upstream values they read."""
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
                kept = value.clone() if node in self._mutated else value
                if store:
                    self._cache[node].append(kept)
                else:
                    self._cache[node][batch_index] = kept
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
