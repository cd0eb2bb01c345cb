"""A recipe's document and its validation: what each key may hold, parsed into typed plans
(:class:`Recipe`, with a :class:`~pruneviz.workflows.recovery.TrainingSpec` for its fine-tune), every
mistake named with where it is (``recipe.yaml: layers.'conv1': 'sparsity' must be …``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import Granularity, granularity, rankable
from pruneviz.core.masks import check_sparsity
from pruneviz.core.quantize import QUANTIZATIONS
from pruneviz.workflows.allocate import OWL_LAMBDA, OWL_M
from pruneviz.workflows.recovery import TrainConfig, TrainingSpec
from pruneviz.workflows.sequential import CALIBRATIONS, SEQUENTIAL
from pruneviz.workflows.session import GlobalPlan, LayerPlan
from pruneviz.workflows.structured import STRUCTURED_CRITERIA, StructuredPlan
from pruneviz.workflows.transformer import TRANSFORMER_CRITERIA, TransformerPlan

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
    training: TrainingSpec | None = None  # the fine-tune that made the weights, replayed first
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


def parse_recipe_text(text: str, source: str = "recipe") -> Recipe:
    """Validate a recipe given as YAML/JSON text (an upload)."""
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise PrunevizError(f"{source} is not valid YAML/JSON: {' '.join(str(err).split())}") from None
    return parse_recipe(obj, source)


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


def _training(value: Any, source: str) -> TrainingSpec | None:
    """``training: {steps, lr, …, schedule, rounds, target}``: the fine-tune a recipe replays (what it
    leaves out is :class:`~pruneviz.workflows.recovery.TrainConfig`'s default)."""
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
    given = {k: v for k, v in value.items() if v is not None}
    target = given.pop("target", None)
    if target is not None:
        where = f"{source}: training.target"
        target = {str(n): _layer_plan(e, None, f"{where}.{n!r}") for n, e in target.items()}
    schedule = {k: given.pop(k) for k in ("schedule", "rounds") if k in given}
    try:
        return TrainingSpec(TrainConfig(**given), **schedule, target=target)
    except PrunevizError as err:
        raise PrunevizError(f"{source}: training: {err}") from None


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
