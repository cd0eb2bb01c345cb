"""The Structured page for a transformer: heads, MLP channels and whole blocks, previewed live and built.

What to remove is gathered from the widgets (sliders, the heatmap's clicked cells, the blocks' toggles)
into a :class:`~pruneviz.workflows.transformer.TransformerPlan`; the engine plans, previews, builds and
times it. Clicked head groups live on the workspace (a click is not a widget value).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from pruneviz.core.humanize import count, percent
from pruneviz.core.jobs import Job
from pruneviz.io.anatomy import Anatomy, anatomy_of, physical
from pruneviz.io.formats import download, export_model
from pruneviz.ui.keys import STRUCTURED as K
from pruneviz.ui.recover_shrunk import recovery_form
from pruneviz.ui.state import Workspace, errors_shown
from pruneviz.ui.widgets import Note, build_button, follow_job, preview_plan, removal_metrics
from pruneviz.views import charts
from pruneviz.workflows.recipe import recipe_text, structure_document
from pruneviz.workflows.transformer import (
    TRANSFORMER_CRITERIA,
    TransformerPlan,
    block_influence,
    plan_transformer,
    structured_speedups,
)


def transformer_panel(ws: Workspace) -> None:
    """The whole page for a transformer of a known family (refused in one line for another)."""
    anatomy = anatomy_of(ws.session.calibration().model)
    if isinstance(ws.structure_request, TransformerPlan):  # a loaded recipe: the widgets show its plan
        show(ws, ws.structure_request, anatomy)
        ws.structure_request = None
    st.caption(
        f"{anatomy.depth} blocks × {anatomy.heads} attention heads"
        + (f" in {anatomy.kv_heads} key/value groups" if anatomy.group_size > 1 else "")
        + f" and {anatomy.intermediate} MLP channels. Heads go by whole groups, so grouped-query attention "
        "stays valid; a block that keeps more than the others sets the width of all of them (the others "
        "keep some removed units as zeros) so that plain transformers loads the result."
    )
    preview(ws, anatomy)
    build(ws)


def show(ws: Workspace, plan: TransformerPlan, anatomy: Anatomy) -> None:
    """Set this panel's widgets to ``plan`` (heads by a ratio for every block, as the panel offers)."""
    heads = plan.heads if isinstance(plan.heads, float) else max(plan.heads.values(), default=0.0)
    steps = [k * anatomy.group_size / anatomy.heads for k in range(anatomy.kv_heads)]
    st.session_state[K("lm_heads")] = min(steps, key=lambda s: abs(s - heads))
    st.session_state[K("lm_criterion")] = plan.criterion
    st.session_state[K("lm_round")] = plan.round_to or 0
    every = plan.channels if isinstance(plan.channels, float) else 0.0
    st.session_state[K("lm_channels")] = round(100 * every)
    for i in range(anatomy.depth):
        per = plan.channels.get(i, 0.0) if isinstance(plan.channels, dict) else 0.0
        st.session_state[K(f"lm_ch_{i}")] = round(100 * per)
        st.session_state[K(f"lm_drop_{i}")] = i in plan.drop_blocks
    ws.dropped_heads = dict(plan.drop_heads)


@st.fragment
def preview(ws: Workspace, anatomy: Anatomy) -> None:
    session = ws.session
    left, right = st.columns([2, 3], gap="large")
    with left:
        c1, c2 = st.columns(2)
        criterion = c1.selectbox(
            "Criterion", TRANSFORMER_CRITERIA.names(), key=K("lm_criterion"), persist_state="session"
        )
        round_to = c2.number_input(
            "Round MLP widths to multiples of", 0, 512, 0, key=K("lm_round"), persist_state="session"
        )
        steps = [k * anatomy.group_size / anatomy.heads for k in range(anatomy.kv_heads)]
        heads = 0.0
        if anatomy.head_removal:
            st.caption(anatomy.head_removal)
        else:
            heads = st.select_slider(
                "Heads removed in every block",
                steps,
                key=K("lm_heads"),
                format_func=percent,
                persist_state="session",
            )
        channels = st.slider(
            "MLP channels removed in every block (%)", 0, 90, key=K("lm_channels"), persist_state="session"
        )
        with st.expander("MLP channels per block"):
            per_block = {
                i: st.slider(f"block {i} (%)", 0, 90, key=K(f"lm_ch_{i}"), persist_state="session")
                for i in range(anatomy.depth)
            }
        st.markdown("**Blocks to drop**")
        cols = st.columns(min(anatomy.depth, 6))
        drop = tuple(
            i
            for i in range(anatomy.depth)
            if cols[i % len(cols)].checkbox(f"block {i}", key=K(f"lm_drop_{i}"), persist_state="session")
        )
    ratios = {i: max(channels, per) / 100 for i, per in per_block.items()}
    plan = TransformerPlan(
        heads=heads,
        channels=ratios,
        drop_heads={b: tuple(g) for b, g in ws.dropped_heads.items() if g},
        drop_blocks=drop,
        criterion=criterion,
        round_to=int(round_to) or None,
    )
    scores = ws.unit_scores.get(criterion)
    if (
        preview_plan(ws, plan, "Ranking heads and channels…", lambda: plan_transformer(session, plan, scores))
        is not None
    ):
        ws.structure = plan
    with right:
        removal_metrics(ws)
        padding(anatomy, session.removal)
        with errors_shown():
            heatmap(ws, anatomy, criterion, session.removal)
            influence(ws, drop)


