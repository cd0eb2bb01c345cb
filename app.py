"""pruneviz dashboard entry point: ``streamlit run app.py`` (or ``make run``)."""

import streamlit as st

from pruneviz.session import open_session

st.set_page_config(page_title="pruneviz", layout="wide")
st.title("pruneviz")
st.caption("See, choose and export how to prune a PyTorch model, layer by layer.")


@st.cache_resource(show_spinner="Loading the demo model…")
def _demo_report():
    return open_session("demo:cnn").report()


report = _demo_report()
cols = st.columns(4)
cols[0].metric("Accuracy", f"{100 * report.accuracy:.2f}%")
cols[1].metric("Parameters", f"{report.params_total:,}")
cols[2].metric("MACs", f"{report.macs_dense:,}")
cols[3].metric("Size", f"{report.size_bytes_dense / 1024:.1f} KiB")
