"""Recovering accuracy by training with the pruning masks held fixed, on a schedule.

Pruned weights stay exactly zero: after every optimiser step the masks are re-applied, so training
only moves the surviving weights. Schedules decide when masks are (re)computed:

* ``oneshot`` — prune to the target, then fine-tune;
* ``iterative`` — ``rounds`` times: prune a further step towards the target, fine-tune;
* ``gradual`` — Zhu & Gupta's cubic schedule from the initial to the final sparsity over ``rounds``
  pruning steps spread through training.

Masks are recomputed from the *current* weights (magnitude after fine-tuning), as these methods do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from pruneviz.core.errors import PrunevizError
from pruneviz.core.importance import LossFn
from pruneviz.core.registry import Registry
from pruneviz.io.data import DataOptions, DataSet
from pruneviz.tasks import Metric, Task
from pruneviz.workflows.session import LayerPlan, Opaque, PruneSession

SCHEDULES = ("oneshot", "iterative", "gradual")
OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.register("adam")(lambda params, lr: torch.optim.Adam(params, lr=lr))
OPTIMIZERS.register("sgd")(lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True))


@dataclass(frozen=True)
class TrainConfig:
    """Training knobs with sensible defaults for the shipped demos (seeded: same run, same weights)."""

    steps: int = 300
    lr: float = 1e-3
    batch_size: int = 64
    optimizer: str = "adam"
    seed: int = 0
    eval_every: int = 25
    distill: bool = False  # learn from the dense model's outputs as well as from the labels
    temperature: float = 2.0  # of the softened distributions compared in distillation
    alpha: float = 0.5  # distillation's share of the loss (the rest: the task's own loss)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1 or not self.lr > 0:
            raise PrunevizError("steps, batch size and evaluation interval must be positive, lr above 0")
        if not self.temperature > 0 or not 0 <= self.alpha <= 1:
            raise PrunevizError("distillation needs a temperature above 0 and alpha between 0 and 1")
        OPTIMIZERS.get(self.optimizer)


@dataclass(frozen=True)
class TrainingSpec:
    """One fine-tune as a recipe records it (its ``training:`` section): the knobs, the schedule and its
    rounds, and the per-layer plans it pruned towards (``target``; None: the recipe's own plans), so that
    applying the recipe replays the very fine-tune that made the weights."""

    config: TrainConfig = TrainConfig()
    schedule: str = "oneshot"
    rounds: int = 3
    target: dict[str, LayerPlan] | None = None

    def __post_init__(self) -> None:
        schedule_fractions(self.schedule, self.rounds)  # refuses an unknown schedule or rounds < 1

    def settings(self) -> dict:
        """The section's settings as a recipe writes them (its target plans are the document's to write)."""
        c = self.config
        out = {"steps": c.steps, "lr": c.lr, "batch_size": c.batch_size, "optimizer": c.optimizer,
               "schedule": self.schedule, "rounds": self.rounds, "seed": c.seed}  # fmt: skip
        if c.distill:
            out |= {"distill": True, "temperature": c.temperature, "alpha": c.alpha}
        return out


@dataclass(frozen=True)
class Trained:
    """Dense weights made by one recorded fine-tune of the loaded model's weights (``spec``, with the
    plans it pruned towards as its target) and the masks it held them at: a layer planned as its target
    keeps that very mask, chosen on the weights before the fine-tune, so the same plans always give the
    same model."""

    spec: TrainingSpec
    masks: dict[str, torch.Tensor] = field(default_factory=dict, compare=False)

    def mask_for(self, name: str, plan: LayerPlan) -> torch.Tensor | None:
        target = self.spec.target or {}
        return self.masks.get(name) if target.get(name) == plan else None


@dataclass(frozen=True)
class Point:
    """One point of a training curve: step, mean training loss since the last point, the task's
    validation metric and the sparsity of the prunable weights at that step (fraction)."""

    step: int
    train_loss: float
    score: float
    sparsity: float

    def as_dict(self, metric: Metric) -> dict[str, float]:
        """The point with its metric under the task's name (``accuracy``, …), as the CLI prints it."""
        return {
            "step": self.step,
            "train_loss": self.train_loss,
            metric.key: self.score,
            "sparsity": self.sparsity,
        }


Callback = Callable[[Point], None]


