"""The workshop lessons: each pruning technique in a few sentences, with a small live example.

Every example works on forks of the given session (from its loaded baseline) and returns table rows,
so it never touches the learner's own working copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pruneviz.core.granularity import FILTER, NM, granularity
from pruneviz.io.data import DataSet
from pruneviz.io.demo import initial_model
from pruneviz.workflows.allocate import owl_sparsity
from pruneviz.workflows.recipe import uniform_plans
from pruneviz.workflows.recovery import train_epochs
from pruneviz.workflows.sequential import apply_plans
from pruneviz.workflows.session import GlobalPlan, LayerPlan, Opaque, PruneSession

Rows = list[dict[str, object]]


@dataclass(frozen=True)
class Lesson:
    title: str
    text: str
    example: Callable[[PruneSession, DataSet], Rows]


def _scratch(session: PruneSession) -> PruneSession:
    return session.fork(keep_weights=False)


def _row(label: str, session: PruneSession) -> dict[str, object]:
    metric, sparsity, score = session.task.metric, session.prunable_sparsity(), session.report().score
    return {"configuration": label, "weights pruned": f"{sparsity:.0%}", metric.key: metric.format(score)}


def _unstructured(session: PruneSession, train: DataSet) -> Rows:
    s = _scratch(session)
    rows = [_row("dense", s)]
    for sparsity in (0.5, 0.8, 0.95):
        s.apply_layer_plans({n: LayerPlan(sparsity) for n in s.layer_names})
        rows.append(_row(f"{sparsity:.0%} of every layer, smallest |w| first", s))
    return rows


def _structured(session: PruneSession, train: DataSet) -> Rows:
    s = _scratch(session)
    convs = [x.name for x in s.layers if x.type.startswith("Conv")]
    rows = []
    for sparsity in (0.25, 0.5, 0.75):
        s.apply_layer_plans({n: LayerPlan(sparsity, "l1", FILTER) for n in convs})
        rows.append(_row(f"{sparsity:.0%} of filters in each conv (lowest L1)", s))
    return rows


def _gradient(session: PruneSession, train: DataSet) -> Rows:
    s = _scratch(session)
    rows = []
    for criterion in ("random", "magnitude", "gradient", "taylor"):
        s.apply_global(GlobalPlan(0.9, criterion))
        rows.append(_row(f"global 90% by {criterion}", s))
    return rows


def _allocation(session: PruneSession, train: DataSet) -> Rows:
    s = _scratch(session)
    s.apply_layer_plans({n: LayerPlan(0.9) for n in s.layer_names})
    rows = [_row("layer-wise: 90% of every layer", s)]
    s.apply_global(GlobalPlan(0.9))
    rows.append(_row("global: one magnitude threshold", s))
    s.apply_global(GlobalPlan(0.9, lamp=True))
    rows.append(_row("global with LAMP scores", s))
    return rows


def _finetune(s: PruneSession, train: DataSet, epochs: int) -> None:
    train_epochs(s, train, epochs=epochs, lr=FINETUNE_LR)


FINETUNE_LR = 3e-3  # the demo models' own training rate


def _iterative(session: PruneSession, train: DataSet) -> Rows:
    one_shot = _scratch(session)
    one_shot.apply_global(GlobalPlan(0.97))
    rows = [_row("one-shot to 97%, no retraining", one_shot)]
    _finetune(one_shot, train, epochs=3)
    rows.append(_row("one-shot to 97%, then 3 epochs", one_shot))
    for epochs in (1, 3):
        iterative = _scratch(session)
        for step in (0.7, 0.9, 0.97):
            iterative.apply_global(GlobalPlan(step))
            _finetune(iterative, train, epochs=epochs)
        rows.append(_row(f"iterative 70% → 90% → 97%, {epochs} epoch(s) per round", iterative))
    return rows


def _lottery(session: PruneSession, train: DataSet) -> Rows:
    trained = _scratch(session)
    trained.apply_global(GlobalPlan(0.9))
    masks = dict(trained.masks)
    rows = [_row("trained weights, 90% pruned", trained)]
    demo_name = (session.model.arch_spec or "").removeprefix("demo:")
    for label, init in (("rewound to the original init θ₀", 0), ("re-initialised at random", 1)):
        ticket = _scratch(session)
        ticket.writable().load_state_dict(initial_model(demo_name, seed=init).state_dict())
        ticket.adopt_weights(Opaque("a re-initialised model"))
        for name, mask in masks.items():
            ticket.set_mask(name, mask)
        _finetune(ticket, train, epochs=4)
        rows.append(_row(f"same mask, {label}, trained 4 epochs", ticket))
    return rows


def _nm(session: PruneSession, train: DataSet) -> Rows:
    s = _scratch(session)
    rows = []
    for kind in (NM(2, 4), NM(4, 8)):
        plans = uniform_plans(s.layers, dict.fromkeys(s.layer_names, 0.5), "magnitude", kind)
        s.reset()
        s.apply_layer_plans(plans)
        eligible = sum(not p.dense for p in plans.values())
        rows.append(_row(f"{kind} on {eligible} of {len(s.layers)} layers", s))
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


def _pruned_by(session: PruneSession, criterion: str, sparsity: float, kind="unstructured") -> PruneSession:
    s = _scratch(session)
    apply_plans(
        s, uniform_plans(s.layers, dict.fromkeys(s.layer_names, sparsity), criterion, granularity(kind))
    )
    return s


def _wanda(session: PruneSession, train: DataSet) -> Rows:
    rows = [_row("dense", _scratch(session))]
    for sparsity in (0.5, 0.7):
        for criterion, how in (("magnitude", "smallest |w|"), ("wanda", "smallest |w|·‖x‖ in each row")):
            rows.append(
                _row(f"{sparsity:.0%} of every layer, {how}", _pruned_by(session, criterion, sparsity))
            )
    return rows


def _sparsegpt(session: PruneSession, train: DataSet) -> Rows:
    rows = []
    for kind, sparsity in (("unstructured", 0.5), ("unstructured", 0.7), ("2:4", 0.5)):
        for criterion in ("magnitude", "sparsegpt"):
            s = _pruned_by(session, criterion, sparsity, kind)
            label = f"{kind} {sparsity:.0%}" if kind == "unstructured" else kind
            rows.append(_row(f"{label} by {criterion}", s))
    return rows


def _owl(session: PruneSession, train: DataSet) -> Rows:
    uniform = _pruned_by(session, "wanda", 0.7)
    owl = _scratch(session)
    sparsity = owl_sparsity(owl, owl.layer_names, 0.7)
    apply_plans(owl, {n: LayerPlan(s, "wanda") for n, s in sparsity.items()})
    return [_row("Wanda, 70% of every layer", uniform), _row("Wanda, 70% on average, spread by OWL", owl)]


LLM_LESSONS = [
    Lesson(
        "Why magnitude is not enough: input norms (Wanda)",
        "A weight's effect is its size *times the size of its input*. Large language models grow a few "
        "input features hundreds of times larger than the rest; magnitude pruning cuts the small weights "
        "that carry them and breaks the model. Wanda (Sun et al., 2023) ranks |w|·‖x‖ over a little "
        "calibration text, compared within each output row, and needs no retraining. This tiny byte-level "
        "model has hardly any such outlier features, so expect Wanda to do little better than magnitude "
        "here (see the table) — its advantage appears at scale.",
        _wanda,
    ),
    Lesson(
        "Prune and reconstruct (SparseGPT)",
        "SparseGPT (Frantar & Alistarh, 2023) prunes a layer column block by column block and, after each "
        "column, updates the weights not yet visited so that the layer's output on the calibration inputs "
        "changes as little as possible (the inverse Hessian of ‖WX − ŴX‖²). Layers are solved in order, "
        "each on the inputs the already-pruned layers produce. It clearly beats magnitude here, the more "
        "so at high sparsity and for 2:4.",
        _sparsegpt,
    ),
    Lesson(
        "Outlier-weighted layer sparsity (OWL)",
        "Not every block holds the same share of outliers. OWL (Yin et al., 2024) counts, per block, the "
        "Wanda scores above 5× their mean and gives blocks with more outliers a lower sparsity (within "
        "±8 points of the target, same average). Compare the same 70% spread evenly and by OWL.",
        _owl,
    ),
]
