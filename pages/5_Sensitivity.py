"""Sensitivity: how much each layer can lose, measured layer by layer; and sparsities chosen from it."""

import pandas as pd
import streamlit as st

from pruneviz.allocate import Target, auto_allocate
from pruneviz.humanize import percent, points
from pruneviz.importance import FILTER_CRITERIA, WEIGHT_CRITERIA
from pruneviz.jobs import Job
from pruneviz.sensitivity import DEFAULT_LEVELS, LiveSweep, SweepSpec, estimate_correlation
from pruneviz.ui import charts
from pruneviz.ui.state import errors_shown, page_header, scratch_session, sweep_cache
from pruneviz.ui.widgets import follow_job, require_prunable_layers

ws = page_header("Sensitivity", "Each layer pruned alone, level by level: which layers can lose how much.")
session = ws.session
require_prunable_layers(session)
LEVEL_SETS = {
    "every 5% (20 levels)": DEFAULT_LEVELS,
    "every 10% (10 levels)": tuple(round(0.1 * i, 1) for i in range(10)),
}

with st.form("sens_form"):
    c1, c2, c3 = st.columns(3)
    granularity = c1.selectbox("Granularity", ["unstructured", "filter"], key="sens_granularity")
    criteria = FILTER_CRITERIA.names() if granularity == "filter" else WEIGHT_CRITERIA.names()
    criterion = c2.selectbox(
        "Criterion",
        criteria,
        index=criteria.index("l1" if granularity == "filter" else "magnitude"),
        key="sens_criterion",
    )
    levels = c3.selectbox("Levels", list(LEVEL_SETS), key="sens_levels")
    budget = st.number_input(
        "Activation cache budget (MiB)",
        16,
        65536,
        2048,
        step=256,
        key="sens_budget",
        help="Cached activations let each step re-run only the layers after the changed one; above the "
        "budget the sweep runs full forwards (same results, slower).",
    )
    run = st.form_submit_button("Run sweep", type="primary")

spec = SweepSpec(LEVEL_SETS[levels], criterion, granularity)
job = ws.jobs.get("sweep")
if run and (job is None or job.done):
    cached = sweep_cache().get((ws.choice, spec))
    if cached is not None:
        ws.sensitivity, ws.estimate = cached
    else:
        live, scratch = LiveSweep(spec), scratch_session(ws, int(budget) * 2**20)  # never the user's masks
        job = ws.jobs["sweep"] = Job("sweep", lambda progress: live.run(scratch, progress))
        ws.live = live


def draw_live(job) -> None:
    """The curves measured so far over the dashed estimates."""
    live = ws.live
    measured = live.result.curves("loss") if live.result else {}
    base = live.result.baseline_loss if live.result else 0.0
    delta = {layer: {s: v - base for s, v in c.items()} for layer, c in measured.items()}
    st.plotly_chart(charts.sensitivity_lines(delta, base, "loss", live.estimate), key="sens_live")


finished = follow_job(ws, "sweep", "The sweep", draw_live, stop_label="Stop", keep_stopped=True)
if finished is not None and finished.cancelled:
    kept = ws.live.result.finished_layers() if ws.live.result else None
    if kept and kept.rows:
        ws.sensitivity, ws.estimate = kept, ws.live.estimate
        st.warning(
            f"Stopped: the {len(kept.curves())} of {len(session.layer_names)} layers swept at every level "
            "are kept below (a stopped sweep is not cached for others)."
        )
    else:
        st.warning("Stopped before any layer was swept at every level; there is nothing to keep.")
elif finished is not None:
    ws.sensitivity, ws.estimate = finished.result, ws.live.estimate
    sweep_cache()[(ws.choice, finished.result.spec)] = (ws.sensitivity, ws.estimate)

result = ws.sensitivity
if result is None:
    st.info("Run a sweep to see each layer's curve. A first-order Taylor estimate appears at once, dashed.")
    st.stop()


