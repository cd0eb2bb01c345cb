"""Recipes: the per-layer pruning choices as a small YAML/JSON document, validated with clear errors.

::

    pruneviz: 1
    model: demo:cnn                    # optional when the command names the model
    data: digits                       # optional
    default: {sparsity: 0.5, criterion: magnitude, granularity: unstructured}
    pinned: [fc2]                      # left dense
    layers:                            # per-layer overrides of ``default``, by qualified module name
      conv1: {sparsity: 0.2}

A ``default`` reaches only the layers that can take its granularity (a 2:4 default leaves a layer
whose input dimension is not a multiple of 4 dense, and says so); a ``layers`` entry that cannot
take its granularity is an error.

or, instead of ``default``/``layers``, one ranking across layers::

    global: {sparsity: 0.6, criterion: magnitude, lamp: false}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import FILTER, Granularity, granularity, rankable
from pruneviz.core.layers import LayerInfo
from pruneviz.core.masks import check_sparsity
from pruneviz.core.quantize import QUANTIZATIONS
from pruneviz.core.registry import Registry
from pruneviz.io.models import LoadedModel
from pruneviz.io.vision import vision_blocks
from pruneviz.tasks import FILTERS, TRANSFORMER, VISION_TRANSFORMER
from pruneviz.workflows.allocate import OWL_LAMBDA, OWL_M, owl_sparsity
from pruneviz.workflows.recovery import TrainConfig, finetune, train_split
from pruneviz.workflows.sequential import CALIBRATIONS, ONE_SHOT, SEQUENTIAL, apply_plans, calibration_of
from pruneviz.workflows.session import GlobalPlan, LayerPlan, Opaque, PruneSession, Trained
from pruneviz.workflows.structured import STRUCTURED_CRITERIA, Removal, StructuredPlan
from pruneviz.workflows.transformer import TRANSFORMER_CRITERIA, TransformerPlan, plan_transformer
from pruneviz.workflows.vision import plan_vision

VERSION = 1
TOP_KEYS = (
    "pruneviz",
    "model",
    "data",
    "default",
    "pinned",
    "layers",
    "global",
    "round_to",
    "seed",
    "training",
    "allocation",
    "structure",
    "drop_blocks",
    "calibration",
    "quantize",
)
TRAINING_KEYS = {
    "steps": int,
    "lr": float,
    "batch_size": int,
    "optimizer": str,
    "schedule": str,
    "rounds": int,
    "distill": bool,
    "temperature": float,
    "alpha": float,
    "seed": int,
    "target": dict,  # the per-layer plans the fine-tune pruned towards (default: the recipe's own)
}


@dataclass(frozen=True)
class Recipe:
    """A parsed, validated recipe (layer names are checked against a model by :func:`resolve`)."""

    model: str | None = None
    data: str | None = None
    default: LayerPlan | None = None
    pinned: tuple[str, ...] = ()
    layers: dict[str, LayerPlan] = field(default_factory=dict)
    global_plan: GlobalPlan | None = None
    round_to: int | None = None  # structured removal: keep channel counts multiples of this
    seed: int | None = None
    training: dict | None = None  # the fine-tune settings, after a fine-tune (see TRAINING_KEYS)
    allocation: Owl | None = None  # spread the default's sparsity over layers (None: the same for each)
    structure: StructuredPlan | TransformerPlan | None = None  # what is removed for real (filters, heads, …)
    # how methods reading a layer's inputs (wanda, sparsegpt) are solved: block by block (the
    # reference's way) or one-shot, every layer against the dense model's inputs (the live sliders')
    calibration: str = SEQUENTIAL
    quantize: str | None = None  # the weight format after the masks (``quantize: {weights: int8}``)


@dataclass(frozen=True)
class Owl:
    """``allocation: owl`` (or ``{method: owl, m: 5, lambda: 0.08}``): the default's sparsity spread
    over transformer blocks by their Wanda outlier ratios (OWL, Yin et al., 2024)."""

    m: float = OWL_M
    lam: float = OWL_LAMBDA


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe file (YAML, of which JSON is a subset)."""
    path = Path(path)
    if not path.is_file():
        raise PrunevizError(f"recipe file not found: {path}")
    try:
        obj = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise PrunevizError(f"recipe {path} is not valid YAML/JSON: {' '.join(str(err).split())}") from None
    return parse_recipe(obj, str(path))


