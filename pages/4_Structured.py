"""Structured pruning: remove whole filters for real, see what shrinks with them, measure the speed-up."""

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from pruneviz.export import export_model
from pruneviz.humanize import count, percent, points
from pruneviz.jobs import Job
from pruneviz.latency import compare_latency, unstructured_twin
from pruneviz.layers import module_macs, prunable_modules
from pruneviz.metrics import param_counts
from pruneviz.structured import STRUCTURED_CRITERIA, StructuredPlan, classifier_name, coupled_layers
from pruneviz.ui import charts
from pruneviz.ui.state import errors_shown, page_header
from pruneviz.ui.widgets import follow_job, info_metric, require_prunable_layers

ws = page_header(
    "Structured",
    "Remove whole filters: the preview zeroes exactly what would go (replacing the Prune page's masks); "
    "then build the smaller model.",
)
session = ws.session
require_prunable_layers(session)
names = session.layer_names
REMOVALS_KEPT = 8  # recent plans kept per session, so moving a slider back is instant
example = session.data.x[:1]
if "st_pinned" not in st.session_state:
    with errors_shown():
        head = classifier_name(session.calibration().model, example)
        st.session_state.st_pinned = [head] if head in names else []
st.session_state.setdefault("st_alloc", "per layer")
st.session_state.setdefault("st_criterion", "l1")
st.session_state.setdefault("st_global", 0)
for n in names:
    st.session_state.setdefault(f"st_layer_{n}", 0)


def current_plan() -> StructuredPlan:
    pinned = tuple(st.session_state.st_pinned)
    round_to = int(st.session_state.get("st_round", 0)) or None
    criterion = st.session_state.get("st_criterion", "l1")
    if st.session_state.st_alloc == "global":
        return StructuredPlan(
            global_ratio=st.session_state.st_global / 100,
            criterion=criterion,
            round_to=round_to,
            pinned=pinned,
        )
    ratios = {n: st.session_state[f"st_layer_{n}"] / 100 for n in names if n not in pinned}
    return StructuredPlan(
        ratios={n: r for n, r in ratios.items() if r > 0},
        criterion=criterion,
        round_to=round_to,
        pinned=pinned,
    )


@st.fragment
def preview_panel() -> None:
    left, right = st.columns([2, 3], gap="large")
    with left:
        c1, c2 = st.columns(2)
        c1.selectbox("Criterion", STRUCTURED_CRITERIA.names(), key="st_criterion", persist_state="session")
        c2.number_input(
            "Round channels to multiples of",
            0,
            128,
            0,
            key="st_round",
            help="0 = no rounding",
            persist_state="session",
        )
        st.multiselect("Pinned (never touched)", names, key="st_pinned", persist_state="session")
        st.radio(
            "Allocation", ["per layer", "global"], key="st_alloc", horizontal=True, persist_state="session"
        )
        if st.session_state.st_alloc == "global":
            st.slider(
                "Filters removed, ranked across all layers (%)",
                0,
                90,
                key="st_global",
                persist_state="session",
            )
        else:
            st.markdown("**Filters removed per layer (%)**")
            for n in names:
                st.slider(
                    n,
                    0,
                    90,
                    key=f"st_layer_{n}",
                    disabled=n in st.session_state.st_pinned,
                    persist_state="session",
                )
    plan = current_plan()
    removal = None
    with errors_shown():
        key = repr(plan)
        if key not in ws.removals:
            with st.spinner("Finding the coupled channels…"):
                ws.removals[key] = session.plan_removal(plan)
            while len(ws.removals) > REMOVALS_KEPT:  # each holds a mask per parameter: bound the memory
                ws.removals.pop(next(iter(ws.removals)))
        removal = ws.removals[key]
        # an empty plan leaves the Prune page's masks alone; any real plan replaces them
        if session.removal is not removal and (removal.history or session.removal is not None):
            session.preview_removal(removal)
    now = session.report()
    params, macs = session.predicted_counts()
    with right:
        cols = st.columns(3)
        cols[0].metric(
            "Accuracy (preview)", percent(now.accuracy), points(now.accuracy - ws.baseline.accuracy)
        )
        info_metric(
            cols[1],
            "Parameters after removal",
            count(params),
            f"{percent(params / ws.baseline.params_total)} of dense",
        )
        info_metric(
            cols[2], "MACs after removal", count(macs), f"{percent(macs / ws.baseline.macs_dense)} of dense"
        )
        if removal is not None:
            rows = []
            for layer in session.layers:
                removed = removal.removed.get(f"{layer.name}.weight")
                out = layer.shape[0]
                gone = int(removed.flatten(1).all(1).sum()) if removed is not None else 0
                rows.append({"layer": layer.name, "filters before": out, "after": out - gone})
            st.dataframe(
                pd.DataFrame(rows), hide_index=True, width="stretch", height=min(400, 36 * len(rows) + 40)
            )
            asked = plan.global_ratio or any(plan.ratios.values())
            if asked and not removal.history:
                st.warning(
                    f"Criterion {plan.criterion} selects nothing to remove here "
                    "(bn_scale, for one, only scores layers followed by BatchNorm)."
                )
            for note in removal.skipped:
                st.caption(f"Kept intact — {note} (removal would change normalisation statistics).")


