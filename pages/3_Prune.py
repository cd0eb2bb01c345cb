"""Per-layer sparsity sliders and presets; accuracy, parameters, MACs and size re-evaluated live."""

import streamlit as st

from pruneviz import allocate
from pruneviz.errors import PrunevizError
from pruneviz.importance import FILTER_CRITERIA, WEIGHT_CRITERIA
from pruneviz.masks import nm_eligible, parse_nm
from pruneviz.recipe import diff_recipes, parse_recipe_text, recipe_document, recipe_text, uniform_settings
from pruneviz.session import LayerPlan
from pruneviz.ui import charts
from pruneviz.ui.state import errors_shown, page_header
from pruneviz.ui.widgets import ensure_scores, metrics_row, require_prunable_layers

ws = page_header(
    "Prune", "Drag a slider: only that layer is re-masked and only what depends on it is re-run."
)
session = ws.session
require_prunable_layers(session)
names = session.layer_names
shapes = {x.name: x.shape for x in session.layers}
GRANULARITIES = ["unstructured", "filter", "2:4", "4:8"]
PRESETS = ["uniform", "global threshold", "deeper layers more"]
if ws.sensitivity is not None:  # after a sweep on the Sensitivity page
    PRESETS.append("from sensitivity")


def key(name: str) -> str:
    return f"prune_layer_{name}"


def eligible(name: str, granularity: str) -> bool:
    nm = parse_nm(granularity)
    return nm is None or nm_eligible(shapes[name], nm[1])


st.session_state.setdefault("prune_criterion", "magnitude")
st.session_state.setdefault("prune_granularity", "unstructured")
st.session_state.setdefault("prune_global", 0)
st.session_state.setdefault("prune_preset", PRESETS[0])
for n in names:
    st.session_state.setdefault(key(n), 0)


def criteria_for(granularity: str) -> list[str]:
    return (FILTER_CRITERIA if granularity == "filter" else WEIGHT_CRITERIA).names()


def on_granularity() -> None:
    """Keep the criterion valid for the new granularity (l1 for filters, magnitude for weights)."""
    options = criteria_for(st.session_state.prune_granularity)
    if st.session_state.prune_criterion not in options:
        st.session_state.prune_criterion = "l1" if "l1" in options else "magnitude"


def allocate_sliders() -> None:
    """Spread the global slider over the layers with the chosen preset."""
    target = st.session_state.prune_global / 100
    preset = st.session_state.prune_preset
    if preset == "uniform":
        fractions = allocate.uniform(names, target)
    elif preset == "deeper layers more":
        fractions = allocate.ramp(names, target)
    elif preset == "from sensitivity":
        sizes = {x.name: x.params for x in session.layers}
        curves, base = ws.sensitivity.curves(), ws.sensitivity.baseline_accuracy
        fractions, _ = allocate.greedy_from_curves(curves, base, sizes, sum(sizes.values()), remove=target)
    else:
        granularity = st.session_state.prune_granularity
        kind = "filter" if granularity == "filter" else "unstructured"
        scores = session.scores(st.session_state.prune_criterion, kind)
        fractions = allocate.global_threshold({n: scores[n] for n in names if n in scores}, target)
    for n, f in fractions.items():
        st.session_state[key(n)] = min(99, round(100 * f))


def reset() -> None:
    st.session_state.prune_global = 0
    for n in names:
        st.session_state[key(n)] = 0


def restore_trial() -> None:
    """A click on the scatter restores that configuration's sliders, criterion and granularity."""
    points = st.session_state.prune_pareto.selection.points
    if not points or points[0].get("curve_number", 0) != 0:
        return
    trial = ws.history.trials[points[0]["point_index"]]
    st.session_state.prune_granularity = trial.granularity
    st.session_state.prune_criterion = trial.criterion
    for n, f in trial.config.items():
        st.session_state[key(n)] = round(100 * f)


