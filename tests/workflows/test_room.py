"""The workshop room's rules: nicknames are text, shares are bounded and rate-limited, loading a share
changes only your session, the front and the exercise table, the instructor token."""

import time

import pytest

from pruneviz.core.errors import PrunevizError
from pruneviz.io.room import RoomStore, Share
from pruneviz.workflows import room as R
from pruneviz.workflows.recipe import apply_recipe
from pruneviz.workflows.session import LayerPlan


def test_nicknames_are_plain_bounded_text():
    assert R.nickname("  <script>alert(1)</script> ", "attendee 1") == "<script>alert(1)</script>"
    assert R.nickname("ada\x00\x1b[31m\n lovelace", "x") == "ada[31m lovelace"
    assert R.nickname("", "attendee 7") == "attendee 7" and R.nickname(None, "attendee 7") == "attendee 7"
    assert R.nickname("x" * 40, "f") == "x" * 40
    with pytest.raises(PrunevizError, match="at most 40 characters"):
        R.nickname("x" * 41, "f")


def test_attendees_are_numbered_in_the_order_they_first_shared(tmp_path, cnn_session):
    store = RoomStore(tmp_path / "room.sqlite")
    assert R.attendee_name(store, "a") == "attendee 1"
    R.share_session(store, cnn_session, "a", R.attendee_name(store, "a"))
    assert R.attendee_name(store, "b") == "attendee 2" and R.attendee_name(store, "a") == "attendee 1"


def test_a_share_carries_the_sessions_numbers_and_recipe_and_loads_into_another_session(
    tmp_path, cnn_session
):
    store = RoomStore(tmp_path / "room.sqlite")
    cnn_session.apply_layer_plans({"fc1": LayerPlan(0.8), "conv2": LayerPlan(0.5)})
    report = cnn_session.report()
    share = R.share_session(store, cnn_session, "a", "ada", ("80% sparse, under 1 point lost",))
    assert (share.score, share.params, share.macs) == (
        report.score,
        report.params_nonzero,
        report.macs_effective,
    )
    assert store.shares() == [share] and share.metric == "accuracy"
    other = cnn_session.fork(keep_weights=False)
    apply_recipe(other, R.share_recipe(other, share))
    assert other.layer_sparsity() == cnn_session.layer_sparsity() and other.report().score == report.score
    assert cnn_session.report() == report  # the sharer's session is untouched
    mlp = share.__class__(**{**share.__dict__, "model": "demo:mlp"})
    with pytest.raises(PrunevizError, match="is for demo:mlp; load that model first"):
        R.share_recipe(other, mlp)


def test_sharing_is_rate_limited_and_size_limited(tmp_path, cnn_session, monkeypatch):
    store = RoomStore(tmp_path / "room.sqlite")
    for _ in range(R.SHARES_PER_SECOND):
        R.share_session(store, cnn_session, "a", "ada")
    with pytest.raises(PrunevizError, match="shares a second"):
        R.share_session(store, cnn_session, "a", "ada")
    R.share_session(store, cnn_session, "b", "bob")  # another session is not held back
    monkeypatch.setattr(R, "RECIPE_MAX_BYTES", 100)  # the limit itself: any recipe is over 100 bytes
    with pytest.raises(PrunevizError, match="too large to share"):
        R.share_session(store, cnn_session, "c", "cy")


def row(i: int, nickname: str, score: float, params: int, exercises=(), created=None) -> Share:
    return Share(i, created or time.time(), "s", nickname, "demo:cnn", "digits", "accuracy", score, params,
                 0, tuple(exercises), "")  # fmt: skip


def test_the_rooms_front_and_who_passed_what():
    shares = [row(1, "a", 0.9, 100), row(2, "b", 0.95, 200), row(3, "c", 0.85, 150), row(4, "d", 0.97, 300)]
    assert R.front(shares, True) == [0, 1, 3]
    assert R.front(shares, False) == [0, 2]  # lower is better (perplexity): 0.85 at 150 now counts
    done = R.passes(
        [
            row(1, "a", 0.9, 1, ("B", "A"), 30.0),
            row(2, "a", 0.9, 1, ("A",), 10.0),
            row(3, "b", 0, 1, ("A",), 20.0),
        ]
    )
    assert [(p.exercise, p.nickname, p.when) for p in done] == [
        ("A", "a", 10.0),
        ("A", "b", 20.0),
        ("B", "a", 30.0),
    ]


def test_the_instructor_token_is_compared_exactly():
    assert R.is_instructor("s3cret", "s3cret")
    assert not R.is_instructor("s3cre", "s3cret") and not R.is_instructor("", "s3cret")
    assert not R.is_instructor("anything", None) and not R.is_instructor(None, None)


def test_a_session_gets_five_tries_of_the_instructor_token_a_minute():
    guard = R.TokenGuard()
    assert [guard.attempt("guess", "s3cret", now=100.0 + i) for i in range(R.TOKEN_TRIES)] == [False] * 5
    with pytest.raises(PrunevizError, match="too many tries of the instructor token: try again in 56 s"):
        guard.attempt("s3cret", "s3cret", now=104.0)  # even the right token waits
    assert guard.attempt("s3cret", "s3cret", now=100.0 + R.TOKEN_WINDOW_S)  # the first try has aged out