preview_panel()

st.subheader("What shrinks together")
layer = st.selectbox("Layer", names, key="st_group_layer")
with errors_shown():
    groups = st.session_state.setdefault("st_groups", {})  # tracing the graph on every rerun is slow
    key = (session.model.spec, layer)
    if key not in groups:
        groups[key] = coupled_layers(session.calibration().model, example, layer)
    group = groups[key]
    st.caption(f"Removing an output channel of `{layer}` also removes it from these {len(group)} layers:")
    st.dataframe(pd.DataFrame(group, columns=["layer", "type", "channels"]), hide_index=True, width="stretch")

st.subheader("Apply")
if st.button("Build the smaller model", type="primary", key="st_apply"):
    with errors_shown(), st.spinner("Removing channels…"):
        ws.shrunk = session.shrunk()
        st.session_state.pop("st_latency", None)
if ws.shrunk is not None:
    small = ws.shrunk
    params_small, _ = param_counts(small)
    macs_small, _ = module_macs(small, example)
    params_pred, macs_pred = session.predicted_counts()
    check = (
        "as predicted"
        if (params_small, macs_small) == (params_pred, macs_pred)
        else "differs from the preview"
    )
    st.success(f"{count(params_small)} parameters, {count(macs_small)} MACs per sample — {check}.")
    old = {n: tuple(m.weight.shape) for n, m in prunable_modules(session.calibration().model).items()}
    new = {n: tuple(m.weight.shape) for n, m in prunable_modules(small).items()}
    shapes = [
        {"layer": n, "before": "×".join(map(str, old[n])), "after": "×".join(map(str, new[n]))}
        for n in old
        if n in new
    ]
    st.dataframe(pd.DataFrame(shapes), hide_index=True, width="stretch")

    if st.button("Measure latency (batch 1 and 64)", key="st_measure") and "latency" not in ws.jobs:
        dense = session.calibration().model
        fraction = 1 - params_small / ws.baseline.params_total
        models = {"dense": dense, "structured": small, "unstructured": unstructured_twin(dense, fraction)}
        shape, device = session.data.sample_shape, session.device
        ws.jobs["latency"] = Job(
            "latency", lambda progress: compare_latency(models, shape, (1, 64), device, progress=progress)
        )
        st.session_state.pop("st_latency", None)
    finished = follow_job(ws, "latency", "Latency measurement")
    if finished is not None:
        st.session_state.st_latency = finished.result
    if st.session_state.get("st_latency"):
        ms = st.session_state.st_latency
        ratio = {k: {b: ms["dense"][b] / ms[k][b] for b in ms[k]} for k in ("structured", "unstructured")}
        macs_ratio = {
            "structured": ws.baseline.macs_dense / macs_small,
            "unstructured": ws.baseline.params_total / max(params_small, 1),
        }
        st.plotly_chart(charts.speedup_bars(macs_ratio, ratio))
        st.dataframe(
            pd.DataFrame({k: {f"batch {b}": f"{v:.2f} ms" for b, v in per.items()} for k, per in ms.items()})
        )
        st.caption(
            "Unstructured: the same share of weights zeroed by magnitude, in dense shapes. Its MACs ratio "
            "is what sparse kernels could save; dense kernels still do all the work."
        )

    meta = session.export_meta()
    cols = st.columns(3)
    for col, (fmt, suffix) in zip(cols, [("state_dict", ".pt"), ("torchscript", ".ts"), ("onnx", ".onnx")]):
        if col.button(f"Prepare {fmt} download", key=f"st_export_{fmt}"):
            with errors_shown(), st.spinner(f"Exporting {fmt}…"), tempfile.TemporaryDirectory() as tmp:
                path = export_model(small, Path(tmp) / f"pruned{suffix}", fmt, meta)
                st.session_state[f"st_file_{fmt}"] = path.read_bytes()
        if f"st_file_{fmt}" in st.session_state:
            col.download_button(
                f"Download pruned{suffix}",
                st.session_state[f"st_file_{fmt}"],
                file_name=f"pruned{suffix}",
                key=f"st_download_{fmt}",
            )
