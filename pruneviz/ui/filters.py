"""The Structured page for a model whose filters (channels) Torch-Pruning removes: per-layer or global
filter ratios, criterion, rounding, pinned layers, the exact masked preview, what shrinks together, the
built model, its latency, its downloads and its recovery."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from pruneviz.core.humanize import count
from pruneviz.core.jobs import Job
from pruneviz.core.structure import classifier_name, coupled_layers
from pruneviz.io.formats import export_model
from pruneviz.ui.keys import STRUCTURED as K
from pruneviz.ui.recover_shrunk import recovery_form
from pruneviz.ui.state import Workspace, errors_shown
from pruneviz.ui.widgets import Note, build_button, follow_job, preview_plan, removal_metrics
from pruneviz.views import charts
from pruneviz.workflows.apply import structured_speedup
from pruneviz.workflows.structured import STRUCTURED_CRITERIA, StructuredPlan


def filters_panel(ws: Workspace) -> None:
    """The whole page for a model whose filters Torch-Pruning removes."""
    session = ws.session
    with session.calibration().exclusive() as dense:
        head = classifier_name(dense, session.example)
    names = [n for n in session.layer_names if n != head]  # the classifier is always kept whole
    st.session_state.setdefault(K("alloc"), "per layer")
    st.session_state.setdefault(K("criterion"), "l1")
    st.session_state.setdefault(K("global"), 0)
    st.session_state.setdefault(K("pinned"), [])
    for n in names:
        st.session_state.setdefault(K.layer(n), 0)
    if isinstance(ws.structure_request, StructuredPlan):  # a loaded recipe: the widgets show its plan
        show(ws.structure_request, names)
        ws.structure_request = None
    preview_panel(ws, names, head)
    coupled(ws)
    built_model(ws)


def show(plan: StructuredPlan, names: list[str]) -> None:
    """Set this panel's widgets to ``plan``."""
    st.session_state[K("alloc")] = "global" if plan.global_ratio is not None else "per layer"
    st.session_state[K("global")] = round(100 * (plan.global_ratio or 0.0))
    st.session_state[K("criterion")] = plan.criterion
    st.session_state[K("round")] = plan.round_to or 0
    st.session_state[K("pinned")] = [n for n in plan.pinned if n in names]
    for n in names:
        st.session_state[K.layer(n)] = round(100 * plan.ratios.get(n, 0.0))


def current_plan(names: list[str]) -> StructuredPlan:
    """The plan the widgets describe."""
    pinned = tuple(st.session_state[K("pinned")])
    round_to = int(st.session_state.get(K("round"), 0)) or None
    criterion = st.session_state[K("criterion")]
    if st.session_state[K("alloc")] == "global":
        ratio = st.session_state[K("global")] / 100
        return StructuredPlan(global_ratio=ratio, criterion=criterion, round_to=round_to, pinned=pinned)
    ratios = {n: st.session_state[K.layer(n)] / 100 for n in names if n not in pinned}
    return StructuredPlan(
        ratios={n: r for n, r in ratios.items() if r > 0},
        criterion=criterion,
        round_to=round_to,
        pinned=pinned,
    )


@st.fragment
def preview_panel(ws: Workspace, names: list[str], head: str | None) -> None:
    session = ws.session
    left, right = st.columns([2, 3], gap="large")
    with left:
        c1, c2 = st.columns(2)
        c1.selectbox("Criterion", STRUCTURED_CRITERIA.names(), key=K("criterion"), persist_state="session")
        c2.number_input(
            "Round channels to multiples of",
            0,
            128,
            0,
            key=K("round"),
            help="0 = no rounding",
            persist_state="session",
        )
        st.multiselect("Pinned (never touched)", names, key=K("pinned"), persist_state="session")
        if head:
            st.caption(
                f"`{head}` is the classifier and is always kept whole: removing its outputs removes classes."
            )
        st.radio(
            "Allocation", ["per layer", "global"], key=K("alloc"), horizontal=True, persist_state="session"
        )
        if st.session_state[K("alloc")] == "global":
            st.slider(
                "Filters removed, ranked across all layers (%)",
                0,
                90,
                key=K("global"),
                persist_state="session",
            )
        else:
            st.markdown("**Filters removed per layer (%)**")
            for n in names:
                pinned = n in st.session_state[K("pinned")]
                st.slider(n, 0, 90, key=K.layer(n), disabled=pinned, persist_state="session")
    plan = current_plan(names)
    removal = preview_plan(ws, plan, "Finding the coupled channels…", lambda: session.plan_removal(plan))
    with right:
        removal_metrics(ws)
        if removal is not None:
            rows = [
                {"layer": name, "filters before": before, "after": after}
                for name, before, after in removal.filters(session.layers)
            ]
            st.dataframe(
                pd.DataFrame(rows), hide_index=True, width="stretch", height=min(400, 36 * len(rows) + 40)
            )
            if not plan.empty and removal.empty:
                st.warning(
                    f"Criterion {plan.criterion} selects nothing to remove here "
                    "(bn_scale, for one, only scores layers followed by BatchNorm)."
                )
            for note in removal.skipped:
                st.caption(f"Kept intact — {note} (removal would change normalisation statistics).")


