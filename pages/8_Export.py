"""Export: the pruned model in the ecosystem's formats (each verified by reloading it), what its choices
buy on this device's kernels, the recipe as a torch.nn.utils.prune snippet (and, for language models, as
an llm-compressor recipe), and a self-contained HTML report."""

import tempfile
from pathlib import Path

import streamlit as st

from pruneviz.core.humanize import count, size
from pruneviz.io.formats import FORMATS, download, writable
from pruneviz.ui.hardware import hardware_panel
from pruneviz.ui.keys import EXPORT as K
from pruneviz.ui.state import Exported, errors_shown, held_caption, page_header
from pruneviz.ui.widgets import back_to_masks_button
from pruneviz.views.report import html_report
from pruneviz.workflows.apply import export_and_verify
from pruneviz.workflows.llm_compressor import recipe_text
from pruneviz.workflows.recipe import parse_recipe, resolve_for
from pruneviz.workflows.snippet import torch_prune_snippet


def format_label(name: str) -> str:
    """A format as the list shows it: the serving default and the ones no serving stack reads say so."""
    if name == session.task.serving_format:
        return f"{name} (serving)"
    return f"{name} (pruneviz only)" if FORMATS.get(name).readers.startswith("pruneviz only") else name


ws = page_header("Export", "Take the pruned model and the chosen thresholds out of the browser.", held=False)
session = ws.session
metric = session.task.metric
with errors_shown():
    target = ws.export_target()  # the model every page shows now: what is written
    held_caption(
        ws,
        f" — what Export writes: {metric.label.lower()} {metric.format(target.pruned.score)}, "
        f"{count(target.params)} non-zero parameters",
    )
back_to_masks_button(ws, K("back_to_masks"))

formats = [f for f in session.task.export_formats if f in writable()]
serving = session.task.serving_format
fmt = st.selectbox(
    "Format",
    formats,
    index=formats.index(serving) if serving in formats else 0,
    key=K("format"),
    format_func=format_label,
    help="The formats this kind of model exports to (the default is the one serving stacks load)",
)
st.caption(f"Read by {FORMATS.get(fmt).readers}.")
if st.button("Export and verify", type="primary", key=K("run")):
    with (
        errors_shown(),
        st.spinner("Writing, reloading and evaluating…"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        path = Path(tmp) / f"pruned{FORMATS.get(fmt).suffix}"
        check = export_and_verify(session, ws.export_target(), path, fmt)
        ws.keep(exported=Exported(*download(path), check))
if ws.exported is not None:
    name, check = ws.exported.name, ws.exported.check
    (st.success if check.ok else st.error)(
        f"{name} ({size(len(ws.exported.data))} on disk): reloaded and evaluated on {check.samples} "
        f"samples — {metric.label.lower()} "
        f"{metric.format(check.score)} (session {metric.format(check.expected)}): "
        f"{'verified' if check.ok else 'MISMATCH'}"
    )
    st.download_button(f"Download {name}", ws.exported.data, file_name=name, key=K("download"))

hardware_panel(ws)

st.subheader("torch.nn.utils.prune snippet")
with errors_shown():
    recipe = parse_recipe(ws.recipe_document())
    if recipe.structure is not None:
        st.info(
            "The session removes structure for real (the Structured page's preview): torch.nn.utils.prune "
            "only masks, so there is no snippet for it. Export the smaller model above, or run `pruneviz "
            "apply` with the sidebar's recipe."
        )
    else:
        code = torch_prune_snippet(resolve_for(session, recipe), session.layers)
        st.code(code, language="python")
        st.download_button("Download prune_with_torch.py", code, "prune_with_torch.py", key=K("snippet"))

if session.task.generates:
    st.subheader("llm-compressor recipe")
    st.caption(
        "These per-layer sparsities for llm-compressor's oneshot (SparseGPT or Wanda, with each layer's "
        "sparsity and mask structure), to apply the same thresholds at scale on a GPU."
    )
    if session.removal is not None or all(p.dense for p in session.current_plans().values()):
        st.info("Mask some layers on the Prune page first: the recipe carries each masked layer's sparsity.")
    else:
        with errors_shown():
            text = recipe_text(session)
            st.code(text, language="yaml")
            st.download_button(
                "Download llm_compressor_recipe.yaml", text, "llm_compressor_recipe.yaml", key=K("llmc")
            )

st.subheader("Report")
if st.button("Build the HTML report", key=K("report")):
    with errors_shown(), st.spinner("Rendering…"):
        ws.keep(report_html=html_report(session, ws.baseline, f"pruneviz: {session.model.spec}"))
if ws.report_html is not None:
    st.download_button(
        "Download report.html (self-contained)",
        ws.report_html,
        "report.html",
        "text/html",
        key=K("report_download"),
    )
    st.caption("PNG export of the charts needs kaleido, which is not installed here.")
