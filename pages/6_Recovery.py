"""Recovery: fine-tune the pruned model with its masks held, on a schedule, and watch it recover."""

import streamlit as st

from pruneviz.humanize import percent, points
from pruneviz.jobs import Cancelled, Job
from pruneviz.recovery import SCHEDULES, TrainConfig, finetune, train_split
from pruneviz.session import LayerPlan
from pruneviz.ui import charts
from pruneviz.ui.state import errors_shown, page_header
from pruneviz.ui.widgets import follow_job

ws = page_header("Recovery", "Fine-tune with the pruned weights held at zero: accuracy often comes back.")
session = ws.session
plans = dict(session.plans) or {n: LayerPlan(s) for n, s in session.layer_sparsity().items() if s > 0}
if not any(p.sparsity > 0 or p.granularity not in ("unstructured", "filter") for p in plans.values()):
    st.info("Nothing is pruned yet: set sparsities on the Prune page (or Sensitivity) first.")
    st.stop()
now = session.report()
st.caption(
    f"Target: the Prune page's configuration — accuracy now {percent(now.accuracy)} "
    f"({points(now.accuracy - ws.baseline.accuracy)} vs dense)."
)

with st.form("ft_form"):
    c1, c2, c3 = st.columns(3)
    schedule = c1.selectbox(
        "Schedule",
        SCHEDULES,
        key="ft_schedule",
        help="oneshot: prune then train; iterative: k prune+train rounds; gradual: cubic (Zhu & Gupta)",
    )
    rounds = c2.number_input("Rounds (iterative / gradual)", 1, 20, 3, key="ft_rounds")
    steps = c3.number_input("Steps", 10, 20_000, 300, step=50, key="ft_steps")
    c4, c5, c6 = st.columns(3)
    lr = c4.number_input("Learning rate", 1e-5, 1.0, 1e-3, format="%.5f", key="ft_lr")
    batch = c5.number_input("Batch size", 1, 4096, 64, key="ft_batch")
    optimizer = c6.selectbox("Optimiser", ["adam", "sgd"], key="ft_optimizer")
    start = st.form_submit_button("Fine-tune", type="primary")

job = ws.jobs.get("finetune")
if start and (job is None or job.done):
    with errors_shown():
        config = TrainConfig(int(steps), float(lr), int(batch), optimizer)
        scratch = session.fork()  # trains on its own copy; the result is taken over when done
        train = train_split(scratch)
        curve: list = []
        training = {  # what the session's recipe records once this fine-tune is taken over
            "steps": int(steps),
            "lr": float(lr),
            "batch_size": int(batch),
            "optimizer": optimizer,
            "schedule": schedule,
            "rounds": int(rounds),
        }

        def work(progress):
            try:
                finetune(scratch, plans, train, config, schedule, int(rounds), curve.append, progress)
            except Cancelled:
                if not curve:
                    raise  # stopped before the first evaluation: nothing worth keeping
            state = scratch.save_state()  # masks are re-applied after every step: any stop is consistent
            return state, training

        job = ws.jobs["finetune"] = Job("finetune", work, curve)


finished = follow_job(
    ws,
    "finetune",
    "Fine-tuning",
    draw=lambda job: st.plotly_chart(charts.training_curve(list(job.partial)), key="ft_live"),
    stop_label="Stop",
    keep_stopped=True,
)
if finished is not None and finished.result is None:
    st.warning("Stopped before the first evaluation; the session keeps its model from before.")
elif finished is not None:
    state, training = finished.result
    if finished.cancelled:
        st.warning(
            "Stopped early: the model as trained so far is now your model (undo below). A stopped run "
            "cannot be replayed, so the session's recipe carries no training settings for it."
        )
    st.session_state.ft_undo = session.save_state(), ws.training
    session.load_state(state)
    ws.training = None if finished.cancelled else training
    st.session_state.ft_curve = list(finished.partial)

if st.session_state.get("ft_curve"):
    st.plotly_chart(charts.training_curve(st.session_state.ft_curve), key="ft_done")
    after = session.report()
    cols = st.columns(3)
    cols[0].metric(
        "Accuracy after fine-tuning", percent(after.accuracy), points(after.accuracy - now.accuracy)
    )
    cols[1].metric("vs dense", points(after.accuracy - ws.baseline.accuracy))
    cols[2].metric("Non-zero params", f"{after.params_nonzero:,}")
if st.session_state.get("ft_undo") is not None and st.button("Undo the fine-tune", key="ft_undo_button"):
    state, ws.training = st.session_state.pop("ft_undo")
    session.load_state(state)
    st.session_state.pop("ft_curve", None)
    st.rerun()
