"""Pick the model and validation data; see its prunable layers and baseline metrics."""

import pandas as pd
import streamlit as st
import torchvision.models as tvm

from pruneviz.core.humanize import count, percent, size
from pruneviz.io.models import DEMO_MODELS
from pruneviz.ui.keys import MODEL as K
from pruneviz.ui.state import Choice, page_header, policy, replace_workspace, save_upload

ws = page_header("Model & data", "Choose what to prune and what to measure it on.")
rules = policy()

SOURCES = ["Demo model", "torchvision", "timm", "Hugging Face", "Upload a file"]
if rules.allow_python:  # the user's own code: only when the server was started to allow it
    SOURCES.append("Python factory")
source = st.radio("Model source", SOURCES, horizontal=True, key=K("source"))

with st.form(K("form")):
    weights = arch = None
    trust = False
    if source == "Demo model":
        name = st.selectbox(
            "Demo model",
            DEMO_MODELS.names(),
            key=K("demo"),
            help="Digits classifiers; gpt: a small language model",
        )
        spec = f"demo:{name}"
    elif source == "torchvision":
        name = st.selectbox(
            "Architecture",
            tvm.list_models(module=tvm),
            index=tvm.list_models(module=tvm).index("resnet18"),
            key=K("tv_arch"),
        )
        spec = f"torchvision:{name}"
        kind = st.radio(
            "Weights",
            ["random (seeded)", "DEFAULT (download)", "upload a state_dict"],
            horizontal=True,
            key=K("tv_weights"),
        )
        upload = st.file_uploader("state_dict file", type=["pt", "pth", "bin"], key=K("tv_upload"))
        if kind.startswith("DEFAULT"):
            weights = "DEFAULT"
        elif kind.startswith("upload") and upload is not None:
            weights = save_upload(upload)
    elif source == "timm":
        import timm  # only when asked for: a thousand model definitions

        names = timm.list_models()
        name = st.selectbox(
            "Architecture",
            names,
            index=names.index("deit_tiny_patch16_224"),
            key=K("timm_arch"),
            help="Random (seeded) weights, or a checkpoint of this architecture uploaded below; nothing "
            "is downloaded. On ViT, DeiT and the RoPE ViTs the Structured page removes heads for real",
        )
        upload = st.file_uploader(
            "Checkpoint (safetensors or state_dict, optional)",
            type=["safetensors", "pt", "pth", "bin"],
            key=K("timm_upload"),
        )
        spec = f"timm:{name}:{save_upload(upload)}" if upload is not None else f"timm:{name}"
    elif source == "Hugging Face":
        name = st.text_input(
            "Causal language model: a save_pretrained directory or a name in the local cache",
            placeholder="models/my-llama",
            key=K("hf"),
            help="Loaded with transformers' AutoModelForCausalLM and AutoTokenizer, from this machine only",
        ).strip()
        name = name.removeprefix("hf:")  # the spec as the README and the CLI write it works here too
        spec = f"hf:{name}" if name else None
        st.caption(
            f"From this machine only (nothing is downloaded here), inside the folders this server shares: "
            f"{', '.join(f'`{r}`' for r in rules.data_roots)}. Whoever starts the dashboard shares another "
            "with `PRUNEVIZ_DATA_ROOT=DIR`. A model of a few hundred million parameters takes a minute."
        )
    elif source == "Upload a file":
        upload = st.file_uploader(
            "pruneviz checkpoint or state_dict, safetensors, TorchScript, ONNX or .pt2 ExportedProgram",
            type=["pt", "pth", "safetensors", "ts", "onnx", "pt2"],
            key=K("upload"),
        )
        arch = (
            st.text_input(
                "Architecture for a bare state_dict", placeholder="torchvision:resnet18", key=K("arch")
            )
            or None
        )
        trust = rules.allow_pickle and st.checkbox(
            "Trust this file's pickled objects (runs code from the file)", value=False, key=K("trust")
        )
        spec = f"file:{save_upload(upload)}" if upload is not None else None
    else:
        spec = "python:" + st.text_input(
            "Factory",
            placeholder="mypackage.models:build",
            help="A function returning an nn.Module, or (module, dataset)",
            key=K("python"),
        )
    data = st.text_input(
        "Validation data",
        key=K("data"),
        placeholder="default for this model (digits for the demo classifiers, text:pydoc for LMs)",
        help="digits, synthetic:3x64x64:256, folder:PATH, torchvision:CIFAR10:ROOT, python:module:fn; "
        "for language models text:pydoc or text:PATH (a UTF-8 file)",
    )
    limit = st.number_input(
        "Live subset size (0 = default)",
        key=K("limit"),
        min_value=0,
        value=0,
        step=64,
        help="A fixed, seeded subset keeps live re-evaluation fast (default: every image; 64 text windows)",
    )
    text = st.expander("Language models: windows", expanded=source == "Hugging Face")
    c2, c3 = text.columns(2)
    context = c2.number_input(
        "Tokens per window (0 = default)",
        key=K("context"),
        min_value=0,
        value=0,
        step=32,
        help="Language models: the window length, default min(the model's maximum, 128)",
    )
    calibration = c3.number_input(
        "Calibration windows (0 = 128)",
        key=K("calibration"),
        min_value=0,
        value=0,
        step=32,
        help="Language models: windows from the training part of the text that Wanda, SparseGPT, OWL "
        "and gradients look at (never the validation windows)",
    )
    submitted = st.form_submit_button("Load", type="primary", key=K("load"))

if submitted:
    if not spec or spec == "python:":
        st.error("Choose a model first (a file to upload, a directory, or a python factory name).", icon="⚠️")
    else:
        choice = Choice(
            model=spec,
            data=data,
            limit=int(limit) or None,
            context=int(context) or None,
            calibration=int(calibration) or None,
            weights=weights,
            arch=arch,
            trust_pickle=trust,
        )
        with st.spinner(f"Loading {spec} and measuring its baseline…", show_time=True):
            loaded = replace_workspace(choice)
        if loaded:
            st.session_state[K("loaded")] = spec
            st.rerun()  # every part of the page, the sidebar too, shows the new model
if K("loaded") in st.session_state:
    st.success(f"Loaded {st.session_state.pop(K('loaded'))}")

session, base, task = ws.session, ws.baseline, ws.session.task
st.subheader(f"Baseline of `{session.model.spec}` on `{session.data.spec}`")
extras = {label: base.figures.get(key) for key, label in task.extra_figures.items()}
cols = st.columns(4 + len(extras))
cols[0].metric(task.metric.label, task.metric.format(base.score))
for col, (label, value) in zip(cols[1:], extras.items()):
    col.metric(label, "–" if value is None else percent(value))
cols[-3].metric("Parameters", count(base.params_total))
cols[-2].metric("MACs / sample", count(base.macs_dense))
cols[-1].metric("Size (fp32)", size(base.size_bytes_dense))

st.subheader(f"{len(session.layers)} prunable layers")
table = pd.DataFrame(
    {
        "layer": [x.name for x in session.layers],
        "type": [x.type for x in session.layers],
        "shape": ["×".join(map(str, x.shape)) for x in session.layers],
        "params": [x.params for x in session.layers],
        "MACs share (%)": [round(100 * x.macs_share, 1) for x in session.layers],
    }
)
st.dataframe(table, hide_index=True, width="stretch")
if not session.evaluator.incremental:
    st.info(f"Live re-evaluation uses full forwards for this model: {session.evaluator.fallback_reason}.")
