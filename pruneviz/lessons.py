"""The workshop lessons: each pruning technique in a few sentences, with a small live example.

Every example builds its own scratch sessions over the given (read-only) model and data and returns
table rows, so it never touches the learner's own working copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pruneviz.data import DataSet
from pruneviz.demo import initial_model
from pruneviz.masks import nm_eligible
from pruneviz.models import LoadedModel
from pruneviz.recovery import train_masked
from pruneviz.session import GlobalPlan, LayerPlan, PruneSession

Rows = list[dict[str, object]]


@dataclass(frozen=True)
class Lesson:
    title: str
    text: str
    example: Callable[[LoadedModel, DataSet, DataSet], Rows]


def _scratch(model: LoadedModel, data: DataSet) -> PruneSession:
    return PruneSession(model, data, data.x.device)


def _row(label: str, session: PruneSession) -> dict[str, object]:
    sparsity, accuracy = session.prunable_sparsity(), session.report().accuracy
    return {"configuration": label, "weights pruned": f"{sparsity:.0%}", "accuracy": f"{accuracy:.1%}"}


def _unstructured(model: LoadedModel, data: DataSet, train: DataSet) -> Rows:
    s = _scratch(model, data)
    rows = [_row("dense", s)]
    for sparsity in (0.5, 0.8, 0.95):
        s.apply_layer_plans({n: LayerPlan(sparsity) for n in s.layer_names})
        rows.append(_row(f"{sparsity:.0%} of every layer, smallest |w| first", s))
    return rows


def _structured(model: LoadedModel, data: DataSet, train: DataSet) -> Rows:
    s = _scratch(model, data)
    convs = [x.name for x in s.layers if x.type.startswith("Conv")]
    rows = []
    for sparsity in (0.25, 0.5, 0.75):
        s.apply_layer_plans({n: LayerPlan(sparsity, "l1", "filter") for n in convs})
        rows.append(_row(f"{sparsity:.0%} of filters in each conv (lowest L1)", s))
    return rows


def _gradient(model: LoadedModel, data: DataSet, train: DataSet) -> Rows:
    s = _scratch(model, data)
    rows = []
    for criterion in ("random", "magnitude", "gradient", "taylor"):
        s.apply_global(GlobalPlan(0.9, criterion))
        rows.append(_row(f"global 90% by {criterion}", s))
    return rows


def _allocation(model: LoadedModel, data: DataSet, train: DataSet) -> Rows:
    s = _scratch(model, data)
    s.apply_layer_plans({n: LayerPlan(0.9) for n in s.layer_names})
    rows = [_row("layer-wise: 90% of every layer", s)]
    s.apply_global(GlobalPlan(0.9))
    rows.append(_row("global: one magnitude threshold", s))
    s.apply_global(GlobalPlan(0.9, lamp=True))
    rows.append(_row("global with LAMP scores", s))
    return rows


def _finetune(s: PruneSession, train: DataSet, epochs: int) -> None:
    train_masked(s.working, s.modules, s.masks, train.x, train.y, epochs=epochs, lr=FINETUNE_LR)
    s.adopt_weights()


FINETUNE_LR = 3e-3  # the demo models' own training rate


def _iterative(model: LoadedModel, data: DataSet, train: DataSet) -> Rows:
    one_shot = _scratch(model, data)
    one_shot.apply_global(GlobalPlan(0.97))
    rows = [_row("one-shot to 97%, no retraining", one_shot)]
    _finetune(one_shot, train, epochs=3)
    rows.append(_row("one-shot to 97%, then 3 epochs", one_shot))
    for epochs in (1, 3):
        iterative = _scratch(model, data)
        for step in (0.7, 0.9, 0.97):
            iterative.apply_global(GlobalPlan(step))
            _finetune(iterative, train, epochs=epochs)
        rows.append(_row(f"iterative 70% → 90% → 97%, {epochs} epoch(s) per round", iterative))
    return rows


def _lottery(model: LoadedModel, data: DataSet, train: DataSet) -> Rows:
    trained = _scratch(model, data)
    trained.apply_global(GlobalPlan(0.9))
    masks = dict(trained.masks)
    rows = [_row("trained weights, 90% pruned", trained)]
    demo_name = (model.arch_spec or "").removeprefix("demo:")
    for label, init in (("rewound to the original init θ₀", 0), ("re-initialised at random", 1)):
        ticket = _scratch(model, data)
        ticket.working.load_state_dict(initial_model(demo_name, seed=init).state_dict())
        ticket.adopt_weights()
        for name, mask in masks.items():
            ticket.set_mask(name, mask)
        _finetune(ticket, train, epochs=4)
        rows.append(_row(f"same mask, {label}, trained 4 epochs", ticket))
    return rows


def _nm(model: LoadedModel, data: DataSet, train: DataSet) -> Rows:
    s = _scratch(model, data)
    rows = []
    for pattern in ("2:4", "4:8"):
        m = int(pattern.split(":")[1])
        eligible = [x.name for x in s.layers if nm_eligible(x.shape, m)]
        s.reset()
        s.apply_layer_plans({n: LayerPlan(0.5, "magnitude", pattern) for n in eligible})
        rows.append(_row(f"{pattern} on {len(eligible)} of {len(s.layers)} layers", s))
    return rows


LESSONS = [
    Lesson(
        "Unstructured (magnitude) pruning",
        "Zero the individual weights with the smallest magnitude. It needs no retraining to reach moderate "
        "sparsity and keeps accuracy best per weight removed, but the zeros are scattered: dense hardware "
        "runs just as slowly unless a sparse kernel or format exploits them.",
        _unstructured,
    ),
    Lesson(
        "Structured pruning (filters and channels)",
        "Remove whole output filters, ranked by their L1 norm (or Taylor, BatchNorm scale…). Accuracy "
        "drops faster than with scattered zeros, but the layer really becomes smaller, so any hardware "
        "runs it faster. Here the filters are zeroed; structural removal physically deletes them.",
        _structured,
    ),
    Lesson(
        "Gradient-based criteria",
        "Magnitude ignores the data. Gradient criteria ask how much the loss reacts: |∂L/∂w| alone, or the "
        "first-order Taylor estimate |w·∂L/∂w| of the loss change when w is removed (Molchanov et al.). "
        "Random pruning is the baseline every criterion must beat.",
        _gradient,
    ),
    Lesson(
        "Layer-wise vs global allocation",
        "Layer-wise pruning removes the same fraction from every layer; global pruning ranks all weights "
        "together, so large redundant layers give up more. LAMP rescales scores per layer so one global "
        "threshold does not wipe out a small, sensitive layer.",
        _allocation,
    ),
    Lesson(
        "Iterative prune-and-retrain",
        "Pruning a lot at once can destroy what retraining would need to recover; pruning in steps with "
        "retraining in between lets the network adapt (Han et al., 2015). Whether that beats one-shot "
        "pruning at the *same* training budget depends on model and sparsity: compare the rows, which "
        "give one-shot and iterative runs equal and larger budgets.",
        _iterative,
    ),
    Lesson(
        "The lottery ticket hypothesis",
        "Frankle & Carbin: inside a dense network is a sparse subnetwork that, trained from the *original* "
        "initialisation with its mask, matches the dense accuracy. Rewinding to θ₀ matters: the same mask "
        "with a fresh random initialisation typically trains worse.",
        _lottery,
    ),
    Lesson(
        "N:M semi-structured sparsity",
        "Keep N of every M consecutive weights along the input dimension (2:4 = 50%). The regular pattern "
        "lets sparse tensor cores (NVIDIA Ampere and later) skip the zeros for real speed-ups; layers whose "
        "input dimension is not a multiple of M cannot use it.",
        _nm,
    ),
]