def parse_recipe(obj: Any, source: str = "recipe") -> Recipe:
    """Validate a recipe document already parsed into Python objects."""
    if not isinstance(obj, dict):
        raise PrunevizError(f"{source}: a recipe must be a mapping with 'pruneviz: {VERSION}' at the top")
    _no_unknown(obj, TOP_KEYS, source)
    if obj.get("pruneviz") != VERSION:
        raise PrunevizError(f"{source}: needs 'pruneviz: {VERSION}' (got {obj.get('pruneviz')!r})")
    if "global" in obj and ("default" in obj or "layers" in obj):
        raise PrunevizError(f"{source}: use either 'global' or 'default'/'layers', not both")
    for key in ("model", "data"):
        if key in obj and not isinstance(obj[key], str):
            raise PrunevizError(f"{source}: '{key}' must be a spec string")
    round_to = obj.get("round_to")
    if round_to is not None and (isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1):
        raise PrunevizError(f"{source}: 'round_to' must be a positive integer, got {round_to!r}")
    calibration = obj.get("calibration", SEQUENTIAL)
    if calibration not in CALIBRATIONS:
        raise PrunevizError(
            f"{source}: 'calibration' must be {' or '.join(CALIBRATIONS)}, got {calibration!r}"
        )
    extras = {
        "calibration": calibration,
        "seed": _seed(obj.get("seed"), source),
        "training": _training(obj.get("training"), source),
        "allocation": _allocation(obj.get("allocation"), source),
        "quantize": _quantize(obj.get("quantize"), source),
    }
    pinned = obj.get("pinned") or []
    if not isinstance(pinned, list) or not all(isinstance(p, str) for p in pinned):
        raise PrunevizError(f"{source}: 'pinned' must be a list of layer names")
    extras["structure"] = _structure(obj.get("structure"), obj.get("drop_blocks"), round_to, pinned, source)
    if extras["structure"] and extras["quantize"]:
        raise PrunevizError(
            f"{source}: 'quantize' rounds the weights masks leave; a model that loses parts for real "
            "('structure'/'drop_blocks') is not quantised by pruneviz yet"
        )
    if extras["structure"] and any(k in obj for k in ("global", "default", "layers")):
        raise PrunevizError(
            f"{source}: 'structure'/'drop_blocks' remove parts of the model for real; masks ('default', "
            "'layers', 'global') go in a recipe of their own"
        )
    if "global" in obj:
        g = obj["global"]
        _mapping(g, f"{source}: global")
        _no_unknown(g, ("sparsity", "criterion", "lamp", "granularity"), f"{source}: global")
        kind = _granularity(g.get("granularity", "unstructured"), f"{source}: global")
        if not kind.rankable:
            names = " or ".join(x.name for x in rankable())
            raise PrunevizError(f"{source}: global granularity must be {names}, got {kind.name!r}")
        plan = GlobalPlan(
            sparsity=_sparsity(g.get("sparsity"), f"{source}: global"),
            criterion=_criterion(g.get("criterion", kind.default_criterion), kind, f"{source}: global"),
            lamp=bool(g.get("lamp", False)),
            pinned=tuple(pinned),
            granularity=kind,
        )
        return Recipe(
            obj.get("model"),
            obj.get("data"),
            global_plan=plan,
            pinned=tuple(pinned),
            round_to=round_to,
            **extras,
        )
    default = _layer_plan(obj["default"], None, f"{source}: default") if "default" in obj else None
    if extras["allocation"] and (default is None or not default.granularity.rankable):
        raise PrunevizError(
            f"{source}: allocation owl spreads a default's sparsity; give a default that is not N:M"
        )
    layers_obj = obj.get("layers") or {}
    _mapping(layers_obj, f"{source}: layers")
    layers = {}
    for name, entry in layers_obj.items():
        if name in pinned:
            raise PrunevizError(f"{source}: layer {name!r} is both pinned and listed under layers")
        layers[str(name)] = _layer_plan(entry, default, f"{source}: layers.{name!r}")
    return Recipe(
        obj.get("model"), obj.get("data"), default, tuple(pinned), layers, round_to=round_to, **extras
    )