@st.fragment
def pruning_panel() -> None:
    left, right = st.columns([2, 3], gap="large")
    with left:
        c1, c2 = st.columns(2)
        granularity = c1.selectbox(
            "Granularity",
            GRANULARITIES,
            key="prune_granularity",
            on_change=on_granularity,
            persist_state="session",
        )
        criterion = c2.selectbox(
            "Criterion", criteria_for(granularity), key="prune_criterion", persist_state="session"
        )
        if st.session_state.prune_preset == "global threshold" or criterion != "magnitude":
            ensure_scores(session, criterion, "filter" if granularity == "filter" else "unstructured")
        st.radio(
            "Preset",
            PRESETS,
            key="prune_preset",
            horizontal=True,
            on_change=allocate_sliders,
            persist_state="session",
        )
        st.slider(
            "Global sparsity (%)",
            0,
            99,
            key="prune_global",
            on_change=allocate_sliders,
            persist_state="session",
        )
        st.button("Reset to dense", on_click=reset, icon=":material/restart_alt:", key="prune_reset")
        nm = parse_nm(granularity)
        if nm:
            fixed = 1 - nm[0] / nm[1]
            st.caption(
                f"{granularity}: a layer above 0% keeps {nm[0]} of every {nm[1]} weights ({fixed:.0%})."
            )
        st.markdown("**Per-layer sparsity (%)**")
        for n in names:
            ok = eligible(n, granularity)
            why = None if ok else f"{granularity} needs the input dimension to be a multiple of {nm[1]}"
            st.slider(n, 0, 99, key=key(n), disabled=not ok, help=why, persist_state="session")
    plans = {
        n: LayerPlan(st.session_state[key(n)] / 100, criterion, granularity)
        if eligible(n, granularity)
        else LayerPlan(0.0)
        for n in names
    }
    with errors_shown():
        if session.removal is not None:  # coming back from a structured preview: start from dense
            session.reset()
        if session.apply_layer_plans(plans):
            ws.training = None  # re-masked since the fine-tune: the recipe no longer replays it
    now = session.report()
    config = {n: p.sparsity for n, p in plans.items()}
    current = ws.history.add(config, criterion, granularity, now.accuracy, now.params_nonzero)
    with right:
        metrics_row(now, ws.baseline)
        st.plotly_chart(
            charts.pareto_scatter(ws.history, now.params_total, current),
            key="prune_pareto",
            on_select=restore_trial,
            selection_mode="points",
        )
        st.plotly_chart(
            charts.per_class_delta(ws.baseline.per_class_accuracy, now.per_class_accuracy),
            key="prune_per_class",
        )


pruning_panel()


def load_uploaded_recipe() -> None:
    """Restore every slider from an uploaded recipe (errors are shown; the sliders stay as they were)."""
    upload = st.session_state.prune_recipe_upload
    if upload is None:
        return
    try:
        recipe = parse_recipe_text(upload.getvalue().decode("utf-8", "replace"), upload.name)
        granularity, criterion, fractions = uniform_settings(recipe, session)
    except PrunevizError as err:
        st.session_state.prune_recipe_error = str(err)
        return
    st.session_state.prune_recipe_error = None
    st.session_state.prune_granularity, st.session_state.prune_criterion = granularity, criterion
    for n, f in fractions.items():
        st.session_state[key(n)] = min(99, round(100 * f))


with st.expander("Recipe: save, load, compare"):
    granularity, criterion = st.session_state.prune_granularity, st.session_state.prune_criterion
    plans = {n: LayerPlan(st.session_state[key(n)] / 100, criterion, granularity) for n in names}
    doc = recipe_document(session.model.spec, session.data.spec, plans)
    st.download_button("Download this configuration as a recipe", recipe_text(doc), "recipe.yaml")
    st.file_uploader(
        "Load a recipe (restores the sliders)",
        type=["yaml", "yml", "json"],
        key="prune_recipe_upload",
        on_change=load_uploaded_recipe,
    )
    if st.session_state.get("prune_recipe_error"):
        st.error(st.session_state.prune_recipe_error, icon="⚠️")
    pair = st.file_uploader(
        "Compare two recipes",
        type=["yaml", "yml", "json"],
        accept_multiple_files=True,
        key="prune_recipe_diff",
    )
    if pair and len(pair) == 2:
        with errors_shown():
            a, b = (parse_recipe_text(f.getvalue().decode("utf-8", "replace"), f.name) for f in pair)
            changes = diff_recipes(a, b, names)
            st.caption(f"{pair[0].name} → {pair[1].name}: {len(changes)} layer(s) differ")
            if changes:
                st.dataframe(changes, hide_index=True, width="stretch")
