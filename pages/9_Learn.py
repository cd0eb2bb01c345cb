"""Workshop page: each technique in a few sentences with a live example, then exercises to check."""

import time

import pandas as pd
import streamlit as st

from pruneviz.ui.keys import LEARN as K
from pruneviz.ui.room import share_form
from pruneviz.ui.state import Choice, errors_shown, page_header, shared_baseline
from pruneviz.workflows.exercises import exercises_for
from pruneviz.workflows.lessons import LESSONS, LLM_LESSONS
from pruneviz.workflows.recovery import train_split
from pruneviz.workflows.session import PruneSession

ws = page_header("Learn", "Pruning techniques in a few sentences each, tried live on the demo models.")


# Each section's lessons and the demo model their examples run on.
SECTIONS = {
    "Techniques": ("demo:cnn", LESSONS),
    "Language models": ("demo:gpt", LLM_LESSONS),
}


@st.cache_data(show_spinner="Running the example on the demo model…", max_entries=32)
def run_example(section: str, index: int) -> list[dict]:
    """Examples run on forks of the shared demo model; results are the same for everyone."""
    spec, lessons = SECTIONS[section]
    model, data = shared_baseline(Choice(spec))
    demo = PruneSession(model, data, data.x.device)
    return lessons[index].example(demo, train_split(demo))


for section, (spec, lessons) in SECTIONS.items():
    st.header(section)
    st.caption(f"Examples run on `{spec}`.")
    for i, lesson in enumerate(lessons):
        with st.expander(lesson.title, expanded=i == 0 and section == "Techniques"):
            st.markdown(lesson.text)
            ran = K(f"ran_{section}_{i}")
            if st.button("Run the example", key=K(f"run_{section}_{i}")):
                st.session_state[ran] = True
            if st.session_state.get(ran):
                with errors_shown():
                    st.dataframe(pd.DataFrame(run_example(section, i)), hide_index=True, width="stretch")

st.header("Exercises")
exercises = exercises_for(ws.session.task)
if not exercises:
    st.info("The exercises are written for the demo classifiers: load demo:cnn on the Model & data page.")
    st.stop()
st.caption(f"Checked against your own session: `{ws.session.model.spec}` as you left it on the Prune page.")
for i, exercise in enumerate(exercises):
    with st.container(border=True):
        st.subheader(f"{i + 1}. {exercise.title}")
        st.markdown(exercise.task)
        answer = None
        if exercise.asks_layer:
            answer = st.selectbox("Your answer", ws.session.layer_names, index=None, key=K(f"answer_{i}"))
        if st.button("Check", key=K(f"check_{i}"), type="primary"):
            with errors_shown(), st.spinner("Checking…"):
                verdict = exercise.check(ws.session, ws.baseline, answer)
                (st.success if verdict.passed else st.warning)(str(verdict))
                if verdict.passed:
                    ws.passed.setdefault(exercise.title, time.time())

if ws.passed:
    st.subheader("Share with the room")
    st.caption(f"Exercises passed in this session: {', '.join(ws.passed)}.")
    share_form(ws, "learn")
