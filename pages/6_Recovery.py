"""Recovery: fine-tune the pruned model with its masks held, on a schedule, and watch it recover."""

import streamlit as st

from pruneviz.core.humanize import count
from pruneviz.core.jobs import Cancelled, Job
from pruneviz.ui.keys import RECOVERY as K
from pruneviz.ui.state import errors_shown, page_header
from pruneviz.ui.widgets import Note, back_to_masks_button, follow_job, task_metric
from pruneviz.views import charts
from pruneviz.workflows.recovery import SCHEDULES, TrainConfig, finetune, train_split
from pruneviz.workflows.session import LayerPlan

ws = page_header("Recovery", "Fine-tune with the pruned weights held at zero: quality often comes back.")
session = ws.session
metric = session.task.metric
if session.removal is not None:
    st.info(
        "This page fine-tunes masks (the Prune page's kind of pruning) and the session holds the Structured "
        "page's preview: fine-tune that one, once built, under Recover on the Structured page — or go back "
        "to the masks to fine-tune them here."
    )
    back_to_masks_button(ws, K("back_to_masks"))
    st.page_link("pages/4_Structured.py", label="Recover the smaller model", icon=":material/view_column:")
    st.stop()
plans = dict(session.plans) or {n: LayerPlan(s) for n, s in session.layer_sparsity().items() if s > 0}
if all(p.dense for p in plans.values()):
    st.info("Nothing is pruned yet: set sparsities on the Prune page (or Sensitivity) first.")
    st.stop()
now = session.report()
st.caption(
    f"Target: the Prune page's configuration — {metric.label.lower()} now {metric.format(now.score)} "
    f"({metric.change(now.score, ws.baseline.score)} vs dense)."
)

with st.form(K("form")):
    c1, c2, c3 = st.columns(3)
    schedule = c1.selectbox(
        "Schedule",
        SCHEDULES,
        key=K("schedule"),
        help="oneshot: prune then train; iterative: k prune+train rounds; gradual: cubic (Zhu & Gupta)",
    )
    rounds = c2.number_input("Rounds (iterative / gradual)", 1, 20, 3, key=K("rounds"))
    steps = c3.number_input("Steps", 10, 20_000, 300, step=50, key=K("steps"))
    c4, c5, c6 = st.columns(3)
    lr = c4.number_input("Learning rate", 1e-5, 1.0, 1e-3, format="%.5f", key=K("lr"))
    batch = c5.number_input("Batch size", 1, 4096, 64, key=K("batch"))
    optimizer = c6.selectbox("Optimiser", ["adam", "sgd"], key=K("optimizer"))
    c7, c8, c9 = st.columns(3)
    distill = c7.checkbox(
        "Distil from the dense model",
        key=K("distill"),
        help="Also learn the dense model's output distributions (KL at temperature T)",
    )
    temperature = c8.number_input("Temperature T", 0.1, 20.0, 2.0, key=K("temperature"))
    alpha = c9.slider("Distillation's share of the loss", 0.0, 1.0, 0.5, key=K("alpha"))
    start = st.form_submit_button("Fine-tune", type="primary", key=K("start"))

job = ws.jobs.get("finetune")
if start and (job is None or job.done):
    with errors_shown():
        distillation = {"distill": distill, "temperature": float(temperature), "alpha": float(alpha)}
        config = TrainConfig(int(steps), float(lr), int(batch), optimizer, **distillation)
        scratch = session.fork()  # trains on its own copy; the result is taken over when done
        train = train_split(scratch)
        curve: list = []

        def work(progress):
            try:  # the weights it makes record how (the session's recipe replays them)
                finetune(scratch, plans, train, config, schedule, int(rounds), curve.append, progress)
            except Cancelled:  # a stopped run cannot be replayed: its weights carry no recipe
                if not curve:
                    raise  # stopped before the first evaluation: nothing worth keeping
            return scratch.snapshot()  # masks are re-applied after every step: any stop is consistent

        stamp = session.stamp(masks=True)  # it trains towards the masks as they are now
        job = ws.jobs["finetune"] = Job("finetune", work, curve, current=lambda: session.holds(stamp))


def adopt(job) -> Note | None:
    if job.result is None:
        return "warning", "Stopped before the first evaluation; the session keeps its model from before."
    undo = session.snapshot()
    session.restore(job.result)
    ws.keep(undo=undo, curve=list(job.partial))
    if job.cancelled:
        return "warning", (
            "Stopped early: the model as trained so far is now your model (undo below). A stopped run "
            "cannot be replayed, so no recipe rebuilds it: export the model itself to keep it."
        )
    return None


follow_job(
    ws,
    "finetune",
    "Fine-tuning",
    K,
    adopt,
    draw=lambda job: st.plotly_chart(charts.training_curve(list(job.partial), metric), key=K("live")),
    stop_label="Stop",
    keep_stopped=True,
)

if ws.curve:
    st.plotly_chart(charts.training_curve(ws.curve, metric), key=K("done"))
    after = session.report()
    cols = st.columns(3)
    task_metric(cols[0], metric, after.score, now.score, f"{metric.label} after fine-tuning")
    cols[1].metric("vs dense", metric.change(after.score, ws.baseline.score))
    cols[2].metric("Non-zero params", count(after.params_nonzero))
if ws.undo is not None and st.button("Undo the fine-tune", key=K("undo_button")):
    session.restore(ws.undo)
    ws.drop("undo", "curve")
    st.rerun()
