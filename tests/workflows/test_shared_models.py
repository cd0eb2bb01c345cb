"""Shared models are read-only and thread-safe: a dashboard runs every session's script and jobs on
threads of one process, over one cached baseline per model and one calibration copy per session.

The stress test runs the jobs a room runs at once — Wanda and activation scoring, Block Influence,
Generate, a distillation step, a latency job, structured planning — on one demo:gpt and one demo:cnn
session, with a new model being loaded (traced by torch.fx) meanwhile, and asserts every result is
bit for bit what the same work gives run alone, one job after another.
"""

from __future__ import annotations

import copy
import threading

import torch

from pruneviz.core.granularity import FILTER
from pruneviz.core.layers import module_macs
from pruneviz.io.anatomy import anatomy_of
from pruneviz.io.data import DataOptions
from pruneviz.workflows.apply import apply_and_measure, structured_speedup
from pruneviz.workflows.generate import side_by_side
from pruneviz.workflows.recipe import parse_recipe
from pruneviz.workflows.recovery import TrainConfig, finetune_shrunk, train_split
from pruneviz.workflows.session import PruneSession, open_session
from pruneviz.workflows.structured import StructuredPlan
from pruneviz.workflows.transformer import TRANSFORMER_CRITERIA, block_influence

SMALL_LM = DataOptions(limit=8, calibration=16)


def sessions() -> tuple[PruneSession, PruneSession]:
    return open_session("demo:gpt", data_options=SMALL_LM), open_session("demo:cnn")


def jobs(gpt: PruneSession, cnn: PruneSession) -> dict[str, object]:
    """Each job a room runs, as a function returning what it computed (timings left out: they differ
    by nature; a latency job is here for the forwards it runs meanwhile)."""
    small = apply_and_measure(
        cnn.fork(), parse_recipe({"pruneviz": 1, "default": {"sparsity": 0.5, "granularity": "filter"}})
    ).model
    train = train_split(cnn)

    def distil() -> dict:
        student = copy.deepcopy(small)
        config = TrainConfig(steps=4, batch_size=32, distill=True, eval_every=2)
        finetune_shrunk(cnn, student, train, config)
        return student.state_dict()

    def latency() -> int:  # as the Structured page's job: on its own copy of the dense model
        dense = cnn.calibration().copy()
        comparison = structured_speedup(dense, apply_and_measure(cnn.fork(), None), (1, 8, 8), (8,))
        return len(comparison.ms)

    def load_another() -> float:
        other = open_session("demo:resnet")  # a new architecture: traced by torch.fx right now
        return other.report().score

    anatomy = anatomy_of(gpt.calibration().model)
    return {
        "wanda": lambda: gpt.scores("wanda"),
        "lm activation": lambda: TRANSFORMER_CRITERIA.get("activation")(gpt, anatomy),
        "block influence": lambda: block_influence(gpt.calibration()),
        "generate": lambda: side_by_side(gpt, "The for statement", 24),
        "cnn activation": lambda: cnn.scores("activation", FILTER),
        "taylor plan": lambda: cnn.plan_removal(StructuredPlan(global_ratio=0.3, criterion="taylor")).history,
        "distillation": distil,
        "latency": latency,
        "load and trace another model": load_another,
        "MACs": lambda: module_macs(cnn.working, cnn.example),
    }


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and same(vars(a), vars(b))
    return a == b


def run_at_once(work: dict[str, object]) -> dict[str, object]:
    results, errors = {}, {}
    start = threading.Barrier(len(work))

    def run(name: str, fn) -> None:
        start.wait()
        try:
            results[name] = fn()
        except Exception as err:  # noqa: BLE001 - reported below with the job's name
            errors[name] = err

    threads = [threading.Thread(target=run, args=item) for item in work.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_jobs_run_at_once_on_shared_models_give_what_they_give_alone():
    serial = {name: fn() for name, fn in jobs(*sessions()).items()}
    for _ in range(2):
        concurrent = run_at_once(jobs(*sessions()))
        different = [name for name in serial if not same(serial[name], concurrent[name])]
        assert different == []


def test_progress_and_cancel_belong_to_the_job_that_asked():
    gpt, _ = sessions()
    heard: dict[str, list[str]] = {"wanda": [], "gradient": []}

    def score(criterion: str) -> None:
        gpt.scores(criterion, progress=lambda f, m, c=criterion: heard[c].append(m))

    run_at_once({c: (lambda c=c: score(c)) for c in heard})
    assert heard["wanda"] and all("gradient" not in m for m in heard["wanda"])
    assert heard["gradient"] and all("gradient" in m for m in heard["gradient"])
