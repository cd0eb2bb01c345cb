"""Generate: a prompt continued by the dense and by the pruned language model, side by side."""

import streamlit as st

from pruneviz.core.humanize import count
from pruneviz.ui.keys import GENERATE as K
from pruneviz.ui.state import errors_shown, page_header
from pruneviz.workflows.generate import side_by_side

ws = page_header(
    "Generate", "What a rise in perplexity reads like: the same prompt, the dense model and yours."
)
session = ws.session
if not session.task.generates:
    st.info("This page continues text: load a language model (demo:gpt, or hf:…) on the Model & data page.")
    st.stop()

now, base, metric = session.report(), ws.baseline, session.task.metric
st.caption(
    f"Pruned as the session is now: {metric.label.lower()} {metric.format(now.score)} "
    f"({metric.change(now.score, base.score)} vs dense), {count(now.params_nonzero)} non-zero parameters."
)
with st.form(K("form")):
    prompt = st.text_area("Prompt", "The for statement is used to", key=K("prompt"), height=90)
    # at most half the model's positions (the rest for the prompt), within the page's 10..200
    most = max(10, min(200, (session.model.max_context or 400) // 20 * 10))
    tokens = st.slider("New tokens", 10, most, min(120, most), step=10, key=K("tokens"))
    go = st.form_submit_button("Continue the prompt", type="primary", key=K("go"))
if go:
    with errors_shown(), st.spinner("Generating with both models (greedy)…"):
        ws.keep(generated=side_by_side(session, prompt, int(tokens)))
if ws.generated is not None:
    out = ws.generated
    left, right = st.columns(2)
    for col, label, text in ((left, "Dense", out.dense), (right, "Pruned (this session)", out.pruned)):
        col.markdown(f"**{label}**")
        col.code(out.prompt + text, language=None, wrap_lines=True)
    st.caption(
        "Greedy decoding: each model always takes its most likely next token, so the texts repeat exactly."
    )
