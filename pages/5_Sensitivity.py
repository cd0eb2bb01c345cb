"""Sensitivity: how much each layer can lose, measured layer by layer; and sparsities chosen from it."""

import pandas as pd
import streamlit as st

from pruneviz.core.granularity import granularity, rankable
from pruneviz.core.humanize import percent
from pruneviz.core.jobs import Job
from pruneviz.ui.keys import SENSITIVITY as K
from pruneviz.ui.state import SliderRequest, errors_shown, page_header, policy, sweep_cache
from pruneviz.ui.widgets import Note, follow_job, require_prunable_layers, task_metric
from pruneviz.views import charts
from pruneviz.workflows.allocate import Target, auto_allocate
from pruneviz.workflows.distributed import RayExecutor
from pruneviz.workflows.sensitivity import DEFAULT_LEVELS, LiveSweep, SweepSpec, estimate_correlation

ws = page_header("Sensitivity", "Each layer pruned alone, level by level: which layers can lose how much.")
session = ws.session
metric = session.task.metric
require_prunable_layers(session)
LEVEL_SETS = {
    "every 5% (20 levels)": DEFAULT_LEVELS,
    "every 10% (10 levels)": tuple(round(0.1 * i, 1) for i in range(10)),
}
# Drops are asked for in points for a fractional metric (accuracy) and in its own units otherwise.
UNIT, SCALE = ("points", 100) if metric.is_fraction else (metric.label.lower(), 1)

with st.form(K("form")):
    c1, c2, c3 = st.columns(3)
    name = c1.selectbox("Granularity", [g.name for g in rankable()], key=K("granularity"))
    kind = granularity(name)
    criteria = session.task.criteria(kind, ranking=True)
    criterion = c2.selectbox(
        "Criterion", criteria, index=criteria.index(kind.default_criterion), key=K("criterion")
    )
    levels = c3.selectbox("Levels", list(LEVEL_SETS), key=K("levels"))
    c1, c2 = st.columns(2)
    adaptive = c1.radio(
        "Points",
        ["adaptive: the crossing of a drop", "exhaustive: every level"],
        key=K("mode"),
        help="Adaptive measures each layer at both ends and the middle, then bisects where its curve "
        "crosses the drop: about a quarter of the points, the same largest sparsity per layer.",
    ).startswith("adaptive")
    tolerance = c2.number_input(
        f"Drop the adaptive sweep looks for ({UNIT})", 0.05, 50.0, 1.0, 0.25, key=K("tolerance")
    )
    budget = st.number_input(
        "Activation cache budget (MiB)",
        16,
        65536,
        2048,
        step=256,
        key=K("budget"),
        help="Cached activations let each step re-run only the layers after the changed one; above the "
        "budget the sweep runs full forwards (same results, slower).",
    )
    cols = st.columns(4)
    run = cols[0].form_submit_button("Run sweep", type="primary", key=K("run"))
    cluster = policy().ray_address
    on_cluster = cluster is not None and cols[1].form_submit_button(
        "Run on the cluster", key=K("run_ray"), help=f"Ray actors on the cluster at {cluster}, one per CPU"
    )

spec = SweepSpec(LEVEL_SETS[levels], criterion, kind, tolerance / SCALE if adaptive else None)
job = ws.jobs.get("sweep")
# Sweeps of the loaded weights are the same for every session: the server keeps them (a fine-tuned
# session sweeps its own weights, for itself).
shared = session.origin is None
if (run or on_cluster) and (job is None or job.done):
    cached = sweep_cache().get((ws.choice, spec)) if shared else None  # the same rows wherever measured
    if cached is not None:
        ws.keep(sensitivity=cached[0], estimate=cached[1])
    else:  # the dense weights on their own copy: never the user's masks
        executor = RayExecutor(cluster) if on_cluster else None
        live = LiveSweep(spec, executor)
        scratch = session.fork(memory_budget=int(budget) * 2**20)
        stamp = session.stamp()
        job = ws.jobs["sweep"] = Job(
            "sweep", lambda progress: live.run(scratch, progress), current=lambda: session.holds(stamp)
        )
        ws.live = live


def draw_live(job) -> None:
    """The curves measured so far over the dashed estimates."""
    live = ws.live
    delta = live.result.loss_changes() if live.result else {}
    chart = charts.sensitivity_lines(delta, 0.0, metric, True, live.estimate, live.spec.adaptive)
    st.plotly_chart(chart, key=K("live"))


def adopt(job) -> Note | None:
    """A finished sweep, or what a stopped one measured of whole layers."""
    if not job.cancelled:
        ws.keep(sensitivity=job.result, estimate=ws.live.estimate)
        if shared:
            sweep_cache()[(ws.choice, job.result.spec)] = (ws.sensitivity, ws.estimate)
        return None
    kept = ws.live.result.finished_layers() if ws.live.result else None
    if not (kept and kept.rows):
        return "warning", "Stopped before any layer was swept to the end; there is nothing to keep."
    ws.keep(sensitivity=kept, estimate=ws.live.estimate)
    return "warning", (
        f"Stopped: the {len(kept.curves())} of {len(session.layer_names)} layers swept to the end "
        "are kept below (a stopped sweep is not cached for others)."
    )


