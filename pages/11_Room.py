"""The workshop room: everyone's shared configurations side by side, live; the instructor runs it."""

import time

import pandas as pd
import streamlit as st

from pruneviz.core.errors import PrunevizError
from pruneviz.ui.keys import ROOM as K
from pruneviz.ui.room import share_form, store
from pruneviz.ui.state import SliderRequest, errors_shown, page_header, policy
from pruneviz.views import charts
from pruneviz.workflows.recipe import apply_recipe
from pruneviz.workflows.room import front, metric_of, passes, share_recipe

REFRESH_S = 2.0

ws = page_header(
    "Room",
    "Everyone's shared configurations, refreshed live. Share yours below, from the Prune page, or with "
    "your exercises on the Learn page; click someone's point to load their configuration into your own "
    "session (nobody else's changes).",
)
rules = policy()
room = None
with errors_shown():
    room = store()
if room is None:
    st.caption("The room is unavailable; every other page works as usual.")
    st.stop()
share_form(ws, "room")


def load_clicked() -> None:
    points = st.session_state[K("scatter")].selection.points
    if points and "customdata" in points[0]:
        load(int(points[0]["customdata"]))


def load(share_id: int) -> None:
    """Apply share ``share_id`` to this session and send its settings to the page that shows them."""
    chosen = next((s for s in room.shares() if s.id == share_id), None)
    try:
        if chosen is None:
            raise PrunevizError("that share is no longer in the room")
        recipe = share_recipe(ws.session, chosen)
        # asked first: a recipe the Prune page cannot show is refused before the session changes
        sliders = None if recipe.structure is not None else SliderRequest.of_recipe(recipe, ws.session)
        apply_recipe(ws.session, recipe)
    except PrunevizError as err:
        ws.room_loaded = f"Could not load it: {err}"
        return
    if sliders is None:  # a structure removed for real: the Structured page's widgets follow
        ws.structure_request = recipe.structure
        ws.room_loaded = f"Loaded share #{chosen.id} into your session: see the Structured page."
    else:
        ws.prune_request = sliders  # the sliders follow
        ws.room_loaded = f"Loaded share #{chosen.id} into your session: see the Prune page."


@st.fragment(run_every=REFRESH_S)
def live() -> None:
    """The room as the store has it now (polled: new shares appear without a reload)."""
    try:
        shares = room.shares()
    except PrunevizError as err:
        st.error(str(err), icon="⚠️")
        return
    if ws.room_loaded:
        st.info(ws.room_loaded)
    if not shares:
        st.info("Nobody has shared yet.")
        return
    models = list(dict.fromkeys(s.model for s in shares))
    here = ws.session.model.spec
    model = st.selectbox("Model", models, index=models.index(here) if here in models else 0, key=K("model"))
    mine = [s for s in shares if s.model == model]
    metric = metric_of(mine[0])
    best = front(mine, metric.higher_is_better)
    st.plotly_chart(
        charts.room_scatter(mine, best, metric), key=K("scatter"), on_select=load_clicked,
        selection_mode="points",
    )  # fmt: skip
    labels = {s.id: f"#{s.id} · {s.nickname} · {metric.format(s.score)} · {s.params:,} params" for s in mine}
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    which = c1.selectbox(
        "Or choose a share", list(labels), format_func=labels.get, key=K("which"), index=None
    )
    c2.button("Load into my session", key=K("load"), disabled=which is None, on_click=load, args=(which,))
    st.caption(
        f"{len(mine)} share(s) of {model} by {len({s.nickname for s in mine})} attendee(s); "
        f"{len(best)} on the room's Pareto front. Updated {time.strftime('%H:%M:%S')}."
    )
    done = passes(shares)
    if done:
        st.markdown("**Exercises passed**")
        clock = [time.strftime("%H:%M:%S", time.localtime(p.when)) for p in done]
        rows = [{"exercise": p.exercise, "who": p.nickname, "when": t} for p, t in zip(done, clock)]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


live()


@st.fragment(run_every=REFRESH_S)
def manage() -> None:
    """The instructor's view of every share (hidden ones too), refreshed like the room."""
    with errors_shown():
        everyone = room.shares(include_hidden=True)
        labels = {
            s.id: f"#{s.id} · {s.nickname} · {s.model}{' (hidden)' if s.hidden else ''}" for s in everyone
        }
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        chosen = c1.selectbox("Share", list(labels), format_func=labels.get, key=K("hide_which"), index=None)
        if c2.button("Hide / show", key=K("hide"), disabled=chosen is None):
            room.hide(chosen, not next(s.hidden for s in everyone if s.id == chosen))
            st.rerun()
        c3, c4 = st.columns(2)
        c3.download_button("Download the room as CSV", room.to_csv(), "room.csv", "text/csv", key=K("csv"))
        sure = c4.checkbox("Yes, delete every share", key=K("sure"))
        if c4.button("Clear the room", type="primary", key=K("clear"), disabled=not sure):
            st.success(f"Cleared {room.clear()} share(s).")


if rules.instructor_token is None:  # nobody runs the room from here
    st.caption(
        "No instructor panel: this server was started without `PRUNEVIZ_INSTRUCTOR_TOKEN`. Whoever starts "
        "it sets one to hide shares, pick the room's model and clear the room from this page."
    )
    st.stop()
with st.expander("Instructor", expanded=ws.instructor):
    if not ws.instructor:
        with st.form(K("token_form"), border=False, clear_on_submit=True):  # the token is not kept
            given = st.text_input("Instructor token", type="password", key=K("token"))
            if st.form_submit_button("Unlock", key=K("unlock")):
                with errors_shown():
                    ws.instructor = ws.token_guard.attempt(given, rules.instructor_token)
                    if not ws.instructor:
                        st.error("That is not the instructor token.", icon="⚠️")
        if ws.instructor:
            st.rerun()
    else:
        with errors_shown():
            c1, c2 = st.columns(2)
            model = c1.text_input(
                "Room model", room.setting("model") or ws.session.model.spec, key=K("set_model")
            )
            data = c2.text_input(
                "Room data (empty: the model's default)", room.setting("data") or "", key=K("set_data")
            )
            if st.button("Set the room's model", key=K("set"), help="Attendees who open the app get it"):
                for spec in (model, data or None):
                    rules.check_spec(spec)
                room.set_setting("model", model.strip() or None)
                room.set_setting("data", data.strip() or None)
                st.success("Set: attendees opening the app get it.")
        manage()
