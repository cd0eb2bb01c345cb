"""Structured pruning of vision transformers (torchvision's ViT and Swin): MLP channels removed for real
by Torch-Pruning, asked for with the same plan as a language model's (``structure: {channels, heads,
criterion}``), and refused in one line where a family cannot lose what is asked (:mod:`pruneviz.io.vision`).

A plan's channel fractions become a filter plan on each block's first MLP Linear, every other Conv and
Linear pinned: Torch-Pruning's dependency graph then couples each channel with the second Linear's
column and nothing else, so planning never walks the model's reshapes and window partitions (building
every group of a Swin, as a plain ``filters`` plan does, expands index maps through them until memory
runs out). The removal previews, builds, exports and reloads as any filter removal does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from pruneviz.core import masks as M
from pruneviz.core.errors import PrunevizError
from pruneviz.io.vision import VisionBlocks
from pruneviz.workflows.session import PruneSession
from pruneviz.workflows.structured import FilterRemoval, StructuredPlan
from pruneviz.workflows.transformer import TransformerPlan, ratio_of, ratios_of

# The filter criterion ranking a channel for each transformer criterion (same meaning: the L2 norm of
# the channel's weights, its first-order Taylor loss change).
FILTER_CRITERION = {"magnitude": "l2", "taylor": "taylor"}


@dataclass
class VisionRemoval(FilterRemoval):
    """MLP channels of a vision transformer, removed with Torch-Pruning (a :class:`FilterRemoval` on the
    MLPs' first Linear layers) and described as the transformer plan that asked for them."""

    asked: TransformerPlan = field(default_factory=TransformerPlan)

    def describe(self) -> dict:
        return self.asked.describe()


def check_vision_plan(plan: TransformerPlan, blocks: VisionBlocks) -> None:
    """Refuse, in one line, what a vision transformer cannot lose: heads (see the family's reason),
    whole blocks, block indices it lacks, fractions out of range."""
    if plan.criterion not in FILTER_CRITERION:
        raise PrunevizError(
            f"unknown criterion '{plan.criterion}' for a vision transformer's MLP channels "
            f"(choose {', '.join(FILTER_CRITERION)})"
        )
    if plan.drop_heads or any(ratios_of(plan.heads)):
        raise PrunevizError(blocks.family.head_removal or "heads cannot be removed from this model")
    if plan.drop_blocks:
        raise PrunevizError(
            "a vision transformer keeps its blocks here (stages change width); remove MLP channels"
        )
    if isinstance(plan.channels, dict):
        for i in plan.channels:
            if i not in range(blocks.depth):
                raise PrunevizError(f"channels: there is no block {i} (blocks 0..{blocks.depth - 1})")
    for r in ratios_of(plan.channels):
        try:
            M.check_sparsity(r)
        except PrunevizError as err:
            raise PrunevizError(f"channels: {err}") from None


def plan_vision(session: PruneSession, plan: TransformerPlan, blocks: VisionBlocks) -> VisionRemoval:
    """The MLP channels ``plan`` removes from the session's dense vision transformer, chosen by
    Torch-Pruning with the filter criterion matching the plan's."""
    check_vision_plan(plan, blocks)
    ratios = {blocks.mlp_in(i): ratio_of(plan.channels, i) for i in range(blocks.depth)}
    ratios = {name: r for name, r in ratios.items() if r}
    model = session.calibration().model
    others = tuple(
        n for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d) and n not in ratios
    )
    chosen = session.plan_removal(
        StructuredPlan(ratios, None, FILTER_CRITERION[plan.criterion], plan.round_to, others),
        pinned_by_registry=True,
    )
    return VisionRemoval(chosen.plan, chosen.history, chosen.removed, chosen.skipped, plan)