def open_clicked_layer() -> None:
    points_ = st.session_state.sens_lines.selection.points
    layer = points_[0].get("customdata") if points_ else None
    if layer in session.layer_names:
        st.session_state.imp_layer = layer
        st.session_state.sens_open_layer = True


measured = result.curves()
st.plotly_chart(
    charts.sensitivity_lines(measured, result.baseline_accuracy),
    key="sens_lines",
    on_select=open_clicked_layer,
    selection_mode="points",
)
if st.session_state.pop("sens_open_layer", False):
    st.switch_page("pages/2_Importance.py")
estimate = ws.estimate
if estimate:
    loss_curves = {
        layer: {s: v - result.baseline_loss for s, v in c.items()}
        for layer, c in result.curves("loss").items()
    }
    st.plotly_chart(
        charts.sensitivity_lines(loss_curves, result.baseline_loss, "loss", estimate), key="sens_loss"
    )
    st.caption(
        f"Dashed: first-order Taylor estimate. Rank correlation with the measurement: "
        f"{estimate_correlation(result, estimate):.2f} (Spearman)."
    )
st.plotly_chart(charts.sensitivity_heatmap(measured))
c1, c2 = st.columns(2)
c1.download_button("Download CSV", result.to_csv(), "sensitivity.csv", "text/csv", key="sens_csv")
c2.download_button("Download JSON", result.to_json(), "sensitivity.json", "application/json", key="sens_json")

st.subheader("Largest sparsity per layer within an accuracy drop")
drop = st.slider("Allowed drop (accuracy points)", 0.0, 5.0, 1.0, 0.25, key="sens_drop") / 100
within = result.max_sparsity_within(drop)
st.dataframe(
    pd.DataFrame({"layer": list(within), "max sparsity": [percent(s, 0) for s in within.values()]}),
    hide_index=True,
    width="stretch",
)


def send_to_prune(sparsity: dict[str, float]) -> None:
    st.session_state.prune_granularity = result.spec.granularity
    st.session_state.prune_criterion = result.spec.criterion
    for layer, s in sparsity.items():
        st.session_state[f"prune_layer_{layer}"] = min(99, round(100 * s))
    st.switch_page("pages/3_Prune.py")


if st.button("Send these sparsities to the Prune page", key="sens_send"):
    send_to_prune(within)

st.subheader("Automatic allocation")
c1, c2 = st.columns(2)
goal = c1.radio(
    "Target", ["remove % of parameters", "remove % of MACs", "max accuracy drop (points)"], key="sens_goal"
)
value = c2.number_input("Value", 0.1, 99.0, 50.0 if "remove" in goal else 1.0, key="sens_goal_value")
if st.button("Allocate and verify", type="primary", key="sens_auto"):
    fraction = value / 100
    target = Target(
        params=fraction if "parameters" in goal else None,
        macs=fraction if "MACs" in goal else None,
        max_drop=fraction if "drop" in goal else None,
    )
    with errors_shown(), st.spinner("Allocating and verifying on the real model…"):
        st.session_state.sens_auto_result = auto_allocate(session, result, target)
auto = st.session_state.get("sens_auto_result")
if auto is not None:
    cols = st.columns(4)
    cols[0].metric("Predicted accuracy", percent(auto.predicted_accuracy))
    cols[1].metric(
        "Measured accuracy",
        percent(auto.measured_accuracy),
        points(auto.measured_accuracy - result.baseline_accuracy),
    )
    cols[2].metric("Parameters removed", percent(auto.removed_params))
    cols[3].metric("Verification rounds", auto.rounds)
    st.dataframe(
        pd.DataFrame(
            {
                "allocation": ["this (from sensitivity)", *auto.baselines],
                "accuracy at the same parameter count": [
                    percent(auto.measured_accuracy),
                    *map(percent, auto.baselines.values()),
                ],
            }
        ),
        hide_index=True,
    )
    if st.button("Open this allocation on the Prune page", key="sens_auto_send"):
        send_to_prune(auto.sparsity)
