"""Which weights matter: weight and gradient importance heatmaps, per-filter scores, weight histogram."""

import streamlit as st

from pruneviz.core.attribution import IG_STEPS
from pruneviz.core.granularity import FILTER, UNSTRUCTURED
from pruneviz.core.jobs import Job
from pruneviz.ui.keys import IMPORTANCE as K
from pruneviz.ui.state import page_header
from pruneviz.ui.widgets import follow_job, require_prunable_layers
from pruneviz.views import charts
from pruneviz.views.heatmap import weight_grid
from pruneviz.workflows.allocate import OWL_M, outlier_ratio
from pruneviz.workflows.compare import compare_criteria
from pruneviz.workflows.explain import explain_sample

ws = page_header("Importance", "Bright cells matter more. Click a bar to inspect a layer.")
session = ws.session
require_prunable_layers(session)
names = session.layer_names
# data-driven scores, computed together by one background job on the session's own baseline copy
WANTED = [("gradient", UNSTRUCTURED), ("taylor", UNSTRUCTURED), ("wanda", UNSTRUCTURED), ("taylor", FILTER)]
WANTED.append(("activation", FILTER))
NEEDED = [(c, kind) for c, kind in WANTED if c in session.task.criteria(kind)]
JOB = "importance"
LAYER = K("layer")

if ws.importance_layer in names:  # another page (Sensitivity) asked for this layer
    st.session_state[LAYER], ws.importance_layer = ws.importance_layer, None
if st.session_state.get(LAYER) not in names:
    st.session_state[LAYER] = names[0]


def select_clicked_layer() -> None:
    points = st.session_state[K("overview")].selection.points
    if points and points[0].get("customdata") in names:
        st.session_state[LAYER] = points[0]["customdata"]


st.plotly_chart(
    charts.layer_overview(session.layers, session.layer_sparsity(), st.session_state[LAYER]),
    key=K("overview"),
    on_select=select_clicked_layer,
    selection_mode="points",
)
layer = st.selectbox("Layer", names, key=LAYER)


def compute_all(progress) -> None:
    for i, (criterion, kind) in enumerate(NEEDED):
        session.scores(criterion, kind, progress=lambda f, m, i=i: progress((i + f) / len(NEEDED), m))


ready = all(session.has_scores(c, g) for c, g in NEEDED)
job = ws.jobs.get(JOB)
if not ready and job is None:
    job = ws.jobs[JOB] = Job(JOB, compute_all)


@st.fragment(run_every=0.5)
def job_progress() -> None:
    """Poll the background job; the rest of the page stays usable meanwhile."""
    if job.done:
        st.rerun()
    st.progress(job.fraction, text=f"Computing gradient importance in the background: {job.message}")


if job is not None and job.error:
    st.error(f"Gradient importance failed: {job.error}", icon="⚠️")
    if st.button("Try again", key=K("retry")):
        del ws.jobs[JOB]
        st.rerun()
elif not ready:
    job_progress()

weight_scores = session.scores("magnitude")[layer]
tabs = st.tabs(["Weight |w|", "Gradient |∂L/∂w|", "Taylor |w·∂L/∂w|", "Wanda |w|·‖x‖"])
with tabs[0]:
    st.plotly_chart(charts.heatmap(weight_grid(weight_scores), f"{layer}: weight magnitude"))
for tab, criterion in zip(tabs[1:3], ["gradient", "taylor"]):
    with tab:
        if session.has_scores(criterion):
            grid = weight_grid(session.scores(criterion)[layer])
            st.plotly_chart(charts.heatmap(grid, f"{layer}: {criterion} importance"))
        else:
            st.info("Gradients are being computed (see the progress bar above).")
with tabs[3]:
    if session.has_scores("wanda"):
        st.caption(
            "Each weight's magnitude times the size of the input feature it multiplies over the calibration "
            "data (Wanda). Columns that light up here but not in |w| are large input features: magnitude "
            "pruning would cut weights that carry them."
        )
        left, right = st.columns(2)
        left.plotly_chart(charts.heatmap(weight_grid(weight_scores), f"{layer}: |w|"), key=K("wanda_w"))
        metric = session.input_weighted()
        right.plotly_chart(charts.heatmap(weight_grid(metric[layer]), f"{layer}: |w|·‖x‖"), key=K("wanda_wx"))
        ratios = {n: outlier_ratio(m) for n, m in metric.items()}
        st.plotly_chart(charts.outlier_bars(session.layers, ratios, OWL_M), key=K("outliers"))
    else:
        st.info("Input statistics are being computed (see the progress bar above).")

left, right = st.columns(2)
with left:
    filters = {c: session.scores(c, FILTER)[layer] for c in ("l1", "l2")}
    for c in ("taylor", "activation"):
        if session.has_scores(c, FILTER):
            filters[c] = session.scores(c, FILTER)[layer]
    st.plotly_chart(charts.filter_bars(filters))
with right:
    st.plotly_chart(charts.weight_histogram(session.dense_weights[layer], session.masks.get(layer)))
    st.caption("Weights the current mask prunes are coral; the dashed lines mark the largest pruned |w|.")

st.subheader("Criteria compared")
st.caption(
    "Each layer pruned alone by each criterion: how many of the pruned weights two criteria share "
    "(Jaccard: 1 = the same weights; two random masks at 50% share about a third), and what each choice "
    "costs. Where criteria part ways, the right-hand map says which was right."
)
available = session.task.criteria(UNSTRUCTURED)
with st.form(K("compare_form")):
    c1, c2 = st.columns([3, 1])
    chosen = c1.multiselect(
        "Criteria",
        available,
        default=[c for c in ("magnitude", "wanda", "ria") if c in available],
        key=K("compare_criteria"),
    )
    level = c2.slider("Sparsity (%)", 5, 95, 50, 5, key=K("compare_sparsity"))
    asked = st.form_submit_button("Compare", key=K("compare_run"))
COMPARE = "compare"
running = ws.jobs.get(COMPARE)
if asked and (running is None or running.done):
    if len(chosen) < 2:
        st.warning("Choose at least two criteria to compare.")
    else:
        scratch, stamp = session.fork(), session.stamp()  # the dense weights on their own copy
        ws.jobs[COMPARE] = Job(
            COMPARE,
            lambda progress: compare_criteria(scratch, tuple(chosen), level / 100, UNSTRUCTURED, progress),
            current=lambda: session.holds(stamp),
        )


def adopt_comparison(job):
    ws.keep(comparison=job.result)


follow_job(ws, COMPARE, "The comparison", K, adopt_comparison)
if ws.comparison is not None:
    st.plotly_chart(charts.criteria_overlap(ws.comparison), key=K("compare_chart"))
    with st.expander("The table"):
        st.dataframe(ws.comparison.rows(), hide_index=True, width="stretch")

if session.task.explains_inputs:
    st.subheader("What the model looks at")
    left, right = st.columns([1, 3])
    sample = left.number_input(
        "Validation sample",
        0,
        len(session.data) - 1,
        0,
        key=K("sample"),
        help="index into the validation set",
    )
    left.caption(
        "Integrated Gradients (Captum) of the sample's true class, for the dense model and for the model as "
        "pruned now. Where the pruned map differs, pruning changed what the decision rests on."
    )
    # Two models x IG_STEPS forward and backward passes: drawn at once for small models, on request else
    cheap = session.macs_dense * IG_STEPS * 6 < 1e10
    if left.toggle("Draw the attributions", value=cheap, key=K("attribute")):
        with right, st.spinner("Attributing the sample…"):
            found = explain_sample(session, int(sample))
            right.plotly_chart(charts.input_attributions(found), key=K("attribution"))
