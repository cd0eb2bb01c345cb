"""The workshop room through AppTest: share from the Prune page, see it on the Room page, load another
attendee's configuration into your own session, the instructor's controls, a broken store."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from pruneviz.io.room import RoomStore, Share
from pruneviz.workflows.exercises import SENSITIVITY_SPARSITY
from pruneviz.workflows.sensitivity import layer_sensitivity, most_sensitive
from tests.e2e.test_pages import ROOT, WORKSPACE

TOKEN = "correct horse battery staple"


@pytest.fixture
def room(tmp_path, monkeypatch) -> RoomStore:
    path = tmp_path / "room.sqlite"
    monkeypatch.setenv("PRUNEVIZ_ROOM_DB", str(path))
    monkeypatch.delenv("PRUNEVIZ_INSTRUCTOR_TOKEN", raising=False)
    return RoomStore(path)


def attendee() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()


def share_from_prune(at: AppTest, name: str, fc1: int) -> None:
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_layer_fc1").set_value(fc1).run()
    at.text_input(key="room_nickname_prune").input(name)
    at.button(key="room_share_button_prune").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("Shared with the room" in s.value for s in at.success)


def test_share_see_it_in_the_room_and_load_someone_elses_into_your_session(room):
    ada, bob = attendee(), attendee()
    share_from_prune(ada, "<b>ada</b>", 90)
    share_from_prune(bob, "bob", 50)
    ada_masks = dict(ada.session_state[WORKSPACE].session.layer_sparsity())
    bob.switch_page("pages/11_Room.py").run()
    figure = json.loads(bob.get("plotly_chart")[0].proto.spec)
    names = [t.get("name") for t in figure["data"]]
    assert "&lt;b&gt;ada&lt;/b&gt;" in names and "bob" in names  # escaped: data, not markup
    ada_share = next(s for s in room.shares() if s.nickname == "<b>ada</b>")
    bob.selectbox(key="room_which").set_value(ada_share.id).run()
    bob.button(key="room_load").click().run()
    session = bob.session_state[WORKSPACE].session
    assert session.layer_sparsity()["fc1"] == pytest.approx(0.9, abs=1e-3)  # bob now has ada's masks
    assert ada.session_state[WORKSPACE].session.layer_sparsity() == ada_masks  # ada's are untouched
    bob.switch_page("pages/3_Prune.py").run()
    assert bob.slider(key="prune_layer_fc1").value == 90  # the sliders followed
    assert session.layer_sparsity()["fc1"] == pytest.approx(0.9, abs=1e-3)


def test_exercises_passed_travel_with_a_share(room, cnn_session):
    sensitivity = layer_sensitivity(cnn_session, (SENSITIVITY_SPARSITY,))
    answer = most_sensitive(sensitivity, SENSITIVITY_SPARSITY)
    at = attendee().switch_page("pages/9_Learn.py").run()
    at.selectbox(key="learn_answer_0").set_value(answer)
    at.button(key="learn_check_0").click().run()
    assert at.success, [w.value for w in at.warning]
    at.text_input(key="room_nickname_learn").input("cy")
    at.button(key="room_share_button_learn").click().run()
    assert room.shares()[0].exercises == ("Find the most sensitive layer",)
    at.switch_page("pages/11_Room.py").run()
    table = at.dataframe[0].value
    assert list(table["exercise"]) == ["Find the most sensitive layer"] and list(table["who"]) == ["cy"]


def test_only_the_token_unlocks_the_instructor_and_attendees_cannot_clear(room, monkeypatch):
    share_from_prune(attendee(), "ada", 80)
    at = attendee().switch_page("pages/11_Room.py").run()
    assert not at.expander and "room_clear" not in [b.key for b in at.button]  # no token on the server
    monkeypatch.setenv("PRUNEVIZ_INSTRUCTOR_TOKEN", TOKEN)
    at = attendee().switch_page("pages/11_Room.py").run()
    at.text_input(key="room_token").input("guess")
    at.button(key="room_unlock").click().run()
    assert "not the instructor token" in at.error[0].value
    assert "room_clear" not in [b.key for b in at.button] and room.shares()
    at.text_input(key="room_token").input(TOKEN)
    at.button(key="room_unlock").click().run()
    assert TOKEN not in json.dumps([str(e) for e in at.main])  # never shown back
    at.text_input(key="room_set_model").input("demo:mlp")
    at.button(key="room_set").click().run()
    assert room.setting("model") == "demo:mlp"
    assert attendee().session_state[WORKSPACE].session.model.spec == "demo:mlp"  # newcomers get it
    at.checkbox(key="room_sure").check().run()
    at.button(key="room_clear").click().run()
    assert room.shares(include_hidden=True) == []


def test_a_corrupt_room_store_leaves_pruning_working(room, tmp_path, monkeypatch):
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"not a database at all" * 50)
    monkeypatch.setenv("PRUNEVIZ_ROOM_DB", str(broken))
    at = attendee().switch_page("pages/11_Room.py").run()
    assert not at.exception and "is not a usable database" in at.error[0].value
    at.switch_page("pages/3_Prune.py").run()
    at.slider(key="prune_layer_fc1").set_value(70).run()
    assert not at.exception and at.session_state[WORKSPACE].session.layer_sparsity()["fc1"] > 0.69
    at.text_input(key="room_nickname_prune").input("ada")
    at.button(key="room_share_button_prune").click().run()
    assert "is not a usable database" in at.error[0].value and not at.exception


def test_a_share_that_cannot_be_shown_is_refused_before_anything_changes(room):
    """Regression: loading a share applied its recipe, then refused it ('Could not load it')."""
    mixed = (
        "pruneviz: 1\nmodel: demo:cnn\nlayers:\n  conv2: {sparsity: 0.5}\n"
        "  fc1: {sparsity: 0.5, criterion: l2}\n"
    )
    sid = room.add(Share(0, 0.0, "someone", "mixer", "demo:cnn", "digits", "accuracy", 0.9, 1, 1, (), mixed))
    bob = attendee()
    bob.switch_page("pages/11_Room.py").run()
    session = bob.session_state[WORKSPACE].session
    bob.selectbox(key="room_which").set_value(sid).run()
    bob.button(key="room_load").click().run()
    assert not bob.exception
    assert any("Could not load it" in i.value and "mixes criteria" in i.value for i in bob.info)
    assert session.masks == {} and session.layer_sparsity()["conv2"] == 0.0  # nothing was applied


def test_one_share_gets_whole_parameter_ticks_and_no_token_is_explained(room):
    """Regression (issue 31): with one share the x axis ticked at '9,303.5' parameters, and a server
    without an instructor token showed no panel and no reason."""
    at = attendee()
    share_from_prune(at, "ada", 90)
    at.switch_page("pages/11_Room.py").run()
    xaxis = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["xaxis"]
    assert xaxis["tickformat"] == ",d" and xaxis["rangemode"] == "tozero"
    assert any("PRUNEVIZ_INSTRUCTOR_TOKEN" in c.value for c in at.caption)