STRUCTURE_KEYS = ("heads", "channels", "drop_heads", "criterion")
FILTER_KEYS = ("filters", "criterion")


def _structure(
    structure: Any, drop_blocks: Any, round_to: int | None, pinned: Any, source: str
) -> StructuredPlan | TransformerPlan | None:
    """What a recipe removes for real: ``structure: {filters, criterion}`` (filters chosen by
    Torch-Pruning, one fraction for all or per layer), or a transformer's ``structure: {heads, channels,
    drop_heads, criterion}`` and ``drop_blocks: [...]``."""
    if structure is None and drop_blocks is None:
        return None
    where = f"{source}: structure"
    structure = structure or {}
    _mapping(structure, where)
    if "filters" in structure:
        _no_unknown(structure, FILTER_KEYS, where)
        return _filter_plan(structure, round_to, pinned, where)
    _no_unknown(structure, STRUCTURE_KEYS, where)
    blocks = drop_blocks or []
    if not isinstance(blocks, list) or not all(_is_index(b) for b in blocks):
        raise PrunevizError(f"{source}: 'drop_blocks' must be a list of block indices, got {drop_blocks!r}")
    drop_heads = structure.get("drop_heads") or {}
    _mapping(drop_heads, f"{where}.drop_heads")
    for block, groups in drop_heads.items():
        if not _is_index(block) or not isinstance(groups, list) or not all(_is_index(g) for g in groups):
            raise PrunevizError(f"{where}.drop_heads: give block index: [head group indices], got {block!r}")
    criterion = structure.get("criterion", "magnitude")
    if criterion not in TRANSFORMER_CRITERIA:
        known = ", ".join(TRANSFORMER_CRITERIA.names())
        raise PrunevizError(f"{where}: unknown criterion {criterion!r} (choose one of: {known})")
    return TransformerPlan(
        heads=_ratios(structure.get("heads", 0.0), f"{where}.heads"),
        channels=_ratios(structure.get("channels", 0.0), f"{where}.channels"),
        drop_heads={int(b): tuple(int(g) for g in gs) for b, gs in drop_heads.items()},
        drop_blocks=tuple(int(b) for b in blocks),
        criterion=criterion,
        round_to=round_to,
    )


def _filter_plan(structure: dict, round_to: int | None, pinned: Any, where: str) -> StructuredPlan:
    filters, criterion = structure["filters"], structure.get("criterion", "l1")
    if criterion not in STRUCTURED_CRITERIA:
        known = ", ".join(STRUCTURED_CRITERIA.names())
        raise PrunevizError(f"{where}: unknown criterion {criterion!r} (choose one of: {known})")
    if isinstance(filters, dict):
        if not all(isinstance(name, str) for name in filters):
            raise PrunevizError(f"{where}.filters: give layer name: fraction, got {list(filters)!r}")
        ratios, global_ratio = {n: _sparsity(r, f"{where}.filters.{n}") for n, r in filters.items()}, None
    else:
        ratios, global_ratio = {}, _sparsity(filters, f"{where}.filters")
    return StructuredPlan(ratios, global_ratio, criterion, round_to, tuple(pinned or ()))


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _ratios(value: Any, where: str) -> float | dict[int, float]:
    """A fraction for every block, or {block index: fraction}."""
    if isinstance(value, dict):
        if not all(_is_index(b) for b in value):
            raise PrunevizError(f"{where}: blocks are indices (0, 1, …), got {list(value)!r}")
        return {int(b): _sparsity(v, where) for b, v in value.items()}
    return _sparsity(value, where)


