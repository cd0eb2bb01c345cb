"""pruneviz dashboard entry point: ``streamlit run app.py`` (or ``make run``).

Pages live in ``pages/`` (Streamlit's multipage convention); numbers leave room for the Sensitivity,
Recovery and Export pages between Prune and Learn.
"""

import streamlit as st

from pruneviz.humanize import count, percent, size
from pruneviz.ui.state import page_header

ws = page_header("pruneviz", "See, choose and export how to prune a PyTorch model, layer by layer.")
session, base = ws.session, ws.baseline
now = session.report()

cols = st.columns(4)
cols[0].metric("Accuracy", percent(now.accuracy), f"{100 * (now.accuracy - base.accuracy):+.1f} pt")
cols[1].metric(
    "Non-zero parameters",
    count(now.params_nonzero),
    f"of {count(now.params_total)}",
    delta_color="off",
    delta_arrow="off",
)
cols[2].metric(
    "Effective MACs",
    count(now.macs_effective),
    f"of {count(now.macs_dense)}",
    delta_color="off",
    delta_arrow="off",
)
cols[3].metric(
    "Sparse size",
    size(now.size_bytes_sparse),
    f"of {size(now.size_bytes_dense)}",
    delta_color="off",
    delta_arrow="off",
)

st.markdown(
    """
1. **Model & data** — load a demo, torchvision or your own model and a validation set.
2. **Importance** — heatmaps of weight and gradient importance, per-filter scores, weight histograms.
3. **Prune** — per-layer sparsity sliders and presets; accuracy, parameters, MACs and size update live.
4. **Structured** — remove whole filters for real, see what shrinks with them, measure the speed-up.
5. **Sensitivity** — each layer pruned alone, level by level; automatic per-layer allocation from it.
6. **Recovery** and **Lottery ticket** — fine-tune with masks held; find lottery tickets.
7. **Learn** — the techniques in a few sentences each, with live examples and exercises.
"""
)
