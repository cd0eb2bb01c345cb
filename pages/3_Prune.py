"""Per-layer sparsity sliders and presets; the task's metric, parameters, MACs and size re-evaluated live."""

import time

import streamlit as st

from pruneviz.core.blockwise import block_of
from pruneviz.core.errors import PrunevizError
from pruneviz.core.granularity import GRANULARITIES, granularity
from pruneviz.core.quantize import QUANTIZATIONS
from pruneviz.ui.keys import PRUNE as K
from pruneviz.ui.room import share_form
from pruneviz.ui.state import FLOAT, SliderRequest, errors_shown, held_caption, page_header, policy
from pruneviz.ui.widgets import (
    ensure_scores,
    metrics_row,
    pinned_column,
    require_prunable_layers,
    rerun_fragment,
)
from pruneviz.views import charts
from pruneviz.workflows import allocate
from pruneviz.workflows.recipe import (
    apply_recipe,
    check_model,
    diff_recipes,
    parse_recipe_text,
    uniform_plans,
)
from pruneviz.workflows.sequential import apply_plans, method_of, rewrites
from pruneviz.workflows.session import LayerPlan

ws = page_header(
    "Prune", "Drag a slider: only that layer is re-masked and only what depends on it is re-run.", held=False
)
session = ws.session
require_prunable_layers(session)
names = session.layer_names
GROUP_ABOVE = 12  # layers; above this, sliders come per kind of layer and folded by block
BY_LABEL = {
    allocate.ALLOCATIONS.get(n).label: allocate.ALLOCATIONS.get(n) for n in allocate.ALLOCATIONS.names()
}


def show(request: SliderRequest) -> None:
    """Set this page's widgets to a requested configuration."""
    st.session_state[K("granularity")] = request.granularity.name
    st.session_state[K("criterion")] = request.criterion
    if request.weights is not None:
        st.session_state[K("weights")] = request.weights
    for n, f in request.sparsity.items():
        st.session_state[K.layer(n)] = min(99, round(100 * f))


st.session_state.setdefault(K("criterion"), "magnitude")
st.session_state.setdefault(K("granularity"), "unstructured")
st.session_state.setdefault(K("global"), 0)
st.session_state.setdefault(K("preset"), allocate.ALLOCATIONS.get("uniform").label)
st.session_state.setdefault(K("weights"), FLOAT)
WEIGHTS = [
    FLOAT,
    *(
        q
        for q in QUANTIZATIONS.names()
        if QUANTIZATIONS.get(q).why_not(session.device, session.dtype) is None
    ),
]
for n in names:
    st.session_state.setdefault(K.layer(n), 0)
if ws.prune_request is not None:  # sliders another page sent here
    show(ws.prune_request)
    ws.prune_request = None


def kind():
    return granularity(st.session_state[K("granularity")])


def on_granularity() -> None:
    """Keep the criterion valid for the new granularity (its default when the old one does not apply)."""
    if st.session_state[K("criterion")] not in kind().criteria:
        st.session_state[K("criterion")] = kind().default_criterion


def allocate_sliders() -> None:
    """Spread the global slider over the layers with the chosen preset."""
    target = st.session_state[K("global")] / 100
    given = allocate.Spreading(session, names, st.session_state[K("criterion")], kind(), ws.sensitivity)
    fractions = BY_LABEL[st.session_state[K("preset")]].spread(given, target)
    for n, f in fractions.items():
        st.session_state[K.layer(n)] = min(99, round(100 * f))


def reset() -> None:
    st.session_state[K("global")] = 0
    for n in names:
        st.session_state[K.layer(n)] = 0


def restore_trial() -> None:
    """A click on the scatter restores that configuration's sliders, criterion and granularity."""
    points = st.session_state[K("pareto")].selection.points
    if not points or points[0].get("curve_number", 0) != 0:
        return
    trial = ws.history.trials[points[0]["point_index"]]
    show(SliderRequest(granularity(trial.granularity), trial.criterion, trial.config))


def slider_plans():
    """Every layer's plan as the sliders say; layers that cannot take the granularity stay dense."""
    sparsity = {n: st.session_state[K.layer(n)] / 100 for n in names}
    return uniform_plans(session.layers, sparsity, st.session_state[K("criterion")], kind())


