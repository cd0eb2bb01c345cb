"""The kinds of structure a model loses for real, one per kind of model: the Task answers which
(:meth:`pruneviz.tasks.Task.structure`), and the planner (:data:`pruneviz.workflows.recipe.PLANNERS`),
the Structured page's panel (:data:`pruneviz.ui.structured.STRUCTURE_PANELS`), the refusals and
``Session.remove(fraction)`` all ask that one answer instead of deciding again from the model."""

from __future__ import annotations

from dataclasses import dataclass

from pruneviz.core.registry import Registry


@dataclass(frozen=True)
class StructureKind:
    """What goes from a model of this kind: ``loses`` in words, ``example`` the recipe's ``structure:``
    line that asks for it, ``fraction_key`` the key a bare fraction sets (``remove(0.3)``)."""

    name: str
    loses: str
    example: str
    fraction_key: str

    def refusal(self, spec: str, asked: str) -> str:
        """One line refusing ``asked`` (what a plan would remove) on ``spec``, a model of this kind."""
        return f"{spec} loses {self.loses} (structure: {self.example}), not {asked}"


FILTERS = StructureKind("filters", "whole filters", "{filters: 0.3}", "filters")
VISION_TRANSFORMER = StructureKind(
    "vision transformer", "MLP channels and, where its attention keeps their size, heads", "{channels: 0.3}",
    "channels",
)  # fmt: skip
TRANSFORMER = StructureKind(
    "transformer", "heads, MLP channels and blocks", "{heads: 0.25, channels: 0.3}", "channels"
)

STRUCTURE_KINDS: Registry[StructureKind] = Registry("kind of structure")
for _kind in (FILTERS, VISION_TRANSFORMER, TRANSFORMER):
    STRUCTURE_KINDS.register(_kind.name)(_kind)
