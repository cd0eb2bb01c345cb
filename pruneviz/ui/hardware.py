"""The Export page's Hardware section: the session's layers, with their masks, timed on every kernel this
device offers (a background job), promised against measured, with each sparse kernel's break-even."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pruneviz.core.jobs import Job
from pruneviz.ui.keys import EXPORT as K
from pruneviz.ui.state import Workspace
from pruneviz.ui.widgets import Note, follow_job
from pruneviz.views import charts
from pruneviz.workflows.hardware import HardwareReport, TimingCache, measure_hardware, pays_off

DEFAULT_BATCH = 16


def hardware_panel(ws: Workspace) -> None:
    session = ws.session
    st.subheader("Hardware: what these choices buy on this device")
    st.caption(
        "Each prunable layer, with its current mask, timed at its real input shape on every kernel this "
        "device offers: dense, unstructured through torch.sparse (CSR, BSR), 2:4 on sparse tensor cores "
        "(NVIDIA GPUs of compute capability 8.0+), the layer a structured removal of the same share "
        "would leave, and int8 weights (torchao). Medians; cached per device and shape."
    )
    with st.form(K("hardware_form"), border=False):
        c1, c2 = st.columns(2)
        batch = c1.number_input(
            "Larger batch (beside batch 1)", 2, 1024, DEFAULT_BATCH, key=K("hardware_batch")
        )
        break_even = c2.checkbox(
            "Find each sparse kernel's break-even sparsity",
            True,
            key=K("hardware_break_even"),
            help="Times the kernel on random masks from 0 to 99% until it beats dense",
        )
        start = st.form_submit_button("Measure on this device")
    if start and "hardware" not in ws.jobs:
        stamp = session.stamp(masks=True)
        ws.jobs["hardware"] = Job(
            "hardware",
            lambda progress: measure_hardware(
                session,
                (1, int(batch)),
                break_even=break_even,
                cache=TimingCache.default(),
                progress=progress,
            ),
            current=lambda: session.holds(stamp),  # the masks it timed are still the session's
        )

    def adopt(job: Job) -> Note | None:
        ws.keep(hardware=job.result)
        return None

    follow_job(ws, "hardware", "The hardware measurement", K, adopt)
    if ws.hardware is not None:
        show_report(ws.hardware)


def show_report(report: HardwareReport) -> None:
    big = report.batches[-1]
    st.caption(f"Measured on {report.device}.")
    shown = st.radio(
        "Batch", report.batches, index=len(report.batches) - 1, horizontal=True, key=K("hw_batch")
    )
    st.plotly_chart(charts.kernel_speedups(report, shown), key=K("hardware_chart"))
    totals = report.totals()
    st.markdown("**All prunable layers together** (a layer a kernel cannot run stays on its reference)")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "kernel": kernel,
                    "layers on it": f"{t['layers']} of {len(report.layers)}",
                    **{f"batch {b} (ms)": round(t["ms"][b], 4) for b in report.batches},
                    **{f"× batch {b}": round(t["speedup"][b], 2) for b in report.batches},
                    "× promised (MACs)": round(t["promised_macs"], 2),
                }
                for kernel, t in totals.items()
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    found = _break_even_rows(report)
    if found:
        st.markdown(
            "**Break-even sparsity, measured**: the sparse kernel pays off on this "
            f"{report.kind} (random masks from 0 to 99%, interpolated between grid points)"
        )
        st.dataframe(pd.DataFrame(found).fillna("no kernel"), hide_index=True, width="stretch")
    st.markdown("**Where each choice pays**")
    st.dataframe(
        pd.DataFrame(report.where_it_pays(), columns=["choice", "where it pays"]),
        hide_index=True,
        width="stretch",
    )
    with st.expander("Every layer on every kernel"):
        st.dataframe(_layer_rows(report, big), hide_index=True, width="stretch")


def _break_even_rows(report: HardwareReport) -> list[dict]:
    """One row per layer, one column per sparse kernel and batch: where it starts to pay."""
    rows = []
    for layer in report.layers:
        found = {f"{r.label}, batch {b}": pays_off(at) for r in layer.rows for b, at in r.break_even.items()}
        if found:
            rows.append({"layer": layer.name, "zeros now": f"{layer.sparsity:.0%}"} | found)
    return rows


def _layer_rows(report: HardwareReport, big: int) -> pd.DataFrame:
    rows = []
    for layer in report.layers:
        for r in layer.rows:
            rows.append(
                {
                    "layer": layer.name,
                    "zeros": f"{layer.sparsity:.0%}",
                    "kernel": r.label,
                    **{f"batch {b} (ms)": r.ms.get(b) for b in report.batches},
                    f"× batch {big}": r.speedup(big),
                    "× promised (MACs)": r.promised_macs,
                    "× promised (bytes)": r.promised_bytes,
                    "unavailable because": r.unavailable or "",
                }
            )
    return pd.DataFrame(rows)
