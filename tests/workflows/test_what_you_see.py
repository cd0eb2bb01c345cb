"""One invariant, tested as a property: what the pages show is what the session's recipe reproduces.

A Hypothesis state machine performs, in random order, what the pages do — through the very engine and
Workspace calls they make: slider moves, granularity and criterion changes, presets, a structured
preview and build, a 5-step fine-tune (and its undo), a recipe upload, a Room share and load, a model
switch — on demo:cnn and demo:gpt. After every step:

* the metric, parameter count and effective MACs the session reports equal what a fresh session of the
  same model computes from the sidebar's recipe (the engine of `pruneviz evaluate MODEL --recipe`), or
  the sidebar refuses the recipe and says why;
* every derived result the Workspace holds is of the session's current version, once the page start's
  sweep has dropped the stale ones (and each derived result is stamped: none escapes the sweep).

Run longer with e.g. `PRUNEVIZ_PROPERTY_EXAMPLES=200 .venv/bin/python -m pytest
tests/workflows/test_what_you_see.py --hypothesis-seed=7` (and `PRUNEVIZ_PROPERTY_SHRINK=1` to shrink a
failure to its shortest sequence).
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import GRANULARITIES, granularity
from pruneviz.core.history import History
from pruneviz.io.data import DataOptions
from pruneviz.io.models import weights_digest
from pruneviz.io.room import RoomStore
from pruneviz.ui.state import DERIVED, Choice, SliderRequest, Workspace
from pruneviz.ui.uploads import Uploads
from pruneviz.workflows import allocate
from pruneviz.workflows.apply import as_applied
from pruneviz.workflows.recipe import (
    apply_recipe,
    check_model,
    parse_recipe_text,
    plan_structure,
    recipe_problem,
    recipe_text,
    session_document,
    uniform_plans,
)
from pruneviz.workflows.recovery import TrainConfig, finetune, train_split
from pruneviz.workflows.room import share_recipe, share_session
from pruneviz.workflows.sequential import apply_plans, method_of, rewrites
from pruneviz.workflows.session import LayerPlan, PruneSession, load_pair
from pruneviz.workflows.structured import StructuredPlan
from pruneviz.workflows.transformer import TransformerPlan

MODELS = {"demo:cnn": DataOptions(), "demo:gpt": DataOptions(limit=8, calibration=16)}
FIVE_STEPS = {"demo:cnn": TrainConfig(steps=5, batch_size=32), "demo:gpt": TrainConfig(steps=5, batch_size=4)}
EXAMPLES = int(os.environ.get("PRUNEVIZ_PROPERTY_EXAMPLES", "10"))
PRESETS = [n for n in allocate.ALLOCATIONS.registered() if not allocate.ALLOCATIONS.get(n).needs_sweep]


def page(action):
    """A page's action: a PrunevizError is what the page shows (errors_shown) before it goes on."""

    @functools.wraps(action)
    def run(self, *args, **kwargs):
        try:
            action(self, *args, **kwargs)
        except PrunevizError as err:
            assert str(err) and "\n" not in str(err).strip()
            event(f"{action.__name__} refused")

    return run


LOADED_DIGESTS: dict[str, str] = {}


@functools.cache
def loaded(spec: str):
    """The model and data, loaded once (read-only, as the dashboard's shared baseline)."""
    pair = load_pair(spec, data_options=MODELS[spec])
    LOADED_DIGESTS[spec] = weights_digest(pair[0].module)
    return pair


def fresh(spec: str) -> PruneSession:
    """A new session of ``spec``: what a fresh process computes."""
    return PruneSession(*loaded(spec), "cpu")


