"""The lottery ticket hypothesis: iterative magnitude pruning with rewinding (Frankle & Carbin, 2019).

Each round trains, prunes ``rate`` of each layer's *remaining* weights by magnitude (the output layer at
half the rate), rewinds the survivors to their initial values (or to iteration ``rewind_iter`` of the
first training run: "late rewinding") and trains again. A control run trains the very same masks from a
fresh random initialisation. Per round it records the weights remaining, the best validation accuracy
and the iteration it was reached (the early-stopping point).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from pruneviz.core.errors import PrunevizError
from pruneviz.core.layers import prunable_modules
from pruneviz.core.masks import prune_count, ranking
from pruneviz.io.data import DataSet
from pruneviz.io.models import clone_module
from pruneviz.tasks import CLASSIFICATION
from pruneviz.workflows.recovery import TrainConfig, train_steps
from pruneviz.workflows.session import Opaque, PruneSession, Snapshot


@dataclass(frozen=True)
class RoundResult:
    """One round: fraction of prunable weights remaining, best validation accuracy (fraction) and the
    step it was reached, for the rewound ticket and for the randomly re-initialised control."""

    round: int
    remaining: float
    accuracy: float
    early_stop_iter: int
    control_accuracy: float
    control_early_stop_iter: int


def reinitialise(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with every layer's parameters freshly initialised under ``seed``."""
    fresh = clone_module(model)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for module in fresh.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return fresh


def _train_and_track(
    model: nn.Module,
    masks: dict,
    train: DataSet,
    val: DataSet,
    config: TrainConfig,
    keep_at: int | None = None,
) -> tuple[float, int, dict | None]:
    """Train with masks; best validation accuracy, its step, and the weights at step ``keep_at``."""
    modules = prunable_modules(model)
    best = (-1.0, 0)
    snapshot: dict | None = None

    task = CLASSIFICATION  # the experiment measures classifiers' accuracy and early stopping

    def evaluate(step: int, _loss: float) -> None:
        nonlocal best, snapshot
        acc, _ = task.quick(task.outputs(model, val.x), val.y)
        if acc > best[0]:
            best = (acc, step)

    loss = task.batch_loss
    if keep_at == 0:
        snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    if keep_at:
        train_steps(model, train, keep_at, config, loss, masks, modules, evaluate)
        snapshot = {k: v.clone() for k, v in model.state_dict().items()}
        rest = replace(config, steps=config.steps - keep_at, seed=config.seed + 1)
        train_steps(
            model, train, rest.steps, rest, loss, masks, modules, lambda s, lo: evaluate(s + keep_at, lo)
        )
    else:
        train_steps(model, train, config.steps, config, loss, masks, modules, evaluate)
    return best[0], best[1], snapshot


def _prune_remaining(model: nn.Module, masks: dict[str, torch.Tensor], rate: float, output: str) -> None:
    """Prune ``rate`` of each layer's remaining weights by magnitude (the output layer at rate / 2)."""
    for name, module in prunable_modules(model).items():
        mask = masks[name]
        layer_rate = rate / 2 if name == output else rate
        alive = int(mask.sum())
        k = prune_count(layer_rate, alive)
        scores = module.weight.detach().abs().masked_fill(~mask, float("-inf"))
        order = ranking(scores)
        dead = mask.numel() - alive  # the already-pruned weights rank first (score -inf)
        new = mask.flatten().clone()
        new[order[dead : dead + k]] = False
        masks[name] = new.view(mask.shape)


LOTTERY_TRAINING = TrainConfig(steps=400)


@dataclass
class LotteryRun:
    """What a lottery run found: every finished round, and (when all rounds ran) the final masks and
    the final ticket's weights, rewound and trained."""

    rounds: list[RoundResult]
    masks: dict[str, torch.Tensor] | None = None
    state: dict[str, torch.Tensor] | None = None

    @property
    def ticket(self) -> bool:
        """Whether the run finished with a ticket that can become the session's model."""
        return self.state is not None


def lottery(
    model: nn.Module,
    train: DataSet,
    val: DataSet,
    rounds: int = 6,
    rate: float = 0.2,
    rewind_iter: int = 0,
    config: TrainConfig = LOTTERY_TRAINING,
    progress: Callable[[float, str], None] | None = None,
    on_round: Callable[[RoundResult], None] | None = None,
) -> LotteryRun:
    """Run ``rounds`` of prune-rewind-retrain from a seeded initialisation of ``model``'s architecture."""
    if not 0 < rate < 1 or rounds < 1 or not 0 <= rewind_iter < config.steps:
        raise PrunevizError("lottery needs 0 < rate < 1, rounds >= 1 and 0 <= rewind_iter < steps")
    init = reinitialise(model, config.seed)
    modules = prunable_modules(init)
    if not modules:
        raise PrunevizError("the model has no prunable layers")
    output = list(modules)[-1]
    masks = {n: torch.ones_like(m.weight, dtype=torch.bool) for n, m in modules.items()}
    total = sum(m.weight.numel() for m in modules.values())
    results: list[RoundResult] = []
    ticket = clone_module(init)
    acc, stop, rewind_state = _train_and_track(ticket, masks, train, val, config, keep_at=rewind_iter)
    control_acc, control_stop = acc, stop  # round 0: dense, ticket and control are the same network
    for r in range(rounds + 1):
        remaining = sum(int(m.sum()) for m in masks.values()) / total
        result = RoundResult(r, remaining, acc, stop, control_acc, control_stop)
        results.append(result)
        if on_round:
            on_round(result)
        if progress:
            progress(
                (r + 1) / (rounds + 1), f"round {r}/{rounds}: {remaining:.1%} of weights, accuracy {acc:.1%}"
            )
        if r == rounds:
            break
        _prune_remaining(ticket, masks, rate, output)
        ticket.load_state_dict(rewind_state)  # rewind the survivors (masks re-applied in training)
        acc, stop, _ = _train_and_track(ticket, masks, train, val, config)
        control = reinitialise(model, config.seed + 1 + r)
        control_acc, control_stop, _ = _train_and_track(control, masks, train, val, config)
    return LotteryRun(results, masks, ticket.state_dict())


def adopt_ticket(session: PruneSession, run: LotteryRun) -> None:
    """Make a finished run's ticket the session's model: its trained weights become the dense weights
    and its masks the session's masks (undo with :meth:`PruneSession.restore`), in the weight format the
    session shows."""
    if not run.ticket:
        raise PrunevizError("a stopped lottery run has no ticket; run every round to get one")
    ticket = Snapshot(
        state={k: v.clone() for k, v in run.state.items()},
        dense={n: run.state[f"{n}.weight"].clone() for n in session.layer_names},
        masks=dict(run.masks),
        origin=Opaque("a lottery ticket (trained from a fresh initialisation)"),
        quantize=session.quantization.name if session.quantization else None,
    )
    session.restore(ticket)


def to_csv(results: list[RoundResult]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(asdict(results[0])))
    writer.writeheader()
    for r in results:
        writer.writerow(asdict(r))
    return buf.getvalue()