def presets(ranks: bool) -> list[str]:
    """The allocations that make sense now (``ranks`` False: the method rewrites weights), by label."""
    return [a.label for a in allocate.allocations_for(kind(), ranks, ws.sensitivity is not None)]


def sequential_note(criterion: str) -> None:
    """How the numbers of a method reading its layers' inputs were computed, and the button for the
    sequential algorithm."""
    how = sorted(set(session.solved.values()))
    st.caption(
        f"{criterion} decides from each layer's inputs. A slider solves its layer alone against the dense "
        "model's inputs (one-shot, fast); the full algorithm solves the layers block by block, each on "
        "the inputs the pruned blocks before it produce — what `pruneviz evaluate` and `apply` run "
        "unless a recipe says `calibration: one-shot`. "
        f"Now shown: {', '.join(how) or 'nothing solved yet'}."
    )
    if st.button("Apply to all layers (sequential)", key=K("sequential")):
        bar = st.progress(0.0, text=f"{criterion}…")
        with errors_shown():
            apply_plans(session, slider_plans(), lambda f, m: bar.progress(f, text=m))
            st.rerun()  # draw the panel again, saying how its numbers were made


def set_type(layer_type: str) -> None:
    for x in session.layers:
        if x.name.rsplit(".", 1)[-1] == layer_type:
            st.session_state[K.layer(x.name)] = st.session_state[K(f"type_{layer_type}")]


def layer_slider(x) -> None:
    refusal = LayerPlan(0.0, st.session_state[K("criterion")], kind()).ineligible(x)
    why = refusal.why if refusal else None
    st.slider(x.name, 0, 99, key=K.layer(x.name), disabled=why is not None, help=why, persist_state="session")


def layer_sliders() -> None:
    """One slider per layer; a model with many layers gets one per kind of layer (every q_proj, …)
    and its layers' sliders folded by block."""
    st.markdown("**Per-layer sparsity (%)**")
    if len(session.layers) <= GROUP_ABOVE:
        for x in session.layers:
            layer_slider(x)
        return
    types = list(dict.fromkeys(x.name.rsplit(".", 1)[-1] for x in session.layers))  # in block order
    cols = st.columns(3)
    for i, layer_type in enumerate(types):
        st.session_state.setdefault(K(f"type_{layer_type}"), 0)
        cols[i % 3].slider(
            f"every {layer_type}", 0, 99, key=K(f"type_{layer_type}"), on_change=set_type, args=(layer_type,)
        )
    groups = block_of(session.working, names)
    for group in dict.fromkeys(groups.values()):
        with st.expander(group):
            for x in session.layers:
                if groups[x.name] == group:
                    layer_slider(x)