class WhatYouSeeIsWhatYouExport(RuleBasedStateMachine):
    """One browser session, driven as the pages drive it."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="pruneviz-property-"))
        self.room = RoomStore(self.tmp / "room.sqlite")
        self.recipes: list[str] = []  # sidebar recipes saved along the way, to upload later
        self.shares = 0

    # --- the Model & data page ------------------------------------------------------------------

    @initialize(spec=st.sampled_from(sorted(MODELS)))
    @page
    def open(self, spec: str) -> None:
        self.switch(spec)

    @rule(spec=st.sampled_from(sorted(MODELS)))
    @page
    def switch(self, spec: str) -> None:
        session = fresh(spec)
        self.ws = Workspace(Choice(spec), session, session.report(), History(), Uploads(self.tmp, 3600))
        self.sliders: dict[str, float] = {}
        self.kind, self.criterion = granularity("unstructured"), "magnitude"

    # --- the Prune page -------------------------------------------------------------------------

    def apply_sliders(self) -> None:
        """The Prune page's fragment: every layer's plan from the sliders, applied, and tried."""
        session = self.ws.session
        plans = uniform_plans(session.layers, self.sliders, self.criterion, self.kind)
        session.apply_layer_plans(plans)
        now = session.report()
        config = {n: p.sparsity for n, p in plans.items()}
        self.ws.history.add(
            config, self.criterion, self.kind.name, now.score, now.params_nonzero, session.basis
        )

    @rule(data=st.data(), percent=st.integers(0, 99))
    @page
    def slider(self, data, percent: int) -> None:
        layer = data.draw(st.sampled_from(self.ws.session.layer_names))
        self.sliders[layer] = percent / 100
        self.apply_sliders()

    @rule(data=st.data())
    @page
    def choose(self, data) -> None:
        self.kind = granularity(data.draw(st.sampled_from(GRANULARITIES.registered())))
        criteria = self.ws.session.task.criteria(self.kind)
        if not self.ws.session.task.generates:  # sparsegpt rewrites Linear layers: a CNN's convs refuse it
            criteria = [c for c in criteria if c != "sparsegpt"]
        self.criterion = data.draw(st.sampled_from(criteria))
        self.apply_sliders()

    @rule(preset=st.sampled_from(PRESETS), percent=st.integers(0, 90))
    @page
    def preset(self, preset: str, percent: int) -> None:
        session, target = self.ws.session, percent / 100
        ranks = not rewrites(LayerPlan(0.5, self.criterion, self.kind))
        offered = allocate.allocations_for(self.kind, ranks, swept=False)
        if preset not in [a.name for a in offered]:
            return  # the page does not offer it
        given = allocate.Spreading(session, session.layer_names, self.criterion, self.kind)
        fractions = allocate.ALLOCATIONS.get(preset).spread(given, target)
        self.sliders = {n: min(99, round(100 * f)) / 100 for n, f in fractions.items()}
        self.apply_sliders()

    @precondition(lambda self: any(method_of(p) for p in self.ws.session.plans.values()))
    @rule()
    @page
    def sequential(self) -> None:
        """ "Apply to all layers (sequential)"."""
        session = self.ws.session
        apply_plans(session, uniform_plans(session.layers, self.sliders, self.criterion, self.kind))

    @rule(on=st.booleans())
    @page
    def int8(self, on: bool) -> None:
        """The Prune page's "int8 weights" toggle (offered while no structured preview shows)."""
        if self.ws.session.removal is None:
            self.ws.session.quantize("int8" if on else None)

    @rule()
    @page
    def upload_recipe(self) -> None:
        """The Prune page's recipe upload (a recipe the sidebar gave earlier, maybe of another model)."""
        if not self.recipes:
            return
        session = self.ws.session
        recipe = parse_recipe_text(self.recipes[-1])
        try:
            check_model(recipe, session.model)
            if recipe.structure is not None:
                return  # refused on the Prune page: it belongs to the Structured page
            request = SliderRequest.of_recipe(recipe, session)
        except Exception:  # noqa: BLE001 - the page shows the refusal; nothing may have changed
            return
        apply_recipe(session, recipe)
        self.kind, self.criterion, self.sliders = (
            request.granularity,
            request.criterion,
            dict(request.sparsity),
        )
        self.apply_sliders()

    @rule()
    @page
    def share_and_load(self) -> None:
        """Share with the room, then load that share (the Room page) into this session."""
        if recipe_problem(self.ws.session) is not None:
            return  # the share form refuses with the same reason
        self.shares += 1  # one attendee per share: the room's two-a-second limit is not under test here
        share = share_session(self.room, self.ws.session, f"attendee {self.shares}", "me")
        recipe = share_recipe(self.ws.session, share)
        sliders = SliderRequest.of_recipe(recipe, self.ws.session) if recipe.structure is None else None
        apply_recipe(self.ws.session, recipe)
        if sliders is not None:
            self.kind, self.criterion, self.sliders = (
                sliders.granularity,
                sliders.criterion,
                dict(sliders.sparsity),
            )
            self.apply_sliders()

    # --- the Structured page --------------------------------------------------------------------

    @rule(data=st.data(), percent=st.integers(0, 90))
    @page
    def structured_preview(self, data, percent: int) -> None:
        session = self.ws.session
        if session.task.generates:
            blocks = len(session.model.module.model.layers)
            drop = data.draw(st.sets(st.integers(0, blocks - 1), max_size=blocks - 1))
            plan = TransformerPlan(
                channels=percent / 100, drop_blocks=tuple(sorted(drop)), criterion="magnitude"
            )
        else:
            layer = data.draw(st.sampled_from(["conv1", "conv2", "fc1"]))
            plan = StructuredPlan({layer: percent / 100})
        removals = self.ws.cache("removals")
        removals[repr(plan)] = removals.get(repr(plan)) or plan_structure(session, plan)
        session.preview_removal(removals[repr(plan)])

    @precondition(lambda self: self.ws.session.removal is not None)
    @rule()
    @page
    def build(self) -> None:
        if not self.ws.session.removal.empty:
            self.ws.built(as_applied(self.ws.session, self.ws.baseline))

    # --- the Recovery page ----------------------------------------------------------------------

    @rule()
    @page
    def fine_tune(self) -> None:
        session = self.ws.session
        if session.removal is not None:
            return  # the page sends structured previews to the Structured page's Recover
        plans = dict(session.plans) or {n: LayerPlan(s) for n, s in session.layer_sparsity().items() if s > 0}
        scratch = session.fork()
        curve: list = []
        finetune(scratch, plans, train_split(scratch), FIVE_STEPS[session.model.spec], on_point=curve.append)
        undo = session.snapshot()
        session.restore(scratch.snapshot())
        self.ws.keep(undo=undo, curve=curve)

    @precondition(lambda self: self.ws.undo is not None)
    @rule()
    @page
    def undo(self) -> None:
        self.ws.session.restore(self.ws.undo)
        self.ws.drop("undo", "curve")

    # --- what every page shows ------------------------------------------------------------------

    @invariant()
    def the_recipe_rebuilds_what_the_session_shows(self) -> None:
        session = self.ws.session
        problem = recipe_problem(session)
        event("recipe refused" if problem else "recipe checked")
        if problem is not None:
            return  # the sidebar refuses, saying why
        text = recipe_text(session_document(session))
        self.recipes.append(text)
        rebuilt = fresh(session.model.spec)
        apply_recipe(rebuilt, parse_recipe_text(text))
        now, again = session.report(), rebuilt.report()
        assert (again.score, again.params_nonzero, again.macs_effective) == (
            now.score,
            now.params_nonzero,
            now.macs_effective,
        ), text

    @invariant()
    def the_shared_baseline_is_never_written(self) -> None:
        """Sessions share the baseline's tensors until they write (copy-on-write): nothing a page does
        may reach the baseline every other session uses."""
        for spec, digest in LOADED_DIGESTS.items():
            assert weights_digest(loaded(spec)[0].module) == digest, spec

    @invariant()
    def derived_results_are_current_once_the_page_starts(self) -> None:
        ws = self.ws
        for name in DERIVED:
            value = getattr(ws, name)
            assert value in (None, {}) or name in ws.stamps, f"{name} is kept without a stamp"
        ws.forget_stale()
        assert all(ws.session.holds(stamp) for stamp in ws.stamps.values())


WhatYouSeeIsWhatYouExport.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    # No shrinking in the suite (it can take many minutes here): a failure prints its whole sequence.
    # PRUNEVIZ_PROPERTY_SHRINK=1 shrinks it to the shortest.
    phases=[Phase.explicit, Phase.reuse, Phase.generate]
    + ([Phase.shrink] if os.environ.get("PRUNEVIZ_PROPERTY_SHRINK") else []),
)
test_what_the_pages_show_is_what_the_recipe_reproduces = WhatYouSeeIsWhatYouExport.TestCase