def distillation(task: Task, teacher: Callable[[torch.Tensor], torch.Tensor], config: TrainConfig) -> LossFn:
    """The training loss with knowledge distillation from ``teacher`` (the dense model's logits of a
    batch), as Minitron and LLM-Pruner recover: alpha · T² · KL(teacher ‖ student) over the softened
    (temperature T) output distributions — every next-token distribution of a language model — plus
    (1 − alpha) · the task's own loss."""
    t, alpha = config.temperature, config.alpha

    def loss(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = F.log_softmax(teacher(x).float() / t, dim=-1)
        student = F.log_softmax(task.logits(module, x).float() / t, dim=-1)
        kl = F.kl_div(student.flatten(0, -2), target.flatten(0, -2), log_target=True, reduction="batchmean")
        return alpha * t * t * kl + (1 - alpha) * task.batch_loss(module, x, y)

    return loss


def training_loss(session: PruneSession, config: TrainConfig) -> LossFn:
    """What a fine-tune of ``session`` minimises: the task's loss, or with ``config.distill`` that mixed
    with distillation from the session's dense model (its calibration copy, one pass at a time)."""
    if not config.distill:
        return session.task.batch_loss
    calibration, task = session.calibration(), session.task

    def teacher(x: torch.Tensor) -> torch.Tensor:
        with calibration.exclusive() as dense:
            return task.logits(dense, x)

    return distillation(task, teacher, config)


def apply_masks(modules: dict[str, nn.Module], masks: dict[str, torch.Tensor]) -> None:
    """Zero every masked-out weight in place."""
    with torch.no_grad():
        for name, mask in masks.items():
            modules[name].weight.mul_(mask)


def batches(n: int, batch_size: int, gen: torch.Generator) -> Callable[[], torch.Tensor]:
    """An endless, seeded stream of index batches: reshuffled each epoch."""
    queue: list[torch.Tensor] = []

    def take() -> torch.Tensor:
        if not queue:
            queue.extend(torch.randperm(n, generator=gen).split(batch_size))
        return queue.pop(0)

    return take


def train_steps(
    model: nn.Module,
    train: DataSet,
    steps: int,
    config: TrainConfig,
    loss_fn: LossFn,
    masks: dict[str, torch.Tensor] | None = None,
    modules: dict[str, nn.Module] | None = None,
    on_eval: Callable[[int, float], None] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    gen: torch.Generator | None = None,
) -> None:
    """``steps`` optimiser steps of ``loss_fn`` (the task's batch loss) on ``train`` with ``masks``
    re-applied after each; ``on_eval(step, mean_loss)`` every ``config.eval_every`` steps. Leaves the
    model in eval mode."""
    optimizer = optimizer or OPTIMIZERS.get(config.optimizer)(model.parameters(), config.lr)
    take = batches(len(train), config.batch_size, gen or torch.Generator().manual_seed(config.seed))
    masks, modules = masks or {}, modules or {}
    apply_masks(modules, masks)
    losses = []
    for step in range(1, steps + 1):
        model.train()
        idx = take()
        optimizer.zero_grad()
        loss = loss_fn(model, train.x[idx], train.y[idx])
        loss.backward()
        optimizer.step()
        apply_masks(modules, masks)
        losses.append(loss.item())
        if on_eval and (step % config.eval_every == 0 or step == steps):
            model.eval()
            on_eval(step, sum(losses) / len(losses))
            losses.clear()
    model.eval()


def train_epochs(
    session: PruneSession, train: DataSet, epochs: int = 3, lr: float = 1e-3, batch_size: int = 64
) -> None:
    """Train the session's working copy ``epochs`` passes over ``train`` with Adam, keeping its masked
    weights at zero; the trained weights become its dense weights."""
    steps = epochs * -(-len(train) // batch_size)
    config = TrainConfig(steps, lr, batch_size)
    train_steps(
        session.writable(), train, steps, config, session.task.batch_loss, session.masks, session.modules
    )
    session.adopt_weights(Opaque(f"{epochs} epochs of training outside a recorded fine-tune"))


def cubic_sparsity(step: int, total: int, initial: float, final: float) -> float:
    """Zhu & Gupta (2017): s_t = s_f + (s_i - s_f)(1 - t/n)^3, for pruning step t of n."""
    return final + (initial - final) * (1 - step / total) ** 3


def schedule_fractions(schedule: str, rounds: int) -> list[float]:
    """Fraction of the final per-layer sparsity to reach at each pruning step (last is 1.0)."""
    if schedule not in SCHEDULES:
        raise PrunevizError(f"unknown schedule '{schedule}' (choose one of: {', '.join(SCHEDULES)})")
    if schedule == "oneshot":
        return [1.0]
    if rounds < 1:
        raise PrunevizError("a schedule needs at least one round")
    if schedule == "iterative":
        return [(r + 1) / rounds for r in range(rounds)]
    return [cubic_sparsity(t + 1, rounds, 0.0, 1.0) for t in range(rounds)]


def finetune(
    session: PruneSession,
    plans: dict[str, LayerPlan],
    train: DataSet,
    config: TrainConfig = TrainConfig(),
    schedule: str = "oneshot",
    rounds: int = 3,
    on_point: Callback | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[Point]:
    """Prune the session's working copy towards ``plans`` on ``schedule`` and fine-tune it with the masks
    held; the trained weights become the session's new dense weights. Returns the curve."""
    fractions = schedule_fractions(schedule, rounds)
    # A recipe replays one fine-tune of the loaded weights; anything else it cannot rebuild.
    first = session.origin is None
    second = Opaque("a second fine-tune (a recipe replays one fine-tune of the loaded weights)")
    unfinished = Opaque("a fine-tune that was stopped before the end")
    steps_each = [config.steps // len(fractions)] * len(fractions)
    steps_each[-1] += config.steps - sum(steps_each)
    gen = torch.Generator().manual_seed(config.seed)
    optimizer = OPTIMIZERS.get(config.optimizer)(session.writable().parameters(), config.lr)
    metric, loss_fn = session.task.metric, training_loss(session, config)
    points: list[Point] = []
    done = 0
    for fraction, steps in zip(fractions, steps_each):
        session.adopt_weights(unfinished if done else session.origin)  # re-mask from the current weights
        session.apply_layer_plans({n: replace(p, sparsity=p.sparsity * fraction) for n, p in plans.items()})
        sparsity = session.prunable_sparsity()

        def record(step: int, loss: float, offset: int = done, sparsity: float = sparsity) -> None:
            session.evaluator.invalidate()
            point = Point(offset + step, loss, session.report().score, sparsity)
            points.append(point)
            if on_point:
                on_point(point)
            if progress:
                progress(
                    point.step / config.steps,
                    f"step {point.step}/{config.steps}, {metric.key} {metric.format(point.score)}",
                )

        train_steps(
            session.working,
            train,
            steps,
            config,
            loss_fn,
            session.masks,
            session.modules,
            record,
            optimizer,
            gen,
        )
        done += steps
    masks = {n: m.clone() for n, m in session.masks.items()}
    spec = TrainingSpec(config, schedule, rounds, dict(plans))
    session.adopt_weights(Trained(spec, masks) if first else second)
    return points


def finetune_shrunk(
    session: PruneSession,
    model: nn.Module,
    train: DataSet,
    config: TrainConfig = TrainConfig(),
    on_point: Callback | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[Point]:
    """Fine-tune a physically smaller ``model`` (structured removal: nothing left to hold at zero) in
    place on ``train``, distilling from the session's dense model when ``config.distill``; every
    ``config.eval_every`` steps it is scored on the session's validation data. Returns the curve."""
    task, metric, loss_fn = session.task, session.task.metric, training_loss(session, config)
    points: list[Point] = []

    def record(step: int, loss: float) -> None:
        score, _ = task.quick(task.outputs(model, session.data.x), session.data.y)
        points.append(Point(step, loss, score, 0.0))
        if on_point:
            on_point(points[-1])
        if progress:
            progress(step / config.steps, f"step {step}/{config.steps}, {metric.key} {metric.format(score)}")

    train_steps(model, train, config.steps, config, loss_fn, on_eval=record)
    return points


def train_split(session: PruneSession, spec: str | None = None) -> DataSet:
    """The training data for fine-tuning: ``spec`` if given, else the training split of the session's own
    data where one exists (digits, torchvision datasets, synthetic)."""
    # text: training windows as long as the validation windows (images ignore the context)
    data, options = spec or session.data.spec, DataOptions(context=session.data.x.shape[-1])
    return session.task.load_data(data, session.model, options, train=True, device=session.device)