follow_job(ws, "sweep", "The sweep", K, adopt, draw_live, stop_label="Stop", keep_stopped=True)

result = ws.sensitivity
if result is None:
    st.info("Run a sweep to see each layer's curve. A first-order Taylor estimate appears at once, dashed.")
    st.stop()


def open_clicked_layer() -> None:
    points_ = st.session_state[K("lines")].selection.points
    layer = points_[0].get("customdata") if points_ else None
    if layer in session.layer_names:
        ws.importance_layer = layer


measured = result.curves()
interpolated = result.spec.adaptive
tolerated = metric.change(result.spec.drop, 0.0).lstrip("+") if interpolated else ""  # "1.0 pt"
if interpolated:
    points, every = len(result.rows), result.exhaustive_points()
    st.caption(
        f"Adaptive sweep for a drop of {tolerated}: {points} of {every} points "
        f"measured ({points / every:.0%}); each layer's largest sparsity within that drop is exact where "
        "its curve is monotone up to the crossing."
    )
st.plotly_chart(
    charts.sensitivity_lines(measured, result.baseline_score, metric, interpolated=interpolated),
    key=K("lines"),
    on_select=open_clicked_layer,
    selection_mode="points",
)
if ws.importance_layer is not None:
    st.switch_page("pages/2_Importance.py")
estimate = ws.estimate
if estimate:
    st.plotly_chart(
        charts.sensitivity_lines(result.loss_changes(), 0.0, metric, True, estimate, interpolated),
        key=K("loss"),
    )
    st.caption(
        f"Dashed: first-order Taylor estimate. Rank correlation with the measurement: "
        f"{estimate_correlation(result, estimate):.2f} (Spearman)."
    )
st.plotly_chart(charts.sensitivity_heatmap(measured, metric))
c1, c2 = st.columns(2)
c1.download_button("Download CSV", result.to_csv(), "sensitivity.csv", "text/csv", key=K("csv"))
c2.download_button("Download JSON", result.to_json(), "sensitivity.json", "application/json", key=K("json"))

st.subheader(f"Largest sparsity per layer within a {metric.label.lower()} drop")
drop = st.slider(f"Allowed drop ({UNIT})", 0.0, 5.0, 1.0, 0.25, key=K("drop")) / SCALE
within = result.max_sparsity_within(drop)
table = {"layer": list(within), "max sparsity": [percent(s, 0) for s in within.values()]}
if interpolated:
    table["points measured"] = [result.points()[n] for n in within]
    if abs(drop - result.spec.drop) > 1e-12:
        st.caption(
            f"The sweep bisected for a drop of {tolerated}: for another drop these "
            "sparsities rest on the measured points only (run the sweep for this drop to pin them down)."
        )
st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")


def send_to_prune(request: SliderRequest) -> None:
    ws.prune_request = request
    st.switch_page("pages/3_Prune.py")


if st.button("Send these sparsities to the Prune page", key=K("send")):
    send_to_prune(SliderRequest(result.spec.granularity, result.spec.criterion, within))

st.subheader("Automatic allocation")
GOALS = ["remove % of parameters", "remove % of MACs", f"max {metric.label.lower()} drop ({UNIT})"]
c1, c2 = st.columns(2)
goal = c1.radio("Target", GOALS, key=K("goal"))
value = c2.number_input("Value", 0.1, 99.0, 50.0 if goal != GOALS[2] else 1.0, key=K("goal_value"))
if st.button("Allocate and verify", type="primary", key=K("auto")):
    target = Target(
        params=value / 100 if goal == GOALS[0] else None,
        macs=value / 100 if goal == GOALS[1] else None,
        max_drop=value / SCALE if goal == GOALS[2] else None,
    )
    with errors_shown(), st.spinner("Allocating and verifying on a copy of the model…"):
        ws.keep(allocation=auto_allocate(session, result, target))
auto = ws.allocation
if auto is not None:
    cols = st.columns(4)
    cols[0].metric(f"Predicted {metric.label.lower()}", metric.format(auto.predicted))
    task_metric(cols[1], metric, auto.measured, result.baseline_score, f"Measured {metric.label.lower()}")
    cols[2].metric("Parameters removed", percent(auto.removed_params))
    cols[3].metric("Verification rounds", auto.rounds)
    st.dataframe(
        pd.DataFrame(
            {
                "allocation": ["this (from sensitivity)", *auto.baselines],
                f"{metric.label.lower()} at the same parameter count": [
                    metric.format(auto.measured),
                    *map(metric.format, auto.baselines.values()),
                ],
            }
        ),
        hide_index=True,
    )
    if st.button("Open this allocation on the Prune page", key=K("auto_send")):
        send_to_prune(
            SliderRequest(auto.granularity, auto.criterion, auto.sparsity)
        )  # the sweep it came from
