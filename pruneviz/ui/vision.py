"""The Structured page for a vision transformer (torchvision's ViT or Swin, timm's ViT, DeiT and
EVA-style blocks): MLP channels removed per block and heads where the model allows it (timm's), each
slider shown only where that part can go, previewed live and built by Torch-Pruning; the heads'
importance shown per block, with the reason where its heads stay.
The built model's latency, downloads and recovery are the filter panel's (the removal is a filter
removal underneath)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from pruneviz.io.vision import VisionBlocks, head_scores, vision_blocks
from pruneviz.ui.filters import built_model
from pruneviz.ui.keys import STRUCTURED as K
from pruneviz.ui.state import Workspace
from pruneviz.ui.widgets import preview_plan, removal_metrics
from pruneviz.views import charts
from pruneviz.workflows.transformer import TransformerPlan
from pruneviz.workflows.vision import FILTER_CRITERION, plan_vision


def vision_panel(ws: Workspace) -> None:
    """The whole page for a vision transformer."""
    blocks = vision_blocks(ws.session.calibration().model)
    if isinstance(ws.structure_request, TransformerPlan):  # a loaded recipe: the widgets show its plan
        show(ws.structure_request, blocks)
        ws.structure_request = None
    heads = "/".join(map(str, sorted(set(blocks.heads))))
    if blocks.channel_removal is None:
        widths = "/".join(
            map(str, sorted({ws.session.shape(blocks.mlp_in(i))[0] for i in range(blocks.depth)}))
        )
        st.caption(
            f"{blocks.depth} blocks ({blocks.family.name}), {heads} attention heads and MLPs of {widths} "
            "channels. An MLP channel is a row of the MLP's first Linear and a column of its second: "
            "Torch-Pruning removes both."
        )
    else:
        st.caption(
            f"{blocks.depth} blocks ({blocks.family.name}), {heads} attention heads. "
            f"MLP channels stay: {blocks.channel_removal}"
        )
    if blocks.head_removal and blocks.channel_removal:
        st.info(
            "Nothing in this model's blocks can be removed for real: prune it with masks on the Prune "
            "page (unstructured or N:M)."
        )
        heads_view(ws.session, blocks)
        return
    preview(ws, blocks)
    built_model(ws)


def show(plan: TransformerPlan, blocks: VisionBlocks) -> None:
    """Set this panel's widgets to ``plan``."""
    st.session_state[K("vit_criterion")] = plan.criterion
    st.session_state[K("vit_round")] = plan.round_to or 0
    every = plan.channels if isinstance(plan.channels, float) else 0.0
    st.session_state[K("vit_channels")] = round(100 * every)
    every_heads = plan.heads if isinstance(plan.heads, float) else 0.0
    st.session_state[K("vit_heads_removed")] = round(100 * every_heads)
    for i in range(blocks.depth):
        per = plan.channels.get(i, 0.0) if isinstance(plan.channels, dict) else 0.0
        st.session_state[K(f"vit_ch_{i}")] = round(100 * per)


@st.fragment
def preview(ws: Workspace, blocks: VisionBlocks) -> None:
    session = ws.session
    left, right = st.columns([2, 3], gap="large")
    with left:
        c1, c2 = st.columns(2)
        criterion = c1.selectbox(
            "Criterion", list(FILTER_CRITERION), key=K("vit_criterion"), persist_state="session"
        )
        channels_removable = blocks.channel_removal is None
        round_to, channels, per_block = 0, 0, {}
        if channels_removable:
            round_to = c2.number_input(
                "Round MLP widths to multiples of", 0, 512, 0, key=K("vit_round"), persist_state="session"
            )
            channels = st.slider(
                "MLP channels removed in every block (%)",
                0,
                90,
                key=K("vit_channels"),
                persist_state="session",
            )
        heads_removable = blocks.head_removal is None
        head_share = (
            st.slider(
                "Heads removed in every block (%)",
                0,
                90,
                key=K("vit_heads_removed"),
                persist_state="session",
                help="The lowest-ranked heads of each block go with their q/k/v rows and output columns "
                "(a block keeps at least one)",
            )
            if heads_removable
            else 0
        )
        if channels_removable:
            with st.expander("MLP channels per block"):
                per_block = {
                    i: st.slider(f"block {i} (%)", 0, 90, key=K(f"vit_ch_{i}"), persist_state="session")
                    for i in range(blocks.depth)
                }
    plan = TransformerPlan(
        heads=head_share / 100,
        channels={i: max(channels, per_block.get(i, 0)) / 100 for i in range(blocks.depth)},
        criterion=criterion,
        round_to=int(round_to) or None,
    )
    if (
        preview_plan(
            ws,
            plan,
            "Finding the heads and MLP channels to remove…",
            lambda: plan_vision(session, plan, blocks),
        )
        is not None
    ):
        ws.structure = plan
    with right:
        removal_metrics(ws)
        if session.removal is not None and channels_removable:
            widths = {name: (old, new) for name, old, new in session.removal.filters(session.layers)}
            rows = [
                dict(zip(("block", "MLP channels before", "after"), (i, *widths[blocks.mlp_in(i)])))
                for i in range(blocks.depth)
            ]
            st.dataframe(
                pd.DataFrame(rows), hide_index=True, width="stretch", height=min(320, 36 * len(rows) + 40)
            )
        heads_view(session, blocks)


def heads_view(session, blocks: VisionBlocks) -> None:
    """Each head's importance (what it writes into the residual stream), blocks × heads; Swin's stages
    have different head counts, so shorter rows are padded with blanks."""
    with session.calibration().exclusive() as dense:
        scores = head_scores(dense, blocks)
    grid = torch.full((blocks.depth, max(blocks.heads)), float("nan"))
    for i, s in enumerate(scores):
        grid[i, : len(s)] = s
    st.plotly_chart(charts.head_heatmap(grid, set(), 1, "L2 of the output projection"), key=K("vit_heads"))
    if blocks.head_removal:
        st.caption(f"Heads stay: {blocks.head_removal}")
    else:
        st.caption(
            f"{blocks.family.name} keeps its head size as an attribute: a removed head takes its q, k and v "
            "rows and its output-projection columns, and the block's head count follows."
        )