def _allocation(value: Any, source: str) -> Owl | None:
    if value is None or value == "uniform":
        return None
    if value == "owl":
        return Owl()
    where = f"{source}: allocation"
    if not isinstance(value, dict) or value.get("method") != "owl":
        raise PrunevizError(
            f"{where}: must be uniform, owl or {{method: owl, m: M, lambda: L}}, got {value!r}"
        )
    _no_unknown(value, ("method", "m", "lambda"), where)
    m, lam = value.get("m", OWL_M), value.get("lambda", OWL_LAMBDA)
    if any(isinstance(v, bool) or not isinstance(v, int | float) or v <= 0 for v in (m, lam)):
        raise PrunevizError(f"{where}: m and lambda must be positive numbers")
    return Owl(float(m), float(lam))


def _quantize(value: Any, source: str) -> str | None:
    """``quantize: {weights: int8}``: the weight format (a name in QUANTIZATIONS) after the masks."""
    if value is None:
        return None
    where = f"{source}: quantize"
    _mapping(value, where)
    _no_unknown(value, ("weights",), where)
    name = value.get("weights")
    if name not in QUANTIZATIONS:
        known = ", ".join(QUANTIZATIONS.names())
        raise PrunevizError(f"{where}: weights must be one of {known}, got {name!r}")
    return name


