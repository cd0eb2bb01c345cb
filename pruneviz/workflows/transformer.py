"""Structured pruning of transformers: attention heads, MLP channels and whole blocks, chosen by a
criterion, previewed live, and removed for real (:mod:`pruneviz.io.anatomy`).

A plan names fractions of heads and MLP channels (for every block, or per block), explicit heads to
drop, and blocks to drop; :func:`plan_transformer` turns it into the units to remove and the parameter
entries that go with them, as a :class:`~pruneviz.workflows.structured.Removal` the session previews
like any structured removal (the outputs equal the smaller model's) and builds with
:func:`pruneviz.io.anatomy.build`.

Criteria rank each key/value group (with its query heads) and each MLP channel:

* ``magnitude`` — the L2 norm of every weight that goes with the unit;
* ``taylor`` — (Σ w·∂L/∂w)² over those weights: the first-order loss change of removing the unit
  (LLM-Pruner's group Taylor importance);
* ``activation`` — the mean |activation| of the unit on the calibration windows (the head's slice of
  the attention output, the channel's MLP activation), as Minitron ranks them.

Which blocks to drop is ranked by Block Influence (ShortGPT, Men et al., 2024): 1 − the mean cosine
similarity of a block's input and output hidden states over the calibration windows. A block that
barely changes its input is the cheapest to drop.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pruneviz.core import masks as M
from pruneviz.core.blockwise import find_blocks
from pruneviz.core.errors import PrunevizError
from pruneviz.core.importance import Calibration
from pruneviz.core.layers import prunable_modules
from pruneviz.core.registry import Registry
from pruneviz.core.timing import token_speed
from pruneviz.io.anatomy import Anatomy, Cut, anatomy_of, build, physical, removed_entries
from pruneviz.workflows.latency import unstructured_twin
from pruneviz.workflows.session import PruneSession
from pruneviz.workflows.structured import Removal

Ratios = float | dict[int, float]


@dataclass(frozen=True)
class TransformerPlan:
    """What to remove from a transformer: fractions of attention heads and MLP channels (one for every
    block, or per block index), explicit key/value groups to drop per block, whole blocks to drop, the
    criterion ranking heads and channels, and ``round_to`` (kept channels a multiple of it; heads
    rounded down to whole key/value groups)."""

    heads: Ratios = 0.0
    channels: Ratios = 0.0
    drop_heads: dict[int, tuple[int, ...]] = field(default_factory=dict)
    drop_blocks: tuple[int, ...] = ()
    criterion: str = "magnitude"
    round_to: int | None = None
    removes: ClassVar[str] = "heads, MLP channels or blocks"  # in words, for refusals

    @property
    def empty(self) -> bool:
        ratios = [*ratios_of(self.heads), *ratios_of(self.channels)]
        return not any(ratios) and not any(self.drop_heads.values()) and not self.drop_blocks

    @property
    def ranks(self) -> bool:
        """Whether units must be ranked (fractions of heads or channels asked for)."""
        return any(ratios_of(self.heads)) or any(ratios_of(self.channels))

    def describe(self) -> dict:
        """The recipe keys that give this plan back (``structure``, ``drop_blocks``, ``round_to``)."""
        structure: dict = {"heads": self.heads, "channels": self.channels, "criterion": self.criterion}
        if self.drop_heads:
            structure["drop_heads"] = {b: list(g) for b, g in self.drop_heads.items()}
        doc: dict = {"structure": structure}
        if self.drop_blocks:
            doc["drop_blocks"] = list(self.drop_blocks)
        if self.round_to:
            doc["round_to"] = self.round_to
        return doc


def ratios_of(ratios: Ratios) -> list[float]:
    """Every fraction ``ratios`` gives (one for all blocks, or one per block named)."""
    return list(ratios.values()) if isinstance(ratios, dict) else [ratios]


def ratio_of(ratios: Ratios, block: int) -> float:
    """The fraction ``ratios`` gives block ``block``."""
    return ratios.get(block, 0.0) if isinstance(ratios, dict) else ratios


@dataclass(frozen=True)
class UnitScores:
    """Importance of every key/value group (blocks × groups) and MLP channel (blocks × channels)."""

    groups: torch.Tensor
    channels: torch.Tensor


Criterion = Callable[[PruneSession, Anatomy], UnitScores]
TRANSFORMER_CRITERIA: Registry[Criterion] = Registry("transformer criterion")


def _unit_weights(session: PruneSession, anatomy: Anatomy, entries) -> torch.Tensor:
    """Per unit, the stacked weight entries that go with it (from the dense weights)."""
    dense = session.dense_weights
    parts = []
    for name, (dim, where) in entries.items():
        weight = dense[name]
        for s in where if isinstance(where, list) else [where]:
            parts.append((weight[s] if dim == "rows" else weight[:, s]).flatten())
    return torch.cat(parts)


def _per_unit(session: PruneSession, anatomy: Anatomy, value: Callable[[dict], float]) -> UnitScores:
    groups = [
        [value(anatomy.group_entries(i, g)) for g in range(anatomy.kv_heads)] for i in range(anatomy.depth)
    ]
    channels = [
        [value(anatomy.channel_entries(i, c)) for c in range(anatomy.intermediate)]
        for i in range(anatomy.depth)
    ]
    return UnitScores(torch.tensor(groups), torch.tensor(channels))


@TRANSFORMER_CRITERIA.register("magnitude")
def _magnitude(session: PruneSession, anatomy: Anatomy) -> UnitScores:
    """L2 norm of the unit's weights."""
    return _per_unit(session, anatomy, lambda e: _unit_weights(session, anatomy, e).norm().item())


