"""Lottery tickets: prune, rewind the survivors to their initial values, retrain; against a control."""

import pandas as pd
import streamlit as st

from pruneviz.jobs import Job
from pruneviz.lottery import lottery, to_csv
from pruneviz.recovery import TrainConfig, train_split
from pruneviz.ui import charts
from pruneviz.ui.state import errors_shown, page_header
from pruneviz.ui.widgets import follow_job

ws = page_header(
    "Lottery ticket", "Iterative magnitude pruning with rewinding (Frankle & Carbin), and its control."
)
session = ws.session

with st.form("lt_form"):
    c1, c2, c3, c4 = st.columns(4)
    rounds = c1.number_input("Rounds", 1, 20, 6, key="lt_rounds")
    rate = c2.number_input("Prune per round (%)", 1, 90, 20, key="lt_rate")
    rewind = c3.number_input("Rewind to step (0 = init)", 0, 10_000, 0, key="lt_rewind")
    steps = c4.number_input("Training steps per round", 10, 20_000, 400, step=50, key="lt_steps")
    start = st.form_submit_button("Find a ticket", type="primary")

job = ws.jobs.get("lottery")
if start and (job is None or job.done):
    with errors_shown():
        config = TrainConfig(int(steps))
        scratch = session.fork()
        train = train_split(scratch)
        found: list = []

        def work(progress):
            return lottery(
                scratch.working,
                train,
                scratch.data,
                int(rounds),
                rate / 100,
                int(rewind),
                config,
                progress,
                on_round=found.append,
            )

        job = ws.jobs["lottery"] = Job("lottery", work, found)


finished = follow_job(
    ws,
    "lottery",
    "The lottery run",
    draw=lambda job: job.partial and st.plotly_chart(charts.lottery_chart(list(job.partial)), key="lt_live"),
    stop_label="Stop",
    keep_stopped=True,
)
if finished is not None and finished.cancelled:
    if finished.partial:
        st.session_state.lt_result = (list(finished.partial), None, None)
        st.warning(f"Stopped after {len(finished.partial)} round(s); they are kept below.")
    else:
        st.warning("Stopped before the first round finished; there is nothing to keep.")
elif finished is not None:
    st.session_state.lt_result = finished.result

result = st.session_state.get("lt_result")
if result is not None:
    rounds_done, masks, state = result
    st.plotly_chart(charts.lottery_chart(rounds_done), key="lt_chart")
    table = pd.DataFrame([r.__dict__ for r in rounds_done])
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button("Download CSV", to_csv(rounds_done), "lottery.csv", "text/csv", key="lt_csv")
    if state is None:
        st.caption("A stopped run keeps its rounds; run all rounds to load the ticket as your model.")
    elif st.button("Load the final ticket as the session's model", key="lt_load"):
        saved = session.save_state()
        saved["state"] = {k: v.clone() for k, v in state.items()}
        saved["dense"] = {n: state[f"{n}.weight"].clone() for n in session.layer_names}
        saved["masks"], saved["plans"] = dict(masks), {}
        session.load_state(saved)
        ws.training = None
        remaining = rounds_done[-1].remaining
        st.success(f"Loaded: accuracy {session.report().accuracy:.1%} with {remaining:.1%} of weights.")
