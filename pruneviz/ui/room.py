"""The workshop room in the dashboard: this browser session's identity in the room, its store, and the
"Share with the room" form the Prune and Learn pages show."""

from __future__ import annotations

import uuid

import streamlit as st

from pruneviz.io.room import RoomStore
from pruneviz.ui.keys import ROOM as K
from pruneviz.ui.state import Workspace, errors_shown, policy
from pruneviz.workflows.room import NICKNAME_MAX, attendee_name, nickname, share_session


def session_id() -> str:
    """An opaque id for this browser session (it survives model switches, not a reload)."""
    return st.session_state.setdefault(K("id"), uuid.uuid4().hex)


def store() -> RoomStore:
    """The server's room (a readable error when its file cannot be used)."""
    return RoomStore(policy().room_db)


def share_form(ws: Workspace, where: str) -> None:
    """Nickname and a button sharing the session's current configuration (and the exercises it
    passed) with the room; ``where`` keeps the button's key unique per page."""
    with st.form(K(f"share_{where}"), border=False):
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        name = c1.text_input(
            "Your nickname in the room", max_chars=NICKNAME_MAX, key=K(f"nickname_{where}"),
            placeholder="anonymous", help="Shown to everyone in the room, as plain text",
        )  # fmt: skip
        shared = c2.form_submit_button("Share with the room", key=K(f"share_button_{where}"))
    if shared:
        with errors_shown():
            room = store()
            chosen = nickname(name, attendee_name(room, session_id()))
            share = share_session(room, ws.session, session_id(), chosen, tuple(ws.passed))
            passed = f" with {len(share.exercises)} exercise(s) passed" if share.exercises else ""
            # the nickname is not echoed here: it is the attendee's text, and alerts render markdown
            st.success(f"Shared with the room{passed}: see it on the Room page.", icon="✅")