@TRANSFORMER_CRITERIA.register("taylor")
def _taylor(session: PruneSession, anatomy: Anatomy) -> UnitScores:
    """(Σ w · ∂L/∂w)² over the unit's weights, gradients of the LM loss on the calibration windows."""
    calib = session.calibration()
    modules = prunable_modules(calib.model, tuple(session.modules))
    mean_grad, _ = calib.gradients({n: modules[n] for n in session.layer_names})
    products = {n: session.dense_weights[n] * g for n, g in mean_grad.items()}

    def value(entries: dict) -> float:
        total = 0.0
        for name, (dim, where) in entries.items():
            for s in where if isinstance(where, list) else [where]:
                total += (products[name][s] if dim == "rows" else products[name][:, s]).sum().item()
        return total**2

    return _per_unit(session, anatomy, value)


@TRANSFORMER_CRITERIA.register("activation")
def _activation(session: PruneSession, anatomy: Anatomy) -> UnitScores:
    """Mean |activation| of the unit over the calibration windows: a head's slice of the attention
    output (the input of o_proj), a channel's MLP activation (the input of down_proj)."""
    calib = session.calibration()
    modules = prunable_modules(calib.model, tuple(session.modules))
    names = [anatomy.attention_output(i) for i in range(anatomy.depth)]
    names += [anatomy.mlp_output(i) for i in range(anatomy.depth)]
    stats = calib.inputs({n: modules[n] for n in names})
    width = anatomy.group_size * anatomy.head_dim
    groups = torch.stack(
        [stats[anatomy.attention_output(i)].mean_abs.view(-1, width).mean(1) for i in range(anatomy.depth)]
    )
    channels = torch.stack([stats[anatomy.mlp_output(i)].mean_abs for i in range(anatomy.depth)])
    return UnitScores(groups, channels)


def check_plan(plan: TransformerPlan, anatomy: Anatomy) -> None:
    """Refuse, in one line each, what cannot be built: unknown blocks or heads, dropping every block,
    ratios out of range, a head count that breaks grouped-query attention without ``round_to``."""
    TRANSFORMER_CRITERIA.get(plan.criterion)
    blocks = range(anatomy.depth)
    for what, ratios in (("heads", plan.heads), ("channels", plan.channels)):
        for i, r in ratios.items() if isinstance(ratios, dict) else [(None, ratios)]:
            if i is not None and i not in blocks:
                raise PrunevizError(f"{what}: there is no block {i} (blocks 0..{anatomy.depth - 1})")
            try:
                M.check_sparsity(r)
            except PrunevizError as err:
                raise PrunevizError(f"{what}: {err}") from None
    for i, groups in plan.drop_heads.items():
        if i not in blocks:
            raise PrunevizError(f"drop_heads: there is no block {i} (blocks 0..{anatomy.depth - 1})")
        bad = [g for g in groups if not 0 <= g < anatomy.kv_heads]
        if bad:
            raise PrunevizError(
                f"drop_heads: block {i} has no head group {bad[0]} (groups 0..{anatomy.kv_heads - 1}, "
                f"{anatomy.group_size} query head(s) each)"
            )
    bad_blocks = [i for i in plan.drop_blocks if i not in blocks]
    if bad_blocks:
        raise PrunevizError(f"drop_blocks: there is no block {bad_blocks[0]} (blocks 0..{anatomy.depth - 1})")
    if len(set(plan.drop_blocks)) >= anatomy.depth:
        raise PrunevizError(f"drop_blocks would drop all {anatomy.depth} blocks: nothing would be left")
    if plan.round_to is not None and plan.round_to < 1:
        raise PrunevizError(f"round_to must be a positive count, got {plan.round_to}")
    if (plan.drop_heads or any(ratio_of(plan.heads, i) for i in blocks)) and anatomy.head_removal:
        raise PrunevizError(anatomy.head_removal)


