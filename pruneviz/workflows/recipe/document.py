"""A session or a plan written back as a recipe: the document that rebuilds what is shown (or a
refusal saying why none can), saved as YAML or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from pruneviz.core.errors import PrunevizError
from pruneviz.workflows.recipe.schema import VERSION, parse_recipe
from pruneviz.workflows.recovery import Trained, TrainingSpec
from pruneviz.workflows.sequential import ONE_SHOT, calibration_of
from pruneviz.workflows.session import LayerPlan, Opaque, PruneSession
from pruneviz.workflows.structured import Removal, StructuredPlan
from pruneviz.workflows.transformer import TransformerPlan


def recipe_document(
    model: str | None,
    data: str | None,
    layers: dict[str, LayerPlan],
    default: LayerPlan | None = None,
    seed: int | None = None,
    training: TrainingSpec | None = None,
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
    training = trained.spec if isinstance(trained, Trained) else None
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
    training: TrainingSpec | None = None,
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


def _training_entry(training: TrainingSpec) -> dict:
    """A ``training`` section as written: its settings, and its target plans as plain entries."""
    target = training.target
    return training.settings() | (
        {"target": {n: _plan_entry(p) for n, p in target.items()}} if target else {}
    )


def save_recipe(path: str | Path, doc: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2) if path.suffix == ".json" else yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text)
    return path


def recipe_text(doc: dict) -> str:
    """The YAML a recipe file holds (what the dashboard offers for download)."""
    return yaml.safe_dump(doc, sort_keys=False)
