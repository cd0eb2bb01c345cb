"""Workshop page: each technique in a few sentences with a live example, then exercises to check."""

import pandas as pd
import streamlit as st

from pruneviz.ui.keys import LEARN as K
from pruneviz.ui.state import Choice, errors_shown, page_header, shared_baseline
from pruneviz.workflows.exercises import EXERCISES
from pruneviz.workflows.lessons import LESSONS
from pruneviz.workflows.recovery import train_split
from pruneviz.workflows.session import PruneSession

ws = page_header("Learn", "Pruning techniques in a few sentences each, tried live on the demo CNN.")


@st.cache_data(show_spinner="Running the example on the demo model…", max_entries=32)
def run_example(index: int) -> list[dict]:
    """Examples run on forks of the shared demo model; results are the same for everyone."""
    model, data = shared_baseline(Choice("demo:cnn"))
    demo = PruneSession(model, data, data.x.device)
    return LESSONS[index].example(demo, train_split(demo))


st.header("Techniques")
for i, lesson in enumerate(LESSONS):
    with st.expander(lesson.title, expanded=i == 0):
        st.markdown(lesson.text)
        if st.button("Run the example", key=K(f"run_{i}")):
            st.session_state[K(f"ran_{i}")] = True
        if st.session_state.get(K(f"ran_{i}")):
            st.dataframe(pd.DataFrame(run_example(i)), hide_index=True, width="stretch")

st.header("Exercises")
st.caption(f"Checked against your own session: `{ws.session.model.spec}` as you left it on the Prune page.")
for i, exercise in enumerate(EXERCISES):
    with st.container(border=True):
        st.subheader(f"{i + 1}. {exercise.title}")
        st.markdown(exercise.task)
        answer = None
        if exercise.asks_layer:
            answer = st.selectbox("Your answer", ws.session.layer_names, index=None, key=K(f"answer_{i}"))
        if st.button("Check", key=K(f"check_{i}"), type="primary"):
            with errors_shown(), st.spinner("Checking…"):
                verdict = exercise.check(ws.session, ws.baseline, answer)
                (st.success if verdict.passed else st.warning)(verdict.message)