@st.fragment
def pruning_panel() -> None:
    left, right = st.columns([2, 3], gap="large")
    with left:
        c1, c2 = st.columns(2)
        c1.selectbox(
            "Granularity",
            GRANULARITIES.registered(),
            key=K("granularity"),
            on_change=on_granularity,
            persist_state="session",
        )
        criterion = c2.selectbox(
            "Criterion", session.task.criteria(kind()), key=K("criterion"), persist_state="session"
        )
        st.selectbox(
            "Weights",
            WEIGHTS,
            key=K("weights"),
            persist_state="session",
            help="After the masks: int8 rounds each Linear layer's kept weights to 8 bits (torchao, one "
            "scale per row; convolutions stay float). The metric below is then the quantised model's.",
        )
        plan = LayerPlan(0.5, criterion, kind())
        ranks = not rewrites(plan)
        if ranks and (BY_LABEL[st.session_state[K("preset")]].ranks or criterion != "magnitude"):
            ensure_scores(session, criterion, kind())
        st.radio(
            "Preset",
            presets(ranks),
            key=K("preset"),
            horizontal=True,
            on_change=allocate_sliders,
            persist_state="session",
        )
        st.slider(
            "Global sparsity (%)", 0, 99, key=K("global"), on_change=allocate_sliders, persist_state="session"
        )
        st.button("Reset to dense", on_click=reset, icon=":material/restart_alt:", key=K("reset"))
        if kind().fixed_sparsity is not None:
            st.caption(
                f"{kind()}: a layer above 0% keeps {kind().n} of every {kind().m} weights "
                f"({kind().fixed_sparsity:.0%}); a layer at 0% stays dense."
            )
        if method_of(plan) is not None:
            sequential_note(criterion)
        layer_sliders()
    plans = slider_plans()
    with errors_shown():
        if session.removal is not None:
            st.info(
                "The Structured page's preview was showing; these sliders' masks replace it "
                "(the Structured page shows its preview again when you open it)."
            )
            session.end_preview()  # the masks it set aside, exactly (a lottery ticket's too)
        session.apply_layer_plans(plans)
        weights = st.session_state[K("weights")]
        session.quantize(None if weights == FLOAT else weights)
    now = session.report_within(policy().live_s)  # a large model: an estimate first, refined below
    config = {n: p.sparsity for n, p in plans.items()}
    shown = None  # only complete evaluations are tried configurations, once the move settles
    if now.complete:
        figures = (now.score, now.params_nonzero, session.basis, time.monotonic())
        shown = ws.history.show(config, criterion, kind().name, *figures)
    with right, pinned_column(K("figures")):  # in view while a slider far down the page moves
        held_caption(ws)
        metrics_row(now, ws.baseline, session.task)
        st.plotly_chart(
            charts.pareto_scatter(ws.history, now.params_total, session.task.metric, shown, session.basis),
            key=K("pareto"),
            on_select=restore_trial,
            selection_mode="points",
        )
        if now.per_class_accuracy:
            st.plotly_chart(
                charts.per_class_delta(ws.baseline.per_class_accuracy, now.per_class_accuracy),
                key=K("per_class"),
            )
    if not now.complete:
        rerun_fragment()  # the next batch (a slider moved meanwhile starts a new estimate instead)


pruning_panel()


def load_uploaded_recipe() -> None:
    """Make the session the uploaded recipe's model (replaying the fine-tune it records, if any) and show
    its sliders. Everything is checked before anything changes: a refused recipe leaves the sliders and
    the session as they were."""
    upload = st.session_state[K("recipe_upload")]
    if upload is None:
        return
    try:
        recipe = parse_recipe_text(upload.getvalue().decode("utf-8", "replace"), upload.name)
        check_model(recipe, session.model, upload.name)
        if recipe.structure is not None:
            raise PrunevizError(
                f"{upload.name} removes structure for real (filters, heads, blocks), which the Structured "
                "page previews: the Room page loads such recipes there, `pruneviz apply` builds them"
            )
        sliders = SliderRequest.of_recipe(recipe, session)
        apply_recipe(session, recipe)
    except PrunevizError as err:
        ws.recipe_error = str(err)
        return
    show(sliders)
    ws.recipe_error = None


with st.expander("Share with the room"):
    st.caption("Your configuration, its numbers and the exercises you passed, on everyone's Room page.")
    share_form(ws, "prune")

with st.expander("Recipe: save, load, compare"):
    st.download_button(
        "Download this configuration as a recipe",
        ws.recipe,  # built on click from the session's plans: the sliders' own (they live in a fragment)
        "recipe.yaml",
        "application/yaml",
        key=K("recipe_download"),
        on_click="ignore",
    )
    st.file_uploader(
        "Load a recipe (restores the sliders)",
        type=["yaml", "yml", "json"],
        key=K("recipe_upload"),
        on_change=load_uploaded_recipe,
    )
    if ws.recipe_error:
        st.error(ws.recipe_error, icon="⚠️")
    pair = st.file_uploader(
        "Compare two recipes", type=["yaml", "yml", "json"], accept_multiple_files=True, key=K("recipe_diff")
    )
    if pair and len(pair) == 2:
        with errors_shown():
            a, b = (parse_recipe_text(f.getvalue().decode("utf-8", "replace"), f.name) for f in pair)
            changes = diff_recipes(a, b, session.layers)
            st.caption(f"{pair[0].name} → {pair[1].name}: {len(changes)} layer(s) differ")
            if changes:
                st.dataframe(changes, hide_index=True, width="stretch")
