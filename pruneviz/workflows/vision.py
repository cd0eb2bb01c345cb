"""Structured pruning of vision transformers (torchvision's ViT and Swin, timm's ViT and DeiT): MLP
channels removed for real by Torch-Pruning, and heads where the family allows it (timm's), asked for
with the same plan as a language model's (``structure: {channels, heads, drop_heads, criterion}``), and
refused in one line where a family cannot lose what is asked (:mod:`pruneviz.io.vision`).

A head goes with its rows of the fused qkv Linear (query, key and value) and its columns of the output
projection: Torch-Pruning removes them as one group rooted at the qkv rows, and the attention's head
count follows (:func:`pruneviz.core.structure.shrink`). Heads are ranked per block by the plan's
criterion over those weights: ``magnitude`` their L2 norm, ``taylor`` (Σ w·∂L/∂w)² (LLM-Pruner's group
Taylor importance).

A plan's channel fractions become a filter plan on each block's first MLP Linear, every other Conv and
Linear pinned: Torch-Pruning's dependency graph then couples each channel with the second Linear's
column and nothing else, so planning never walks the model's reshapes and window partitions (building
every group of a Swin, as a plain ``filters`` plan does, expands index maps through them until memory
runs out). The removal previews, builds, exports and reloads as any filter removal does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from pruneviz.core import masks as M
from pruneviz.core.errors import PrunevizError
from pruneviz.core.layers import prunable_modules
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
    if (plan.drop_heads or any(ratios_of(plan.heads))) and blocks.head_removal:
        raise PrunevizError(blocks.head_removal)
    if any(ratios_of(plan.channels)) and blocks.channel_removal:
        raise PrunevizError(blocks.channel_removal)
    for what, ratios in (("heads", plan.heads), ("channels", plan.channels)):
        for i in ratios if isinstance(ratios, dict) else ():
            if i not in range(blocks.depth):
                raise PrunevizError(f"{what}: there is no block {i} (blocks 0..{blocks.depth - 1})")
        for r in ratios_of(ratios):
            try:
                M.check_sparsity(r)
            except PrunevizError as err:
                raise PrunevizError(f"{what}: {err}") from None
    for i, heads in plan.drop_heads.items():
        if i not in range(blocks.depth):
            raise PrunevizError(f"drop_heads: there is no block {i} (blocks 0..{blocks.depth - 1})")
        if bad := [h for h in heads if not 0 <= h < blocks.heads[i]]:
            raise PrunevizError(
                f"drop_heads: block {i} has no head {bad[0]} (heads 0..{blocks.heads[i] - 1})"
            )
    if plan.drop_blocks:
        raise PrunevizError(
            "a vision transformer keeps its blocks here (stages change width); remove MLP channels"
        )


def plan_vision(session: PruneSession, plan: TransformerPlan, blocks: VisionBlocks) -> VisionRemoval:
    """The MLP channels ``plan`` removes from the session's dense vision transformer, chosen by
    Torch-Pruning with the filter criterion matching the plan's, and the heads it removes, ranked by the
    plan's criterion."""
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
    history, removed = list(chosen.history), dict(chosen.removed)
    for layer, rows, entries in _heads_to_remove(session, plan, blocks):
        history.append((layer, True, rows))
        for name, mask in entries.items():
            removed[name] = removed[name] | mask if name in removed else mask
    return VisionRemoval(chosen.plan, history, removed, chosen.skipped, plan)


def _heads_to_remove(
    session: PruneSession, plan: TransformerPlan, blocks: VisionBlocks
) -> list[tuple[str, list[int], dict[str, torch.Tensor]]]:
    """Per block losing heads: the root of their removal (the fused qkv or the query projection), its
    rows that go, and every parameter entry that goes with them, as the preview zeroes them."""
    counts = {i: M.prune_count(ratio_of(plan.heads, i), blocks.heads[i]) for i in range(blocks.depth)}
    if not any(counts.values()) and not plan.drop_heads:
        return []
    model = session.calibration().model
    modules, params = dict(model.named_modules()), dict(model.named_parameters())
    scores = _head_scores(session, blocks, plan.criterion) if any(counts.values()) else None
    out = []
    for i in range(blocks.depth):
        heads = list(dict.fromkeys(plan.drop_heads.get(i, ())))
        if counts[i] and scores is not None:
            order = [h for h in M.ranking(scores[i]).tolist() if h not in heads]
            heads += order[: max(0, counts[i] - len(heads))]
        if not heads:
            continue
        if len(heads) >= blocks.heads[i]:
            raise PrunevizError(f"block {i} would lose all its {blocks.heads[i]} heads: keep at least one")
        entries = blocks.head_entries(modules, i, heads)
        removed = {}
        for name, (dim, where) in entries.items():
            mask = torch.zeros(params[name].shape, dtype=torch.bool)
            mask[(slice(None),) * dim + (where,)] = True
            removed[name] = mask
        root, (_, rows) = next(iter(entries.items()))
        out.append((root.removesuffix(".weight"), rows, removed))
    return out


def _head_scores(session: PruneSession, blocks: VisionBlocks, criterion: str) -> list[torch.Tensor]:
    """Per block, each head's importance over its weights (query, key, value and gate rows, output
    projection columns; dense weights): their L2 norm (``magnitude``) or (Σ w·∂L/∂w)² (``taylor``)."""
    modules = dict(session.calibration().model.named_modules())
    values = dict(session.dense_weights)
    if criterion == "taylor":
        calib = session.calibration()
        prunable = prunable_modules(calib.model, tuple(session.modules))
        grads, _ = calib.gradients({n: prunable[n] for n in session.layer_names})
        values = {n: session.dense_weights[n] * g for n, g in grads.items()}
    scores = []
    for i in range(blocks.depth):
        per_head = []
        for h in range(blocks.heads[i]):
            parts = [
                values[name.removesuffix(".weight")][(slice(None),) * dim + (where,)].flatten()
                for name, (dim, where) in blocks.head_entries(modules, i, [h]).items()
                if name.removesuffix(".weight") in values
            ]
            joined = torch.cat(parts)
            per_head.append(joined.sum().pow(2) if criterion == "taylor" else joined.norm())
        scores.append(torch.stack(per_head))
    return scores
