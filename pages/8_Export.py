"""Export: the pruned model in the ecosystem's formats (each verified by reloading it), the recipe as a
torch.nn.utils.prune snippet, and a self-contained HTML report."""

import tempfile
from pathlib import Path

import streamlit as st

from pruneviz.export import EXPORTERS, export_model, verify_export
from pruneviz.recipe import parse_recipe
from pruneviz.report import html_report
from pruneviz.snippet import torch_prune_snippet
from pruneviz.ui.state import errors_shown, page_header

ws = page_header("Export", "Take the pruned model and the chosen thresholds out of the browser.")
session = ws.session
now = session.report()
SUFFIX = {"onnx": ".onnx", "safetensors": ".safetensors", "torchscript": ".ts"}
structured = session.removal is not None
source = "the smaller model from the Structured page's preview" if structured else "the Prune page's masks"
st.caption(f"Exports the session as it is now: {source}, accuracy {now.accuracy:.1%}.")

fmt = st.selectbox("Format", EXPORTERS.names(), index=EXPORTERS.names().index("state_dict"), key="ex_format")
if st.button("Export and verify", type="primary", key="ex_run"):
    with (
        errors_shown(),
        st.spinner("Writing, reloading and evaluating…"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        model = session.shrunk() if structured else session.working
        path = export_model(model, Path(tmp) / f"pruned{SUFFIX.get(fmt, '.pt')}", fmt, session.export_meta())
        check = verify_export(path, fmt, session.data.x, session.data.y, now.accuracy)
        st.session_state.ex_file = (path.name, path.read_bytes(), check)
if "ex_file" in st.session_state:
    name, data, check = st.session_state.ex_file
    (st.success if check.ok else st.error)(
        f"{name}: reloaded and evaluated on {check.samples} samples — accuracy {check.accuracy:.2%} "
        f"(session {check.expected:.2%}): {'verified' if check.ok else 'MISMATCH'}"
    )
    st.download_button(f"Download {name}", data, file_name=name, key="ex_download")

st.subheader("torch.nn.utils.prune snippet")
with errors_shown():
    recipe = parse_recipe(ws.recipe_document())
    code = torch_prune_snippet(recipe, session.layers)
    st.code(code, language="python")
    st.download_button("Download prune_with_torch.py", code, "prune_with_torch.py", key="ex_snippet")

st.subheader("Report")
if st.button("Build the HTML report", key="ex_report"):
    with errors_shown(), st.spinner("Rendering…"):
        st.session_state.ex_report_html = html_report(session, ws.baseline, f"pruneviz: {session.model.spec}")
if "ex_report_html" in st.session_state:
    st.download_button(
        "Download report.html (self-contained)",
        st.session_state.ex_report_html,
        "report.html",
        "text/html",
        key="ex_report_download",
    )
    st.caption("PNG export of the charts needs kaleido, which is not installed here.")
