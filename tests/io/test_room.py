"""The room's SQLite store: shares survive a restart, concurrent writers lose nothing, a corrupt or
locked file is one readable error."""

import csv
import io
import sqlite3
import threading
import time
from dataclasses import replace

import pytest

from pruneviz.core.errors import PrunevizError
from pruneviz.io.room import RoomStore, Share


def share(session: str = "s1", nickname: str = "ada", n: int = 0, exercises=()) -> Share:
    return Share(0, time.time(), session, nickname, "demo:cnn", "digits", "accuracy", 0.9 + n / 1e4,
                 1000 + n, 5000, tuple(exercises), f"pruneviz: 1\n# {n}\n")  # fmt: skip


def test_shares_survive_closing_and_reopening_the_store(tmp_path):
    path = tmp_path / "room" / "room.sqlite"
    first = RoomStore(path)
    ids = [first.add(share(n=i, exercises=("Half the filters",))) for i in range(3)]
    first.set_setting("model", "demo:mlp")
    del first
    again = RoomStore(path)
    rows = again.shares()
    assert [r.id for r in rows] == ids and rows[0].exercises == ("Half the filters",)
    assert rows[2].params == 1002 and rows[1].recipe == "pruneviz: 1\n# 1\n"
    assert again.setting("model") == "demo:mlp" and again.setting("data") is None
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_thirty_sessions_writing_at_once_lose_nothing(tmp_path):
    store = RoomStore(tmp_path / "room.sqlite", timeout_s=30)
    errors = []

    def attendee(i: int) -> None:
        try:
            for n in range(20):
                store.add(share(f"session {i}", f"attendee {i}", n))
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=attendee, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = [(r.session, r.params) for r in store.shares()]
    assert len(rows) == 600 and set(rows) == {
        (f"session {i}", 1000 + n) for i in range(30) for n in range(20)
    }


def test_hide_clear_settings_and_the_csv(tmp_path):
    store = RoomStore(tmp_path / "room.sqlite")
    a, b = store.add(share(nickname="<script>alert(1)</script>")), store.add(share(nickname="bob"))
    store.hide(a)
    assert [r.id for r in store.shares()] == [b] and len(store.shares(include_hidden=True)) == 2
    text = store.to_csv()
    assert text.splitlines()[0] == "id,created,nickname,model,data,metric,score,params,macs,exercises,hidden"
    assert "<script>alert(1)</script>" in text and "pruneviz: 1" not in text and "s1" not in text
    store.set_setting("model", None)
    assert store.recent("s1", 60) == 2 and store.recent("s2", 60) == 0
    assert store.clear() == 2 and store.shares(include_hidden=True) == []


def test_a_corrupt_file_is_one_readable_error(tmp_path):
    path = tmp_path / "room.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(PrunevizError, match="is not a usable database") as err:
        RoomStore(path)
    assert "\n" not in str(err.value)


def test_a_store_locked_by_another_program_is_one_readable_error(tmp_path):
    path = tmp_path / "room.sqlite"
    store = RoomStore(path, timeout_s=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(PrunevizError, match="locked by another program"):
            store.add(share())
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.add(share()) == 1  # works again once the lock is gone


def test_a_store_that_cannot_be_created_is_one_readable_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the room's folder should be")
    with pytest.raises(PrunevizError, match="cannot be opened"):
        RoomStore(blocker / "room.sqlite")


def test_the_csv_export_never_hands_a_spreadsheet_a_formula(tmp_path):
    store = RoomStore(tmp_path / "room.sqlite")
    for nickname in ('=HYPERLINK("http://x","y")', "+1+1", "-2", "@SUM(A1)", "plain"):
        store.add(replace(share(), nickname=nickname))
    rows = list(csv.DictReader(io.StringIO(store.to_csv())))
    assert [r["nickname"] for r in rows] == [
        '\'=HYPERLINK("http://x","y")',
        "'+1+1",
        "'-2",
        "'@SUM(A1)",
        "plain",
    ]
    assert all(float(r["score"]) == share().score for r in rows)  # numbers stay numbers
