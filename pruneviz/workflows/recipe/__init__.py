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

The package in four steps: :mod:`.schema` (the document, parsed and validated), :mod:`.resolve` (against
a model's layers), :mod:`.apply` (onto a session), :mod:`.document` (a session written back as one).
"""

from pruneviz.workflows.recipe.apply import PLANNERS, Planner, apply_recipe, plan_structure, replay_training
from pruneviz.workflows.recipe.document import (
    recipe_document,
    recipe_problem,
    recipe_text,
    save_recipe,
    session_document,
    structure_document,
)
from pruneviz.workflows.recipe.resolve import (
    check_model,
    diff_recipes,
    removes_filters,
    resolve,
    resolve_for,
    skipped_by_default,
    structured_plan,
    uniform_plans,
)
from pruneviz.workflows.recipe.schema import (
    VERSION,
    Owl,
    Recipe,
    load_recipe,
    parse_recipe,
    parse_recipe_text,
)

__all__ = [
    "PLANNERS", "VERSION", "Owl", "Planner", "Recipe", "apply_recipe", "check_model", "diff_recipes",
    "load_recipe", "parse_recipe", "parse_recipe_text", "plan_structure", "recipe_document", "recipe_problem",
    "recipe_text", "removes_filters", "replay_training", "resolve", "resolve_for", "save_recipe",
    "session_document", "skipped_by_default", "structure_document", "structured_plan", "uniform_plans",
]  # fmt: skip