def _seed(value: Any, source: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise PrunevizError(f"{source}: 'seed' must be an integer, got {value!r}")
    return value


def _training(value: Any, source: str) -> dict | None:
    if value is None:
        return None
    _mapping(value, f"{source}: training")
    _no_unknown(value, tuple(TRAINING_KEYS), f"{source}: training")
    for key, kind in TRAINING_KEYS.items():
        v = value.get(key)
        ok = (
            v is None
            or (isinstance(v, kind) and (kind is bool or not isinstance(v, bool)))
            or (kind is float and isinstance(v, int) and not isinstance(v, bool))
        )
        if not ok:
            raise PrunevizError(f"{source}: training.{key} must be {kind.__name__}, got {v!r}")
    out = dict(value)
    if "target" in out:
        where = f"{source}: training.target"
        out["target"] = {str(n): _layer_plan(e, None, f"{where}.{n!r}") for n, e in out["target"].items()}
    return out


def _layer_plan(entry: Any, base: LayerPlan | None, where: str) -> LayerPlan:
    _mapping(entry, where)
    _no_unknown(entry, [f.name for f in fields(LayerPlan)], where)
    if base is None and "sparsity" not in entry:
        raise PrunevizError(f"{where}: needs a 'sparsity'")
    base = base or LayerPlan(0.0)
    kind = _granularity(entry.get("granularity", base.granularity), where)
    # a granularity named without a criterion takes its own default (filters have no 'magnitude')
    inherited = base.criterion if kind == base.granularity else kind.default_criterion
    return LayerPlan(
        sparsity=_sparsity(entry.get("sparsity", base.sparsity), where),
        criterion=_criterion(entry.get("criterion", inherited), kind, where),
        granularity=kind,
    )


def _granularity(value: Any, where: str) -> Granularity:
    try:
        return granularity(value if isinstance(value, Granularity) else str(value))
    except PrunevizError as err:
        raise PrunevizError(f"{where}: {err}") from None


def _sparsity(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PrunevizError(f"{where}: 'sparsity' must be a number in [0, 1), got {value!r}")
    try:
        check_sparsity(float(value))
    except PrunevizError as err:
        raise PrunevizError(f"{where}: {err}") from None
    return float(value)


def _criterion(name: Any, kind: Granularity, where: str) -> str:
    try:
        return kind.check_criterion(name)
    except PrunevizError as err:
        raise PrunevizError(f"{where}: {err}") from None


def _mapping(obj: Any, where: str) -> None:
    if not isinstance(obj, dict):
        raise PrunevizError(f"{where}: must be a mapping, got {type(obj).__name__}")


def _no_unknown(obj: dict, allowed, where: str) -> None:
    unknown = [str(k) for k in obj if k not in allowed]
    if unknown:
        raise PrunevizError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")


def check_model(recipe: Recipe, model: LoadedModel, source: str = "the recipe") -> None:
    """Refuse a recipe written for another model: its ``model`` must be the loaded model's spec or the
    architecture that spec rebuilds (a checkpoint of ``demo:cnn`` takes ``demo:cnn``'s recipes)."""
    if recipe.model is not None and recipe.model not in (model.spec, model.arch_spec):
        raise PrunevizError(
            f"{source} is for {recipe.model}, not for {model.spec}: load that model, or delete the "
            "recipe's 'model:' line to apply it to this one"
        )


def resolve(recipe: Recipe, layers: list[LayerInfo]) -> dict[str, LayerPlan] | GlobalPlan:
    """Turn the recipe into a plan for a concrete model, checking every named layer exists and can
    take its granularity. ``default`` skips layers that cannot take its granularity (they stay dense;
    :func:`skipped_by_default` names them)."""
    shapes = {x.name: x.shape for x in layers}
    for name in (*recipe.pinned, *recipe.layers):
        if name not in shapes:
            raise PrunevizError(f"recipe names unknown layer {name!r} (see `pruneviz info` for the layers)")
    for name, plan in recipe.layers.items():
        reason = plan.granularity.ineligible(shapes[name])
        if reason and not plan.dense:
            raise PrunevizError(f"recipe: layer {name!r} cannot take {plan.granularity}: {reason}")
    if recipe.global_plan is not None:
        return recipe.global_plan
    skipped = set(skipped_by_default(recipe, layers))
    plans = {}
    for name in shapes:
        if name in recipe.layers:
            plans[name] = recipe.layers[name]
        elif recipe.default is not None and name not in recipe.pinned and name not in skipped:
            plans[name] = recipe.default
        else:
            plans[name] = LayerPlan(0.0)
    return plans


def skipped_by_default(recipe: Recipe, layers: list[LayerInfo]) -> list[str]:
    """Layers the recipe's ``default`` would prune but that cannot take its granularity (left dense)."""
    if recipe.default is None or recipe.default.dense:
        return []
    return [
        x.name
        for x in layers
        if x.name not in recipe.layers
        and x.name not in recipe.pinned
        and not recipe.default.granularity.eligible(x.shape)
    ]


def uniform_plans(
    layers: list[LayerInfo], sparsity: dict[str, float], criterion: str, kind: Granularity
) -> dict[str, LayerPlan]:
    """One criterion and granularity for every layer at its own sparsity; layers that cannot take the
    granularity stay dense (what the Prune page's sliders and an allocation mean)."""
    return {
        x.name: LayerPlan(sparsity.get(x.name, 0.0), criterion, kind)
        if kind.eligible(x.shape)
        else LayerPlan(0.0)
        for x in layers
    }


def resolve_for(session: PruneSession, recipe: Recipe) -> dict[str, LayerPlan] | GlobalPlan:
    """:func:`resolve` for the session's model, with the recipe's allocation (OWL needs its data)."""
    plan = resolve(recipe, session.layers)
    if recipe.allocation is None or isinstance(plan, GlobalPlan):
        return plan
    spread = [n for n, p in plan.items() if p == recipe.default and n not in recipe.layers]
    owl = recipe.allocation
    sparsity = owl_sparsity(session, spread, recipe.default.sparsity, owl.m, owl.lam) if spread else {}
    return {n: replace(p, sparsity=sparsity[n]) if n in sparsity else p for n, p in plan.items()}


@dataclass(frozen=True)
class Planner:
    """How one kind of structure (:class:`pruneviz.tasks.StructureKind`, by name) is planned: the plan
    type a recipe's ``structure:`` parses to for it, and the planning."""

    plan_type: type
    plan: Callable[[PruneSession, Any], Removal]


PLANNERS: Registry[Planner] = Registry("structure planner")
PLANNERS.register(FILTERS.name)(Planner(StructuredPlan, lambda s, p: s.plan_removal(p)))
PLANNERS.register(VISION_TRANSFORMER.name)(
    Planner(TransformerPlan, lambda s, p: plan_vision(s, p, vision_blocks(s.calibration().model)))
)
PLANNERS.register(TRANSFORMER.name)(Planner(TransformerPlan, plan_transformer))


def plan_structure(session: PruneSession, plan: StructuredPlan | TransformerPlan) -> Removal:
    """What ``plan`` removes from the session's dense model, planned as the model's kind of structure
    says (filters chosen by Torch-Pruning, a vision transformer's MLP channels and heads, a language
    model's heads, MLP channels and blocks); a plan for another kind is refused in one line."""
    kind = session.task.structure(session.model)
    planner = PLANNERS.get(kind.name)
    if not isinstance(plan, planner.plan_type):
        raise PrunevizError(kind.refusal(session.model.spec, plan.removes))
    return planner.plan(session, plan)


def apply_recipe(
    session: PruneSession, recipe: Recipe, progress: Callable[[float, str], None] | None = None
) -> None:
    """Apply ``recipe`` to the session's working copy (replacing any masks it had): the fine-tune it
    records first (replayed from the loaded weights), then what it removes or masks; reconstruction
    methods (sparsegpt) run their sequential algorithm; the weight format it names comes last."""
    session.quantize(None)  # masks are solved on float weights
    if recipe.training is not None:  # its masks stand: a layer still planned as trained keeps its mask
        replay_training(session, recipe, progress)
    elif session.origin is not None:  # a recipe without a fine-tune is of the loaded weights
        session.back_to_loaded()
    if recipe.structure is not None:  # the exact preview of the smaller model
        session.preview_removal(plan_structure(session, recipe.structure))
        return
    plan = resolve_for(session, recipe)
    if isinstance(plan, GlobalPlan):
        session.reset()
        session.apply_global(plan)
    else:
        apply_plans(session, plan, progress, recipe.calibration)
    session.quantize(recipe.quantize)


def replay_training(
    session: PruneSession, recipe: Recipe, progress: Callable[[float, str], None] | None = None
) -> None:
    """Give ``session`` the dense weights the fine-tune in ``recipe.training`` made: from the loaded
    weights, pruned towards its target plans (default: the recipe's own) on the same schedule, with the
    same settings and seed, so the weights are the very ones the recorded fine-tune gave."""
    settings = recipe.training
    config, schedule, rounds = TrainConfig.from_settings(settings)
    target = settings.get("target")
    if target is None:
        plan = resolve_for(session, replace(recipe, training=None))
        if isinstance(plan, GlobalPlan):
            raise PrunevizError("a recipe's fine-tune prunes towards per-layer plans, not a global ranking")
        target = plan
    session.back_to_loaded()
    finetune(session, target, train_split(session), config, schedule, rounds, progress=progress)


def removes_filters(recipe: Recipe, layers: list[LayerInfo]) -> bool:
    """Whether the recipe asks for whole filters, heads, channels or blocks to go (so that ``apply``
    removes them for real)."""
    if recipe.structure is not None:
        return True
    plan = resolve(recipe, layers)
    if isinstance(plan, GlobalPlan):
        return plan.granularity.structural
    return any(p.granularity.structural and not p.dense for p in plan.values())


def structured_plan(recipe: Recipe, layers: list[LayerInfo]) -> StructuredPlan:
    """The filter-removal part of a recipe, for Torch-Pruning (``granularity: filter`` only).

    Layers with other granularities must be dense: ``apply`` removes filters; masks are ``evaluate``'s.
    """
    plan = resolve(recipe, layers)
    if isinstance(plan, GlobalPlan):
        if not plan.granularity.structural:
            raise PrunevizError(
                f"structural removal needs granularity: filter (this global plan is {plan.granularity})"
            )
        return StructuredPlan(
            global_ratio=plan.sparsity, criterion=plan.criterion, round_to=recipe.round_to, pinned=plan.pinned
        )
    filters = {n: p for n, p in plan.items() if p.granularity.structural and not p.dense}
    others = [n for n, p in plan.items() if not p.granularity.structural and not p.dense]
    if others:
        kind = plan[others[0]].granularity
        raise PrunevizError(
            f"structural removal takes granularity: filter only; '{others[0]}' is {kind} "
            "(use `pruneviz evaluate --save` for masks)"
        )
    criteria = {p.criterion for p in filters.values()}
    if len(criteria) > 1:
        raise PrunevizError(f"structural removal uses one criterion for all layers, got {sorted(criteria)}")
    return StructuredPlan(
        ratios={n: p.sparsity for n, p in filters.items()},
        criterion=criteria.pop() if criteria else FILTER.default_criterion,
        round_to=recipe.round_to,
        pinned=recipe.pinned,
    )


def recipe_document(
    model: str | None,
    data: str | None,
    layers: dict[str, LayerPlan],
    default: LayerPlan | None = None,
    seed: int | None = None,
    training: dict | None = None,
    quantize: str | None = None,
) -> dict:
    """A recipe (as a mapping) naming every layer's plan (and the weight format after the masks); what
    ``auto`` and the dashboard write."""
    doc: dict = {"pruneviz": VERSION}
    if model:
        doc["model"] = model
    if data:
        doc["data"] = data
    if seed is not None:
        doc["seed"] = seed
    if training:
        doc["training"] = _training_entry(training)
    doc["default"] = _plan_entry(default or LayerPlan(0.0))
    doc["layers"] = {name: _plan_entry(plan) for name, plan in layers.items()}
    if quantize:
        doc["quantize"] = {"weights": quantize}
    parse_recipe(doc, "generated recipe")  # what we write must be what we read
    return doc


def recipe_problem(session: PruneSession) -> str | None:
    """Why no recipe rebuilds ``session`` as it is (None: :func:`session_document` gives one)."""
    if isinstance(session.origin, Opaque):
        return (
            f"no recipe rebuilds this session's weights: they come from {session.origin.reason}; export "
            "the model itself instead (Export page, or --save)"
        )
    if session.solved and calibration_of(session) is None:
        return (
            "some layers were solved one-shot (the sliders) and some sequentially, which one recipe cannot "
            "say: apply the method to all layers (sequential) again"
        )
    return None


def session_document(session: PruneSession) -> dict:
    """``session`` as the recipe that rebuilds it: model, data, what is removed (the structured preview's
    plan, or every layer's plan) and the fine-tune behind its weights, with the plans it pruned towards.
    Refused (:func:`recipe_problem`) when no recipe can rebuild the session's weights."""
    problem = recipe_problem(session)
    if problem:
        raise PrunevizError(problem)
    trained = session.origin
    training = trained.settings | {"target": trained.target} if isinstance(trained, Trained) else None
    if session.removal is not None:
        return structure_document(session.model.spec, session.data.spec, session.removal, training)
    quantize = session.quantization.name if session.quantization else None
    doc = recipe_document(
        session.model.spec, session.data.spec, session.current_plans(), training=training, quantize=quantize
    )
    if calibration_of(session) == ONE_SHOT:  # what the sliders showed: each layer against dense inputs
        doc["calibration"] = ONE_SHOT
    return doc


def structure_document(
    model: str | None,
    data: str | None,
    removal: Removal | StructuredPlan | TransformerPlan,
    training: dict | None = None,
) -> dict:
    """A recipe (as a mapping) removing what ``removal`` (or the plan) removes — filters, or a
    transformer's heads, channels and blocks — after the fine-tune ``training`` describes."""
    doc: dict = {"pruneviz": VERSION} | ({"model": model} if model else {}) | ({"data": data} if data else {})
    if training:
        doc["training"] = _training_entry(training)
    doc |= removal.describe()
    parse_recipe(doc, "generated recipe")
    return doc


def _plan_entry(plan: LayerPlan) -> dict:
    return {"sparsity": plan.sparsity, "criterion": plan.criterion, "granularity": plan.granularity.name}


def _training_entry(training: dict) -> dict:
    """A ``training`` section as written: its target plans as plain entries."""
    target = training.get("target")
    return dict(training) | ({"target": {n: _plan_entry(p) for n, p in target.items()}} if target else {})


def save_recipe(path: str | Path, doc: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2) if path.suffix == ".json" else yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text)
    return path


def recipe_text(doc: dict) -> str:
    """The YAML a recipe file holds (what the dashboard offers for download)."""
    return yaml.safe_dump(doc, sort_keys=False)


def diff_recipes(a: Recipe, b: Recipe, layers: list[LayerInfo]) -> list[dict]:
    """Layers whose plans differ between two recipes: name, each side's plan, sparsity change (b - a).
    Global recipes are compared as one '(global)' entry."""
    plan_a, plan_b = resolve(a, layers), resolve(b, layers)
    if isinstance(plan_a, GlobalPlan) or isinstance(plan_b, GlobalPlan):
        if plan_a == plan_b:
            return []
        return [{"layer": "(global)", "a": _describe(plan_a), "b": _describe(plan_b), "change": None}]
    out = []
    for x in layers:
        pa, pb = plan_a[x.name], plan_b[x.name]
        if pa != pb:
            out.append(
                {"layer": x.name, "a": _describe(pa), "b": _describe(pb), "change": pb.sparsity - pa.sparsity}
            )
    return out


def _describe(plan: LayerPlan | GlobalPlan | dict) -> str:
    if isinstance(plan, dict):
        return "per layer"
    kind = "global " if isinstance(plan, GlobalPlan) else ""
    return f"{kind}{plan.sparsity:.0%} {plan.criterion} {plan.granularity}"


def parse_recipe_text(text: str, source: str = "recipe") -> Recipe:
    """Validate a recipe given as YAML/JSON text (an upload)."""
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise PrunevizError(f"{source} is not valid YAML/JSON: {' '.join(str(err).split())}") from None
    return parse_recipe(obj, source)


# one granularity and criterion, per-layer sparsity, and the weight format (FLOAT or a quantisation)
Sliders = tuple[Granularity, str, dict[str, float], str]
FLOAT = "float"


def uniform_settings(recipe: Recipe, session: PruneSession) -> Sliders:
    """(granularity, criterion, per-layer sparsity, weights) for a dashboard with one criterion and
    granularity for all layers; a global recipe becomes the per-layer fractions its ranking gives
    (measured on a fork: the session keeps its masks)."""
    plan = resolve(recipe, session.layers)
    weights = recipe.quantize or FLOAT
    if isinstance(plan, GlobalPlan):
        scratch = session.fork()
        scratch.apply_global(plan)
        return plan.granularity, plan.criterion, scratch.layer_sparsity(), weights
    active = {(p.granularity, p.criterion) for p in plan.values() if not p.dense}
    if len(active) > 1:
        raise PrunevizError(
            "this recipe mixes criteria or granularities across layers; the Prune page uses one for all "
            f"(found {', '.join(sorted(f'{g}/{c}' for g, c in active))})"
        )
    dense = LayerPlan(0.0)
    kind, criterion = active.pop() if active else (dense.granularity, dense.criterion)
    return kind, criterion, {n: p.sparsity for n, p in plan.items()}, weights
