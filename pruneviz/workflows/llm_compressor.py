"""The per-layer sparsities chosen here as an llm-compressor recipe, so the same thresholds are applied at
scale on a GPU (``llmcompressor.oneshot(model, recipe=...)``).

One modifier per method and mask structure: ``WandaPruningModifier`` for layers pruned with Wanda,
``SparseGPTModifier`` for the rest (SparseGPT for layers chosen by SparseGPT; for other criteria, the
reconstruction llm-compressor offers at scale, which the header says). ``targets`` lists the layers by
name in model order and ``sparsity`` gives each one's fraction in that same order (llm-compressor pairs
them by index); ``mask_structure`` is ``"0:0"`` (unstructured) or ``"N:M"``. Dense layers are left out,
and ``lm_head`` is ignored.

llm-compressor pins torch 2.14.0, so it is not among pruneviz's requirements: ``benchmarks/
llm_compressor_check.py`` loads and runs a written recipe in a virtualenv of its own.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pruneviz.core.errors import PrunevizError
from pruneviz.workflows.session import LayerPlan, PruneSession

FORMAT = "llm-compressor-recipe"
WANDA, SPARSEGPT = "WandaPruningModifier", "SparseGPTModifier"
STAGE = "sparsity_stage"


def llm_compressor_recipe(session: PruneSession) -> dict:
    """The session's per-layer plans as an llm-compressor recipe (a mapping, as its YAML holds)."""
    if not session.task.generates:
        raise PrunevizError(f"{FORMAT} is for language models (llm-compressor prunes transformers' LLMs)")
    if session.removal is not None:
        raise PrunevizError(
            f"{FORMAT} carries masks' sparsities; the Structured page's preview removes parts"
        )
    groups: dict[tuple[str, str], dict[str, float]] = {}
    for name, plan in session.current_plans().items():
        if plan.dense:
            continue
        sparsity = plan.granularity.fixed_sparsity or plan.sparsity  # an N:M layer's is fixed by N and M
        groups.setdefault((_modifier(plan), _mask_structure(plan)), {})[name] = round(sparsity, 6)
    if not groups:
        raise PrunevizError(f"nothing is pruned: {FORMAT} needs at least one layer with a sparsity")
    modifiers = {}
    for (modifier, structure), layers in groups.items():
        key = modifier if modifier not in modifiers else f"{modifier}_{structure.replace(':', '_')}"
        modifiers[key] = {
            "targets": list(layers),
            "sparsity": list(layers.values()),
            "mask_structure": structure,
            "ignore": ["re:.*lm_head"],
        }
    return {STAGE: {"sparsity_modifiers": modifiers}}


def _modifier(plan: LayerPlan) -> str:
    return WANDA if plan.criterion == "wanda" else SPARSEGPT


def _mask_structure(plan: LayerPlan) -> str:
    kind = plan.granularity
    if kind.structural:
        raise PrunevizError(f"llm-compressor prunes weights, not whole {kind} units: use masks for {FORMAT}")
    # llm-compressor's "N:M" prunes N of every M (as the Wanda reference's prune_n); pruneviz's keeps N
    return f"{kind.m - kind.n}:{kind.m}" if kind.fixed_sparsity is not None else "0:0"


def header(session: PruneSession) -> str:
    """What the file says about itself (a YAML comment): where it comes from and how criteria map."""
    criteria = sorted({p.criterion for p in session.current_plans().values() if not p.dense})
    mapped = [c for c in criteria if c not in ("wanda", "sparsegpt")]
    note = f"# criteria {', '.join(mapped)} are re-applied with SparseGPT (llm-compressor's reconstruction)\n"
    return (
        f"# llm-compressor recipe from pruneviz: the per-layer sparsities chosen for {session.model.spec}\n"
        "# apply with: llmcompressor.oneshot(model=..., dataset=..., recipe='this file')\n"
        + (note if mapped else "")
    )


def recipe_text(session: PruneSession) -> str:
    """The recipe as its file holds it: the header, then the YAML (checked to read back the same)."""
    recipe = llm_compressor_recipe(session)
    text = header(session) + yaml.safe_dump(recipe, sort_keys=False)
    if yaml.safe_load(text) != recipe:
        raise PrunevizError(f"the {FORMAT} does not read back as the recipe written")
    return text


def write_llm_compressor_recipe(session: PruneSession, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(recipe_text(session))
    return path
