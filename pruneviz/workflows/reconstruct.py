"""SparseGPT's sequential algorithm: layers solved in order, each on the inputs the layers already
pruned before it produce.

A live slider solves one layer against the dense model's inputs (fast, and what
:meth:`PruneSession.weights_for` does). Solving everything that way compounds the errors, so
``evaluate``, ``apply`` and the Prune page's "Apply to all layers" run this instead: the layers of one
transformer block see calibration inputs computed with every earlier block already pruned and
reconstructed (as the reference implementation does, block by block; a layer outside the blocks is a
stage of its own). :attr:`PruneSession.solved` records which way each layer was solved.
"""

from __future__ import annotations

from collections.abc import Callable

from pruneviz.core.blockwise import block_of
from pruneviz.core.importance import input_statistics
from pruneviz.core.reconstruction import Reconstruction
from pruneviz.workflows.session import LayerPlan, PruneSession

SEQUENTIAL = "sequential"


def reconstructs(plan: LayerPlan) -> bool:
    """Whether ``plan`` prunes with a method that rewrites weights (sparsegpt)."""
    return not plan.dense and isinstance(plan.granularity.criteria.get(plan.criterion), Reconstruction)


def apply_plans(
    session: PruneSession, plans: dict[str, LayerPlan], progress: Callable[[float, str], None] | None = None
) -> None:
    """Apply per-layer ``plans``: scoring criteria as masks, then reconstruction methods stage by
    stage in model order, each stage on the calibration inputs the pruned model so far produces.

    Every layer to solve starts dense, whatever the session held (live solves, an earlier run): a
    stage's statistics are gathered with its own layers dense, as the reference gathers a block's, so
    the same plans give the same weights every time."""
    solved = [n for n in session.layer_names if n in plans and reconstructs(plans[n])]
    session.apply_layer_plans({n: p for n, p in plans.items() if n not in solved})
    for name in solved:
        session.set_mask(name, None)
    groups = block_of(session.working, solved)
    stages: list[list[str]] = []
    for name in solved:
        if stages and groups[stages[-1][0]] == groups[name]:
            stages[-1].append(name)
        else:
            stages.append([name])
    calib = session.calibration()
    for i, stage in enumerate(stages):
        if progress:
            progress(i / len(stages), f"SparseGPT: {groups[stage[0]]} ({i + 1} of {len(stages)})")
        stats = input_statistics(
            session.working, {n: session.modules[n] for n in stage}, calib.batches(), calib.loss
        )
        for name in stage:
            plan = plans[name]
            method = plan.granularity.criteria.get(plan.criterion)
            session.plans.pop(name, None)  # re-solve even when the plan is unchanged
            mask, weight = plan.granularity.reconstruct(
                method, session.dense_weights[name], stats[name].gram, plan.sparsity
            )
            session.set_mask(name, mask, weight)
            session.plans[name] = plan
            session.solved[name] = SEQUENTIAL
