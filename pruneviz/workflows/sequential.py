"""Sequential calibration: the methods that read a layer's inputs (Wanda, SparseGPT) solved in model
order, each layer on the inputs the layers already pruned before it produce.

A live slider solves one layer against the dense model's inputs (one-shot: fast, and what
:meth:`PruneSession.weights_for` does). Solving everything that way compounds the errors, so
``evaluate``, ``apply`` and the Prune page's "Apply to all layers" run this instead, as the reference
implementations do: the calibration windows are pushed through the transformer's blocks one block at a
time (:class:`~pruneviz.core.sequential.BlockRunner`), the layers of each block solved on inputs
computed with every earlier block already pruned, with the block's own layers dense — so every block
runs once per stage, and the same plans give the same weights whatever the session held before. A
layer outside the blocks (a head added with ``--extra-layer``, or any layer of a model without a block
stack) is a stage of its own, gathered over a full forward pass. :attr:`PruneSession.solved` records
which way each layer was solved.
"""

from __future__ import annotations

from collections.abc import Callable

from pruneviz.core.blockwise import block_index, find_blocks
from pruneviz.core.errors import PrunevizError
from pruneviz.core.importance import InputStatistics, input_statistics
from pruneviz.core.reconstruction import FromInputs
from pruneviz.core.sequential import BlockRunner
from pruneviz.workflows.session import ONE_LAYER, LayerPlan, PruneSession

SEQUENTIAL = "sequential"
ONE_SHOT = "one-shot"
CALIBRATIONS = (SEQUENTIAL, ONE_SHOT)  # what a recipe's ``calibration`` may say


def method_of(plan: LayerPlan) -> FromInputs | None:
    """The method ``plan`` prunes with, when it reads the layer's inputs (wanda, sparsegpt)."""
    method = plan.granularity.criteria.get(plan.criterion)
    return method if not plan.dense and isinstance(method, FromInputs) else None


def rewrites(plan: LayerPlan) -> bool:
    """Whether ``plan`` prunes with a method that rewrites the surviving weights (sparsegpt)."""
    method = method_of(plan)
    return method is not None and method.rewrites


def calibration_of(session: PruneSession) -> str | None:
    """How the session's input-reading layers were solved: one-shot, sequential, or None when it holds
    none (or both kinds, which no recipe can say)."""
    kinds = {ONE_SHOT if how == ONE_LAYER else SEQUENTIAL for how in session.solved.values()}
    return kinds.pop() if len(kinds) == 1 else None


def apply_plans(
    session: PruneSession,
    plans: dict[str, LayerPlan],
    progress: Callable[[float, str], None] | None = None,
    calibration: str = SEQUENTIAL,
) -> None:
    """Apply per-layer ``plans``: scoring criteria as masks, then the methods that read inputs
    sequentially (or, with ``calibration`` one-shot, each against the dense model's inputs, as the
    sliders do). A plan a layer cannot take (2:4 and 6 inputs, SparseGPT and a conv) is refused before
    anything changes."""
    for name, plan in plans.items():
        refusal = None if plan.dense else plan.ineligible(session.layer(name))
        if refusal:
            raise PrunevizError(f"layer '{name}' {refusal}")
    if calibration == ONE_SHOT:
        session.apply_layer_plans(plans)
        return
    staged = [n for n in session.layer_names if n in plans and method_of(plans[n])]
    session.apply_layer_plans({n: p for n, p in plans.items() if n not in staged})
    for name in staged:  # every layer to solve starts dense, whatever the session held
        session.set_mask(name, None)
    if not staged:
        return
    found = find_blocks(session.working)
    in_blocks: dict[int, list[str]] = {}
    alone: list[str] = []
    for name in staged:
        index = block_index(found[0], len(found[1]), name) if found else None
        (in_blocks.setdefault(index, []) if index is not None else alone).append(name)
    stages = len(in_blocks) + len(alone)
    calib, done = session.calibration(), 0

    def solve(stage: list[str], stats: dict[str, InputStatistics], where: str) -> None:
        nonlocal done
        if progress:
            labels = sorted({method_of(plans[n]).label for n in stage})
            progress(done / stages, f"{', '.join(labels)}: {where} ({done + 1} of {stages})")
        for name in stage:
            plan = plans[name]
            mask, weight = plan.granularity.solve(
                method_of(plan), session.dense_weights[name], stats[name], plan.sparsity
            )
            session.set_mask(name, mask, weight, plan, SEQUENTIAL)
        done += 1

    if in_blocks:
        batches = calib.batches()
        runner = BlockRunner(session.working, found[1], batches, lambda m, b: calib.loss(m, *b))
        last = max(in_blocks)
        for i in range(last + 1):
            stage = in_blocks.get(i)
            if stage:
                gram = any(method_of(plans[n]).gram for n in stage)
                stats = runner.statistics(i, {n: session.modules[n] for n in stage}, gram)
                solve(stage, stats, f"block {i}")
            if i < last:
                runner.advance(i)
    for name in alone:  # after the blocks (or a model without any): a full pass, the layers before pruned
        gram = method_of(plans[name]).gram
        stats = input_statistics(
            session.working, {name: session.modules[name]}, calib.batches(), calib.loss, gram=gram
        )
        solve([name], stats, name)