def _groups_to_remove(plan: TransformerPlan, anatomy: Anatomy, block: int) -> int:
    heads = M.prune_count(ratio_of(plan.heads, block), anatomy.heads)
    if heads % anatomy.group_size and plan.round_to is None:
        raise PrunevizError(
            f"removing {heads} of {anatomy.heads} heads in block {block} breaks grouped-query attention "
            f"({anatomy.group_size} query heads share each key/value head): remove a multiple of "
            f"{anatomy.group_size}, or set round_to to round down to whole groups"
        )
    return heads // anatomy.group_size


def _channels_to_remove(plan: TransformerPlan, anatomy: Anatomy, block: int) -> int:
    count = M.prune_count(ratio_of(plan.channels, block), anatomy.intermediate)
    if plan.round_to:
        kept = plan.round_to * math.ceil((anatomy.intermediate - count) / plan.round_to)
        count = max(0, anatomy.intermediate - kept)
    return count


def plan_transformer(
    session: PruneSession, plan: TransformerPlan, scores: UnitScores | None = None
) -> Removal:
    """The heads, channels and blocks ``plan`` removes from the session's dense model, ranked by its
    criterion (``scores`` when already computed), as a removal the session previews and builds."""
    model = session.calibration().model
    anatomy = anatomy_of(model)
    check_plan(plan, anatomy)
    if scores is None and plan.ranks:  # only fractions need a ranking (dropping blocks needs none)
        scores = TRANSFORMER_CRITERIA.get(plan.criterion)(session, anatomy)
    drop = tuple(sorted(set(plan.drop_blocks)))
    groups, channels = {}, {}
    for i in (i for i in range(anatomy.depth) if i not in drop):
        wanted = _groups_to_remove(plan, anatomy, i)
        if chosen := _lowest(scores, "groups", i, wanted, plan.drop_heads.get(i, ())):
            groups[i] = chosen
        if chosen := _lowest(scores, "channels", i, _channels_to_remove(plan, anatomy, i)):
            channels[i] = chosen
    cut = Cut(groups, channels, drop)
    removed = removed_entries(model, anatomy, cut)
    return TransformerRemoval(
        plan, anatomy, cut, removed, removed_entries(model, anatomy, physical(anatomy, cut))
    )


@dataclass
class TransformerRemoval(Removal):
    """A transformer's key/value groups, MLP channels and blocks (``cut``) removed by the surgery of
    :func:`pruneviz.io.anatomy.build`, which patches the config: the smaller model describes itself.
    ``gone`` is what it really lacks (blocks share one width, so some removed units stay as zeros)."""

    plan: TransformerPlan
    anatomy: Anatomy
    cut: Cut
    removed: dict[str, torch.Tensor]
    physical: dict[str, torch.Tensor]
    skipped: list[str] = field(default_factory=list)

    @property
    def gone(self) -> dict[str, torch.Tensor]:
        return self.physical

    def build(self, model: nn.Module, example: torch.Tensor) -> nn.Module:
        return build(model, self.anatomy, self.cut)

    def describe(self) -> dict:
        return self.plan.describe()

    @property
    def replay(self) -> None:
        return None


def _lowest(
    scores: UnitScores | None, kind: str, block: int, count: int, chosen: tuple[int, ...] = ()
) -> list[int]:
    """``chosen`` units of ``block``, then its ``count`` lowest-scoring others (least important first)."""
    out = list(dict.fromkeys(chosen))
    if count and scores is not None:
        order = M.ranking(getattr(scores, kind)[block]).tolist()
        out += [u for u in order if u not in out][: max(0, count - len(out))]
    return out


