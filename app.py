"""pruneviz dashboard entry point: ``streamlit run app.py`` (or ``make run``).

Pages live in ``pages/`` (Streamlit's multipage convention); the sidebar navigation is drawn by
``pruneviz.ui.state.page_header``.
"""

import streamlit as st

from pruneviz.ui.state import page_header, policy
from pruneviz.ui.widgets import metrics_row

ws = page_header("pruneviz", "See, choose and export how to prune a PyTorch model, layer by layer.")
session, base = ws.session, ws.baseline

metrics_row(session.report(), base, session.task)

st.markdown(
    """
1. **Model & data** — load a demo, torchvision or your own model and a validation set.
2. **Importance** — heatmaps of weight and gradient importance, per-filter scores, weight histograms.
3. **Prune** — per-layer sparsity sliders and presets; the metric, parameters, MACs and size update live.
4. **Structured** — remove whole filters (a transformer's heads, MLP channels, blocks) for real, see what
   shrinks with them, measure the speed-up, recover.
5. **Sensitivity** — each layer pruned alone, level by level; automatic per-layer allocation from it.
6. **Recovery** and **Lottery ticket** — fine-tune with masks held; find lottery tickets.
7. **Learn** — the techniques in a few sentences each, with live examples and exercises.
8. **Generate** — a language model's prompt continued by the dense and the pruned model side by side.
9. **Room** — a workshop's shared configurations side by side, live; the instructor runs the room.
"""
)

rules = policy()
st.subheader("What browsers may do on this server")
where = "beyond this machine (a room: `make serve`)" if rules.exposed else "on this machine only (`make run`)"
lines = [
    f"- {':material/check: may' if allowed else ':material/block: may not'} {what} — `{setting}`"
    for what, allowed, setting in rules.rules()
]
st.markdown(
    f"This server listens {where}. A browser here:\n" + "\n".join(lines) + "\n\nWhoever starts the server "
    "changes these with the variables named (see the README's *Running it for a room*)."
)
