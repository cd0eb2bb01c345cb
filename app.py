"""pruneviz dashboard entry point: ``streamlit run app.py`` (or ``make run``).

Pages live in ``pages/`` (Streamlit's multipage convention); the sidebar navigation is drawn by
``pruneviz.ui.state.page_header``.
"""

import streamlit as st

from pruneviz.ui.state import NAVIGATION, page_header, policy
from pruneviz.ui.widgets import metrics_row

ws = page_header("pruneviz", "See, choose and export how to prune a PyTorch model, layer by layer.")
session, base = ws.session, ws.baseline

metrics_row(session.report(), base, session.task)

st.markdown("\n".join(f"{i}. **{p.label}** — {p.what}" for i, p in enumerate(NAVIGATION[1:], 1)))

rules = policy()
st.subheader("What browsers may do on this server")
where = "beyond this machine (a room: `make serve`)" if rules.exposed else "on this machine only (`make run`)"
lines = [
    f"- {':material/check: may' if allowed else ':material/block: may not'} {what} — `{setting}`"
    for what, allowed, setting in rules.rules()
]
st.markdown(
    f"This server listens {where}. A browser here:\n" + "\n".join(lines) + "\n\nWhoever starts the server "
    "changes these with the variables named (see the docs' *Serving a room*: docs/serving.md)."
)