def block_influence(calibration: Calibration) -> list[float]:
    """Per block of the calibration's dense model, 1 − the mean cosine similarity of its input and output
    hidden states over every calibration token (Block Influence, Men et al., 2024): low = the block
    changes little."""
    with calibration.exclusive() as model:  # its hooks must hear this pass only
        return _block_influence(model, calibration)


def _block_influence(model: nn.Module, calibration: Calibration) -> list[float]:
    found = find_blocks(model)
    if found is None:
        raise PrunevizError("Block Influence needs a model made of a stack of blocks (a transformer)")
    blocks = found[1]
    totals = [0.0] * len(blocks)
    count = 0

    def hook(i: int):
        def measure(module, args, kwargs, output):
            nonlocal count
            hidden_in = args[0] if args else kwargs["hidden_states"]
            hidden_out = output[0] if isinstance(output, tuple) else output
            cos = F.cosine_similarity(hidden_in.double(), hidden_out.double(), dim=-1)
            totals[i] += cos.sum().item()
            if i == 0:
                count += cos.numel()

        return measure

    handles = [b.register_forward_hook(hook(i), with_kwargs=True) for i, b in enumerate(blocks)]
    try:
        with torch.no_grad():
            for xb, yb in calibration.batches():
                calibration.loss(model, xb, yb)
    finally:
        for h in handles:
            h.remove()
    return [1.0 - t / count for t in totals]


def depth_plan(influence: list[float], drop: int) -> tuple[int, ...]:
    """The ``drop`` blocks of lowest Block Influence (ties: the later block), in model order."""
    if not 0 < drop < len(influence):
        raise PrunevizError(
            f"--drop must be between 1 and {len(influence) - 1} (the model has {len(influence)} blocks)"
        )
    order = sorted(range(len(influence)), key=lambda i: (influence[i], -i))
    return tuple(sorted(order[:drop]))


def random_blocks(depth: int, drop: int, seed: int = 0) -> tuple[int, ...]:
    """``drop`` blocks chosen at random (seeded): the baseline Block Influence must beat."""
    return tuple(sorted(random.Random(seed).sample(range(depth), drop)))


@dataclass(frozen=True)
class SpeedUp:
    """One way of pruning against the dense model: parameters kept, the speed-up they promise
    (dense / kept parameters) and the prefill and decode speed-ups measured (× faster than dense)."""

    params: int
    promised: float
    prefill: float
    decode: float


def structured_speedups(
    session: PruneSession,
    plan: TransformerPlan,
    windows: int = 8,
    repeats: int = 5,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, SpeedUp]:
    """Build each part of ``plan`` on its own (heads, MLP channels, blocks) and all of it, plus an
    unstructured twin with as many parameters zeroed as the whole plan removes, and time each against
    the dense model in this process (prefill of ``windows`` windows, greedy decode)."""
    dense_model = session.calibration().copy()  # this job's own: timed without the session's turns
    x = session.data.x[:windows]
    parts = {
        "heads": TransformerPlan(
            heads=plan.heads, drop_heads=plan.drop_heads, criterion=plan.criterion, round_to=plan.round_to
        ),
        "MLP channels": TransformerPlan(
            channels=plan.channels, criterion=plan.criterion, round_to=plan.round_to
        ),
        "blocks": TransformerPlan(drop_blocks=plan.drop_blocks),
        "all of it": plan,
    }
    models = {}
    for name, part in parts.items():
        if not part.empty:
            models[name] = plan_transformer(session, part).build(dense_model, session.example)
    if not models:
        raise PrunevizError("nothing to remove: choose heads, MLP channels or blocks first")
    total = sum(p.numel() for p in dense_model.parameters())
    whole = models.get("all of it") or next(iter(models.values()))
    kept = sum(p.numel() for p in whole.parameters())
    models["unstructured, same parameters"] = unstructured_twin(dense_model, 1 - kept / total)
    steps = len(models) + 1
    if progress:
        progress(0.0, "timing the dense model")
    base = token_speed(dense_model, x, repeats=repeats)
    out = {}
    for i, (name, model) in enumerate(models.items()):
        if progress:
            progress((i + 1) / steps, f"timing {name}")
        speed = token_speed(model, x, repeats=repeats)
        params = kept if name.startswith("unstructured") else sum(p.numel() for p in model.parameters())
        out[name] = SpeedUp(params, total / params, speed.prefill / base.prefill, speed.decode / base.decode)
    return out
