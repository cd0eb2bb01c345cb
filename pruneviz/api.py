"""The Python API: what the dashboard and the ``pruneviz`` command line do, for notebooks and scripts.

>>> import pruneviz
>>> s = pruneviz.open("demo:cnn")                 # a model and its validation data (the CLI's specs)
>>> s.prune(0.5).report()["accuracy"]             # every layer at 50 % by magnitude, then measured
0.97...
>>> s.export("pruned.pt")                         # written, reloaded and checked against the session
PosixPath('pruned.pt')

:func:`open` takes the same ``MODEL`` and ``--data`` specs as the command line (``demo:cnn``,
``torchvision:resnet18``, ``hf:DIR``, ``file:model.pt``, …) and returns a :class:`Session`. A session
holds one model: dense, masked (:meth:`Session.prune`) or with parts previewed for removal
(:meth:`Session.remove`), which :meth:`Session.export` then builds smaller for real.

Stability: :func:`open` and the methods and properties of :class:`Session` documented here keep their
names, parameters and return types within a minor version (0.1.x) and change only with a note in the
changelog of the next minor one; new keyword arguments and report keys may be added at any time.
:attr:`Session.engine` (the engine's own session) is not covered: it changes as the engine does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pruneviz.core.errors import PrunevizError
from pruneviz.core.evaluate import DEFAULT_BUDGET_BYTES
from pruneviz.core.history import History
from pruneviz.io.data import DataOptions
from pruneviz.io.gate import Gate
from pruneviz.io.models import ModelOptions
from pruneviz.views import charts
from pruneviz.views.heatmap import weight_grid
from pruneviz.workflows.allocate import ALLOCATIONS, Spreading
from pruneviz.workflows.apply import as_applied, export_faithfully
from pruneviz.workflows.recipe import (
    VERSION,
    Recipe,
    apply_recipe,
    check_model,
    load_recipe,
    parse_recipe,
    recipe_document,
    save_recipe,
    session_document,
    uniform_plans,
)
from pruneviz.workflows.sensitivity import DEFAULT_LEVELS, Sensitivity, SweepSpec, sweep
from pruneviz.workflows.session import PruneSession, open_session, resolve_device

if TYPE_CHECKING:
    import pandas as pd
    from plotly.graph_objects import Figure

Progress = Callable[[float, str], None]
FIGURES = ("layers", "importance", "sensitivity", "pareto")


def open(  # pruneviz.open, as tarfile.open: the name says what it does
    model: str,
    data: str | None = None,
    *,
    device: str | None = None,
    weights: str | None = None,
    arch: str | None = None,
    limit: int | None = None,
    context: int | None = None,
    calibration: int | None = None,
    dtype: str | None = None,
    trust_pickle: bool = False,
    allow_download: bool = False,
    memory_budget_mb: int | None = None,
) -> Session:
    """Load ``model`` and its validation ``data`` and start a session on them.

    The arguments are the command line's (``pruneviz evaluate --help``): ``model`` and ``data`` are
    specs (``data=None``: the model's own default, e.g. the digits' validation split for the demo
    models); ``weights``/``arch`` say how to read a checkpoint; ``limit`` keeps a fixed, seeded subset of
    samples; ``context``/``calibration`` size a language model's windows. Files are read with
    ``torch.load(weights_only=True)`` unless ``trust_pickle`` (it runs the file's code), and Hugging Face
    models come from the local cache unless ``allow_download``.

    >>> s = pruneviz.open("demo:gpt", limit=64)
    >>> s.report()["perplexity"]
    3.1...

    Raises :class:`pruneviz.PrunevizError` (one readable line) for a spec or file it cannot use.
    """
    gate = Gate(python_in_files=trust_pickle)  # typed specs are the caller's; files run code if trusted
    on = resolve_device(device)
    options = ModelOptions(weights, arch, trust_pickle, allow_download, gate, dtype or _dtype_for(on))
    budget = DEFAULT_BUDGET_BYTES if memory_budget_mb is None else memory_budget_mb * 2**20
    engine = open_session(
        model, data, options, DataOptions(limit, context, calibration, gate), device, memory_budget=budget
    )
    return Session(engine)


def _dtype_for(device) -> str | None:
    return "auto" if device.type == "cuda" else None  # a GPU runs the checkpoint's dtype, a CPU float32


class Session:
    """One model and its validation data, as a dashboard session holds them: pruned, measured, swept,
    reduced and exported step by step. Made by :func:`pruneviz.open`.

    Methods that change the model (:meth:`prune`, :meth:`remove`, :meth:`reset`) return the session,
    so calls chain: ``s.prune(0.5, criterion="wanda").report()``.
    """

    def __init__(self, engine: PruneSession) -> None:
        self._engine = engine
        metric = engine.task.metric
        self._history = History(higher_is_better=metric.higher_is_better, settle_s=0.0)
        self._dense = engine.baseline()
        self._sweep: Sensitivity | None = None
        self._how = ("magnitude", "unstructured")  # the last prune's criterion and granularity

    def __repr__(self) -> str:
        e = self._engine
        where = f"{e.model.spec} on {e.data.spec}"
        return f"<pruneviz.Session {where}: {len(e.layers)} prunable layers, {self.holds}>"

    # --- what it holds -----------------------------------------------------------------------------

    @property
    def engine(self) -> PruneSession:
        """The engine's session underneath, for what this API does not cover (not under the stability
        promise)."""
        return self._engine

    @property
    def layers(self) -> list[str]:
        """The prunable layers' names, in the model's order (what per-layer plans and recipes name)."""
        return self._engine.layer_names

    @property
    def metric(self) -> str:
        """The name of the task's headline metric: ``accuracy`` for a classifier, ``perplexity`` for a
        language model (the key :meth:`report` gives it under)."""
        return self._engine.task.metric.key

    @property
    def holds(self) -> str:
        """What the session holds now: "the dense model", "masks (…% of prunable weights zero)" or
        "a structured removal (previewed)"."""
        e = self._engine
        if e.removal is not None and not e.removal.empty:
            return "a structured removal (previewed; export builds the smaller model)"
        if e.masks:
            return f"masks ({e.prunable_sparsity():.1%} of prunable weights zero)"
        return "the dense model"

    @property
    def model(self):
        """The model as it stands, a ``torch.nn.Module``: the working copy with its masks, or, after
        :meth:`remove`, the smaller model built for real (do not train it in place: the session
        measures its own copy)."""
        e = self._engine
        return e.shrunk() if e.removal is not None and not e.removal.empty else e.working

    # --- changing it -------------------------------------------------------------------------------

    def prune(
        self,
        how: float | Mapping[str, Any] | str | Path | Recipe,
        *,
        criterion: str = "magnitude",
        granularity: str = "unstructured",
        allocation: str = "uniform",
        progress: Progress | None = None,
    ) -> Session:
        """Mask the model as ``how`` says, replacing any masks (or removal) it had.

        ``how`` is a sparsity for every prunable layer (``0.5``), per-layer sparsities
        (``{"conv2": 0.3, "fc1": 0.9}``; other layers stay dense), a recipe (a path to a recipe file,
        or a recipe document as a mapping with ``pruneviz: 1`` at the top) or a parsed recipe.
        ``criterion`` (``magnitude``, ``gradient``, ``taylor``, ``wanda``, ``sparsegpt``, …) and
        ``granularity`` (``unstructured``, ``filter``, ``2:4``, ``4:8``) apply to a sparsity, which
        ``allocation`` spreads over the layers as the Prune page's presets do: ``uniform``, ``global``
        (one threshold across all layers), ``ramp`` (deeper layers more), ``owl`` (a language model's
        blocks by their outlier ratios) or ``sensitivity`` (from the last :meth:`sensitivity` sweep).
        Methods that read a layer's inputs (wanda, sparsegpt) run block by block, as their papers do;
        ``progress(fraction, message)`` hears about it.

        >>> s.prune({"fc1": 0.9, "conv2": 0.3}).report()["params_nonzero"]
        26...
        """
        recipe = self._recipe_for(how, criterion, granularity, allocation)
        check_model(recipe, self._engine.model, "the recipe")
        apply_recipe(self._engine, recipe, progress)
        if recipe.default is not None or recipe.global_plan is not None or recipe.layers:
            plan = recipe.global_plan or recipe.default or next(iter(recipe.layers.values()))
            self._how = (plan.criterion, plan.granularity.name)
        return self

    def remove(self, structure: float | Mapping[str, Any]) -> Session:
        """Choose parts to remove for real: a CNN's filters (``0.3``: one L1 ranking across layers, or
        ``{"filters": {"conv2": 0.5}, "criterion": "l1"}``; Torch-Pruning keeps every coupled layer
        consistent), a vision transformer's MLP channels (``{"channels": 0.3}``), or a language model's
        heads, MLP channels and blocks (``{"heads": 0.25, "channels": 0.3, "drop_blocks": [5]}``). A bare
        fraction removes what the model's kind loses first: filters, or MLP channels of a transformer.

        The session then previews the removal (masks zeroing exactly what goes, so :meth:`report` gives
        the smaller model's metric); :attr:`model` and :meth:`export` build the smaller model.
        """
        if isinstance(structure, Real) and not isinstance(structure, bool):  # what this kind of model loses
            structure = {self._engine.task.structure(self._engine.model).fraction_key: float(structure)}
        if not isinstance(structure, Mapping):
            raise PrunevizError(f"remove() takes a fraction or a structure mapping, got {structure!r}")
        structure = dict(structure)
        doc: dict[str, Any] = {"pruneviz": VERSION, "structure": structure}
        for key in ("drop_blocks", "round_to", "pinned"):
            if key in structure:
                doc[key] = structure.pop(key)
        if not structure:
            doc.pop("structure")
        apply_recipe(self._engine, parse_recipe(doc, "remove()"))
        return self

    def reset(self) -> Session:
        """Back to the dense model (the weights as loaded)."""
        self._engine.back_to_loaded()
        return self

    # --- measuring it ------------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """The model as it stands, measured on every validation sample: the task's metric under its name
        (``accuracy`` or ``perplexity``) and its other figures (``loss``, ``top5``, …), ``params_total``,
        ``params_nonzero``, ``macs`` (effective multiply-accumulates per sample: a masked weight costs
        none) and ``macs_dense``, ``size_bytes`` (sparse storage) and ``size_bytes_dense``, ``sparsity``
        (of the prunable weights) and, per layer, ``layers``. After :meth:`remove`, ``params_nonzero``
        and ``macs`` are the smaller model's.

        Each report is also a point on :meth:`figure` ``("pareto")``.
        """
        e = self._engine
        now = e.report()
        params, macs = now.params_nonzero, now.macs_effective
        if e.removal is not None and not e.removal.empty:
            params, macs = e.predicted_counts()
        self._history.add(now.layers, *self._how, now.score, params, e.basis)
        return {
            self.metric: now.score,
            **{k: v for k, v in now.figures.items() if k != self.metric},
            "params_total": now.params_total,
            "params_nonzero": params,
            "macs": macs,
            "macs_dense": now.macs_dense,
            "size_bytes": now.size_bytes_sparse,
            "size_bytes_dense": now.size_bytes_dense,
            "sparsity": e.prunable_sparsity(),
            "layers": now.layers,
        }

    def sensitivity(
        self,
        levels: tuple[float, ...] = DEFAULT_LEVELS,
        *,
        criterion: str = "magnitude",
        granularity: str = "unstructured",
        progress: Progress | None = None,
    ) -> pd.DataFrame:
        """Prune each layer alone to each of ``levels`` and measure: a ``pandas.DataFrame`` with one row
        per (layer, sparsity), the metric, the loss and the metric's change from the dense model. Runs
        on a copy: the session's own masks stay as they are.

        >>> df = s.sensitivity((0.5, 0.9))
        >>> df.pivot(index="layer", columns="sparsity", values="accuracy")
        """
        import pandas as pd

        spec = SweepSpec(tuple(float(v) for v in levels), criterion, granularity)
        scratch = self._engine.fork()
        self._sweep = sweep(scratch, spec, progress)
        key = self.metric
        base = self._sweep.baseline_score
        rows = [
            {"layer": r.layer, "sparsity": r.sparsity, key: r.score, "loss": r.loss, "change": r.score - base}
            for r in self._sweep.rows
        ]
        return pd.DataFrame(rows, columns=["layer", "sparsity", key, "loss", "change"])

    def figure(self, kind: str, **options: Any) -> Figure:
        """A Plotly figure (renders in Jupyter; ``.write_html``/``.write_image`` to keep it):

        - ``"layers"``: every layer's kept vs pruned share;
        - ``"importance"``: a layer's importance heatmap (``layer=``, default the first; ``criterion=``,
          default ``magnitude``);
        - ``"sensitivity"``: the last :meth:`sensitivity` sweep, one line per layer (``loss=True``: the
          loss change);
        - ``"pareto"``: the metric against remaining parameters for every :meth:`report` so far.
        """
        e = self._engine
        metric = e.task.metric
        if kind == "layers":
            return charts.layer_overview(e.layers, e.layer_sparsity(), options.get("layer"))
        if kind == "importance":
            layer = options.get("layer", self.layers[0])
            criterion = options.get("criterion", "magnitude")
            e.check_layer(layer)
            scores = e.layer_scores(layer, criterion)
            if scores is None:
                raise PrunevizError(f"criterion {criterion!r} cannot score layer {layer!r}")
            return charts.heatmap(weight_grid(scores), f"{layer}: {criterion}")
        if kind == "sensitivity":
            if self._sweep is None:
                raise PrunevizError("no sweep yet: run Session.sensitivity() first")
            found = self._sweep
            return charts.sensitivity_lines(
                found.curves("loss") if options.get("loss") else found.curves(),
                found.baseline_loss if options.get("loss") else found.baseline_score,
                metric,
                loss=bool(options.get("loss")),
            )
        if kind == "pareto":
            return charts.pareto_scatter(self._history, self._dense.params_total, metric, basis=e.basis)
        raise PrunevizError(f"unknown figure {kind!r} (choose one of: {', '.join(FIGURES)})")

    # --- taking it away ----------------------------------------------------------------------------

    def export(self, path: str | Path, format: str | None = None) -> Path:  # the CLI's word
        """Write the model as it stands to ``path`` in ``format`` (default: the task's first, a
        checkpoint for a classifier, ``hf`` for a language model; ``pruneviz apply --help`` lists them),
        then reload the file as a user would and check it gives the session's metric. After
        :meth:`remove` the file holds the smaller model. Returns the path written.

        Raises :class:`pruneviz.PrunevizError` when the reloaded file does not give the session's metric.
        """
        e = self._engine
        fmt = format or e.task.export_formats[0]
        applied = as_applied(e, self._dense)
        export_faithfully(e, applied, path, fmt)
        return Path(path)

    def recipe(self, path: str | Path | None = None) -> dict[str, Any]:
        """The session as a recipe document (what rebuilds it: ``pruneviz apply --recipe``, the
        dashboard's Prune page, or :meth:`prune`), written to ``path`` (YAML, or JSON for ``.json``)
        when given."""
        doc = session_document(self._engine)
        if path is not None:
            save_recipe(path, doc)
        return doc

    # --- helpers -----------------------------------------------------------------------------------

    def _recipe_for(self, how: Any, criterion: str, granularity: str, allocation: str) -> Recipe:
        """``how`` as a parsed, validated recipe (the engine's own checks and messages)."""
        if isinstance(how, Recipe):
            return how
        if isinstance(how, str | Path):
            return load_recipe(how)
        spreads = ALLOCATIONS.get(allocation)  # checked first: an unknown name is one readable line
        plan = {"criterion": criterion, "granularity": granularity}
        if isinstance(how, Mapping) and "pruneviz" in how:
            return parse_recipe(dict(how), "the recipe")
        if isinstance(how, Mapping):
            if allocation != "uniform":
                raise PrunevizError("per-layer sparsities are their own allocation: leave allocation uniform")
            layers = {name: {"sparsity": s} | plan for name, s in how.items()}
            return parse_recipe(
                {"pruneviz": VERSION, "default": {"sparsity": 0.0}, "layers": layers}, "prune()"
            )
        if isinstance(how, bool) or not isinstance(how, Real):
            raise PrunevizError(f"prune() takes a sparsity, per-layer sparsities or a recipe, got {how!r}")
        uniform = parse_recipe({"pruneviz": VERSION, "default": {"sparsity": float(how)} | plan}, "prune()")
        if allocation == "uniform":
            return uniform  # layers that cannot take the granularity stay dense
        e, kind = self._engine, uniform.default.granularity
        if not kind.rankable:
            raise PrunevizError(f"{kind} fixes every layer's sparsity: there is nothing to allocate")
        given = Spreading(e, e.layer_names, uniform.default.criterion, kind, self._sweep)
        fractions = spreads.spread(given, float(how))
        plans = uniform_plans(e.layers, fractions, uniform.default.criterion, kind)
        return parse_recipe(recipe_document(None, None, plans), "prune()")