def coupled(ws: Workspace) -> None:
    """The layers that shrink with a chosen one (its dependency group)."""
    session = ws.session
    st.subheader("What shrinks together")
    layer = st.selectbox("Layer", session.layer_names, key=K("group_layer"))
    with errors_shown():
        if layer not in ws.groups:  # tracing the graph on every rerun is slow
            with session.calibration().exclusive() as dense:
                ws.groups[layer] = coupled_layers(dense, session.example, layer)
        group = ws.groups[layer]
        st.caption(f"Removing an output channel of `{layer}` also removes it from these {len(group)} layers:")
        st.dataframe(
            pd.DataFrame(group, columns=["layer", "type", "channels"]), hide_index=True, width="stretch"
        )


def built_model(ws: Workspace) -> None:
    """Build the smaller model; its shapes, latency, downloads and recovery."""
    session = ws.session
    st.subheader("Apply")
    build_button(ws, K("apply"), "filters to remove")
    if ws.shrunk is None:
        return
    built = ws.shrunk
    check = "as predicted" if built.as_predicted else "differs from the preview"
    st.success(f"{count(built.params)} parameters, {count(built.macs)} MACs per sample — {check}.")
    shapes = [
        {"layer": n, "before": "×".join(map(str, a)), "after": "×".join(map(str, b))}
        for n, (a, b) in built.shapes.items()
    ]
    st.dataframe(pd.DataFrame(shapes, columns=["layer", "before", "after"]), hide_index=True, width="stretch")

    if st.button("Measure latency (batch 1 and 64)", key=K("measure")) and "latency" not in ws.jobs:
        calibration, shape, device = session.calibration(), session.data.sample_shape, session.device
        ws.jobs["latency"] = Job(  # times its own copy of the dense model: no waiting for other passes
            "latency",
            lambda progress: structured_speedup(
                calibration.copy(), built, shape, device=device, progress=progress
            ),
            current=lambda: ws.shrunk is built,  # the measurement is of this very model
        )

    def adopt(job: Job) -> Note | None:
        ws.keep(latency=job.result)
        return None

    follow_job(ws, "latency", "Latency measurement", K, adopt)
    if ws.latency:
        st.plotly_chart(charts.speedup_bars(ws.latency.promised, ws.latency.measured()))
        ms = ws.latency.ms
        st.dataframe(
            pd.DataFrame({k: {f"batch {b}": f"{v:.2f} ms" for b, v in per.items()} for k, per in ms.items()})
        )
        st.caption(
            "Unstructured: the same share of weights zeroed by magnitude, in dense shapes. Its MACs ratio "
            "is what sparse kernels could save; dense kernels still do all the work."
        )

    cols = st.columns(3)
    for col, (fmt, suffix) in zip(cols, [("state_dict", ".pt"), ("torchscript", ".ts"), ("onnx", ".onnx")]):
        if col.button(f"Prepare {fmt} download", key=K(f"export_{fmt}")):
            with errors_shown(), st.spinner(f"Exporting {fmt}…"), tempfile.TemporaryDirectory() as tmp:
                path = export_model(built.model, Path(tmp) / f"pruned{suffix}", fmt, built.meta)
                ws.cache("structured_files")[fmt] = path.read_bytes()
        if fmt in ws.structured_files:
            col.download_button(
                f"Download pruned{suffix}",
                ws.structured_files[fmt],
                file_name=f"pruned{suffix}",
                key=K(f"download_{fmt}"),
            )
    recovery_form(ws)
