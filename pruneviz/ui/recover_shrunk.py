"""Recovery of the smaller model the Structured page built: fine-tune it on the training data, optionally
distilling from the dense model, and compare the metric before and after.

Nothing is held at zero here (the removed units are gone), so this is not the Recovery page's masked
fine-tune. It trains a copy in the background; the result replaces the built model (exports then carry
it) and can be undone.
"""

from __future__ import annotations

import copy

import streamlit as st

from pruneviz.core.jobs import Job
from pruneviz.ui.keys import STRUCTURED as K
from pruneviz.ui.state import Workspace, errors_shown
from pruneviz.ui.widgets import Note, follow_job, task_metric
from pruneviz.views import charts
from pruneviz.workflows.apply import retrained
from pruneviz.workflows.recovery import TrainConfig, finetune_shrunk, train_split


def recovery_form(ws: Workspace) -> None:
    """The form, the live curve, before/after, and undo, for ``ws.shrunk``."""
    session, metric = ws.session, ws.session.task.metric
    st.subheader("Recover")
    with st.form(K("recover_form")):
        c1, c2, c3 = st.columns(3)
        steps = c1.number_input("Steps", 10, 20_000, 200, step=50, key=K("recover_steps"))
        lr = c2.number_input("Learning rate", 1e-6, 1.0, 1e-3, format="%.5f", key=K("recover_lr"))
        batch = c3.number_input("Batch size", 1, 4096, 16, key=K("recover_batch"))
        c4, c5, c6 = st.columns(3)
        distill = c4.checkbox(
            "Distil from the dense model",
            True,
            key=K("recover_distill"),
            help="Also learn the dense model's output distributions (KL at temperature T), as Minitron "
            "and LLM-Pruner recover",
        )
        temperature = c5.number_input("Temperature T", 0.1, 20.0, 2.0, key=K("recover_t"))
        alpha = c6.slider("Distillation's share of the loss", 0.0, 1.0, 0.5, key=K("recover_alpha"))
        start = st.form_submit_button("Fine-tune the smaller model", key=K("recover_start"))
    job = ws.jobs.get("recover")
    if start and (job is None or job.done):
        with errors_shown():
            config = TrainConfig(
                int(steps), float(lr), int(batch), distill=distill, temperature=float(temperature),
                alpha=float(alpha), eval_every=max(1, int(steps) // 10),
            )  # fmt: skip
            built = ws.shrunk
            train, model = train_split(session), copy.deepcopy(built.model)
            curve: list = []

            def work(progress):
                finetune_shrunk(session, model, train, config, curve.append, progress)
                task, data = session.task, session.data
                return model, task.figures(task.outputs(model, data.x), data.y)  # what exports verify

            # its result replaces the model it started from, never one built since
            ws.jobs["recover"] = Job("recover", work, curve, current=lambda: ws.shrunk is built)

    def adopt(job: Job) -> Note | None:
        before, (model, figures) = ws.shrunk, job.result
        # drops what was measured of the model before
        ws.keep(shrunk=retrained(before, model, figures, metric.key))
        ws.keep(shrunk_undo=before, shrunk_curve=list(job.partial))
        return None

    follow_job(
        ws,
        "recover",
        "Fine-tuning",
        K,
        adopt,
        draw=lambda job: st.plotly_chart(
            charts.training_curve(list(job.partial), metric), key=K("recover_live")
        ),
    )
    if ws.shrunk_curve and ws.shrunk_undo is not None:
        st.plotly_chart(charts.training_curve(ws.shrunk_curve, metric), key=K("recover_done"))
        before = ws.shrunk_undo.pruned.score
        after = ws.shrunk.pruned.score  # measured on the fine-tuned model: what the Export page verifies
        cols = st.columns(3)
        task_metric(cols[0], metric, after, before, f"{metric.label} after fine-tuning")
        cols[1].metric("Before fine-tuning", metric.format(before))
        cols[2].metric("Dense", metric.format(ws.baseline.score))
        if st.button("Undo the fine-tune", key=K("recover_undo")):
            ws.keep(shrunk=ws.shrunk_undo)
            st.rerun()