def padding(anatomy: Anatomy, removal) -> None:
    """Say so when some removed units stay in the built model as zeros (blocks share one width)."""
    if removal is None or removal.cut is None:
        return
    cut, gone = removal.cut, physical(anatomy, removal.cut)
    groups = sum(map(len, cut.groups.values())) - sum(map(len, gone.groups.values()))
    channels = sum(map(len, cut.channels.values())) - sum(map(len, gone.channels.values()))
    if groups or channels:
        st.caption(
            f"{groups} head group(s) and {channels} MLP channel(s) removed here stay in the built model as "
            "zeros: every block gets the width of the widest, so these do not lower the parameter count."
        )


def heatmap(ws: Workspace, anatomy: Anatomy, criterion: str, removal) -> None:
    """Head-group importance, blocks × groups; a click toggles that group in ``ws.dropped_heads``."""
    if criterion not in ws.unit_scores:
        with st.spinner(f"Scoring heads and channels by {criterion}…"):
            ws.cache("unit_scores")[criterion] = _scores(ws, anatomy, criterion)
    cut = removal.cut if removal is not None and removal.cut is not None else None
    dropped = {(b, g) for b, gs in (cut.groups.items() if cut else []) for g in gs}

    def toggle() -> None:
        points = st.session_state[K("lm_heatmap")].selection.points
        if points and "customdata" in points[0]:
            block, group = (int(v) for v in points[0]["customdata"][:2])
            ws.dropped_heads[block] = tuple(sorted(set(ws.dropped_heads.get(block, ())) ^ {group}))

    st.caption("Attention head groups: click a cell to remove it or keep it (✕ = removed).")
    figure = charts.head_heatmap(ws.unit_scores[criterion].groups, dropped, anatomy.group_size, criterion)
    st.plotly_chart(figure, key=K("lm_heatmap"), on_select=toggle, selection_mode="points")


def _scores(ws: Workspace, anatomy: Anatomy, criterion: str):
    return TRANSFORMER_CRITERIA.get(criterion)(ws.session, anatomy)


def influence(ws: Workspace, drop: tuple[int, ...]) -> None:
    """Block Influence bars; a click toggles that block's checkbox."""
    if ws.influence is None:
        with st.spinner("Measuring Block Influence on the calibration windows…"):
            ws.keep(influence=block_influence(ws.session.calibration()))

    def toggle() -> None:
        points = st.session_state[K("lm_influence")].selection.points
        if points:
            key = K(f"lm_drop_{int(points[0]['customdata'])}")
            st.session_state[key] = not st.session_state.get(key, False)

    st.caption("How much each block changes its input (1 − cos): click a bar to drop the block or keep it.")
    figure = charts.influence_bars(ws.influence, set(drop))
    st.plotly_chart(figure, key=K("lm_influence"), on_select=toggle, selection_mode="points")


def build(ws: Workspace) -> None:
    """Build the smaller model, compare speed-ups, download it and the recipe."""
    session = ws.session
    st.subheader("Build")
    if ws.structure is not None:
        doc = structure_document(session.model.spec, session.data.spec, ws.structure)
        st.download_button(
            "Download this structure as a recipe", recipe_text(doc), "structure.yaml", key=K("lm_recipe")
        )
    build_button(ws, K("apply"), "heads, MLP channels or blocks")
    if ws.shrunk is None:
        return
    built = ws.shrunk
    config = built.model.config
    check = "as predicted" if built.params == built.params_predicted else "differs from the preview"
    st.success(
        f"{count(built.params)} parameters ({check}); {getattr(config, 'num_hidden_layers', '?')} blocks, "
        f"{getattr(config, 'num_attention_heads', '?')} heads, MLP width "
        f"{getattr(config, 'intermediate_size', getattr(config, 'n_inner', '?'))}."
    )
    if "hf" not in ws.structured_files and st.button("Prepare the hf download", key=K("lm_export")):
        with (
            errors_shown(),
            st.spinner("Writing the save_pretrained directory…"),
            tempfile.TemporaryDirectory() as tmp,
        ):
            path = export_model(built.model, Path(tmp) / "pruned-hf", "hf", built.meta)
            ws.cache("structured_files")["hf"] = download(path)[1]
    if "hf" in ws.structured_files:
        st.download_button(
            "Download pruned-hf.zip", ws.structured_files["hf"], "pruned-hf.zip", key=K("lm_download")
        )
    speed(ws)
    recovery_form(ws)


def speed(ws: Workspace) -> None:
    """Promised vs measured speed-ups of heads, MLP width, depth and the same savings unstructured."""
    if st.button("Compare speed-ups (prefill and decode)", key=K("lm_speed")) and "lm_speed" not in ws.jobs:
        session, plan, stamp = ws.session, ws.structure, ws.session.stamp()
        ws.jobs["lm_speed"] = Job(
            "lm_speed",
            lambda progress: structured_speedups(session, plan, progress=progress),
            current=lambda: session.holds(stamp) and ws.structure == plan,
        )

    def adopt(job: Job) -> Note | None:
        ws.keep(token_speedups=job.result)
        return None

    follow_job(ws, "lm_speed", "Timing", K, adopt)
    if ws.token_speedups:
        st.plotly_chart(charts.transformer_speedups(ws.token_speedups), key=K("lm_speed_chart"))
        rows = [
            {"pruned": k, "parameters": f"{s.params:,}", "promised": f"×{s.promised:.2f}",
             "prefill": f"×{s.prefill:.2f}", "decode": f"×{s.decode:.2f}"}
            for k, s in ws.token_speedups.items()
        ]  # fmt: skip
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        st.caption(
            "Each part of the plan built on its own and timed against the dense model here: prefill of 8 "
            "windows at once, greedy decoding one token at a time. Unstructured: the same number of "
            "weights zeroed in dense shapes, which dense kernels run at full cost."
        )
