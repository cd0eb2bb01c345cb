"""Lottery tickets: prune, rewind the survivors to their initial values, retrain; against a control."""

import pandas as pd
import streamlit as st

from pruneviz.core.jobs import Job
from pruneviz.ui.keys import LOTTERY as K
from pruneviz.ui.state import errors_shown, page_header
from pruneviz.ui.widgets import Note, follow_job
from pruneviz.views import charts
from pruneviz.workflows.lottery import LotteryRun, adopt_ticket, lottery, to_csv
from pruneviz.workflows.recovery import TrainConfig, train_split

ws = page_header(
    "Lottery ticket", "Iterative magnitude pruning with rewinding (Frankle & Carbin), and its control."
)
session = ws.session
if session.task.lottery_note:
    st.info(session.task.lottery_note)
    st.stop()

with st.form(K("form")):
    c1, c2, c3, c4 = st.columns(4)
    rounds = c1.number_input("Rounds", 1, 20, 6, key=K("rounds"))
    rate = c2.number_input("Prune per round (%)", 1, 90, 20, key=K("rate"))
    rewind = c3.number_input("Rewind to step (0 = init)", 0, 10_000, 0, key=K("rewind"))
    steps = c4.number_input("Training steps per round", 10, 20_000, 400, step=50, key=K("steps"))
    start = st.form_submit_button("Find a ticket", type="primary", key=K("start"))

job = ws.jobs.get("lottery")
if start and (job is None or job.done):
    with errors_shown():
        config = TrainConfig(int(steps))
        scratch = session.fork()
        train = train_split(scratch)
        found: list = []

        def work(progress):
            return lottery(
                scratch.writable(),
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


def adopt(job) -> Note | None:
    """The run (an experiment of its own, trained from a fresh initialisation: it holds whatever the
    session does meanwhile)."""
    if not job.cancelled:
        ws.lottery = job.result
        return None
    if not job.partial:
        return "warning", "Stopped before the first round finished; there is nothing to keep."
    ws.lottery = LotteryRun(list(job.partial))
    return "warning", f"Stopped after {len(job.partial)} round(s); they are kept below."


follow_job(
    ws,
    "lottery",
    "The lottery run",
    K,
    adopt,
    draw=lambda job: job.partial and st.plotly_chart(charts.lottery_chart(list(job.partial)), key=K("live")),
    stop_label="Stop",
    keep_stopped=True,
)

run = ws.lottery
if run is not None:
    st.plotly_chart(charts.lottery_chart(run.rounds), key=K("chart"))
    st.dataframe(pd.DataFrame([r.__dict__ for r in run.rounds]), hide_index=True, width="stretch")
    st.download_button("Download CSV", to_csv(run.rounds), "lottery.csv", "text/csv", key=K("csv"))
    if not run.ticket:
        st.caption("A stopped run keeps its rounds; run all rounds to load the ticket as your model.")
    elif st.button("Load the final ticket as the session's model", key=K("load")):
        adopt_ticket(session, run)
        remaining = run.rounds[-1].remaining
        accuracy = session.report().score
        st.success(f"Loaded: accuracy {accuracy:.1%} with {remaining:.1%} of weights.")
