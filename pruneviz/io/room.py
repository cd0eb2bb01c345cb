"""The workshop room's shared store: what attendees shared, and the room's settings, in one SQLite file.

SQLite in WAL mode lets the dashboard's sessions (threads of one server process, or several servers on
one disk) read while one writes; every call opens its own connection, so threads never share one, and
waits up to ``timeout_s`` for a writer to finish. Failures (a corrupt file, a lock held too long, a
directory that cannot be written) become one readable :class:`~pruneviz.core.errors.PrunevizError`:
the page says so and pruning goes on.

Schema (``PRAGMA user_version`` = 1)::

    shares(id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL,   -- unix time
           session TEXT,                                         -- the sharing browser session
           nickname TEXT, model TEXT, data TEXT,
           metric TEXT, score REAL,                              -- e.g. accuracy 0.975 / perplexity 3.6
           params INTEGER, macs INTEGER,                         -- non-zero parameters, effective MACs
           exercises TEXT,                                       -- JSON list of exercise titles passed
           recipe TEXT,                                          -- the configuration, as a recipe (YAML)
           hidden INTEGER DEFAULT 0)                             -- hidden by the instructor
    settings(key TEXT PRIMARY KEY, value TEXT)                   -- 'model', 'data': what attendees get
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pruneviz.core.errors import PrunevizError

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS shares(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    session TEXT NOT NULL,
    nickname TEXT NOT NULL,
    model TEXT NOT NULL,
    data TEXT NOT NULL,
    metric TEXT NOT NULL,
    score REAL NOT NULL,
    params INTEGER NOT NULL,
    macs INTEGER NOT NULL,
    exercises TEXT NOT NULL,
    recipe TEXT NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS shares_by_session ON shares(session, created);
CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
COLUMNS = ("id", "created", "nickname", "model", "data", "metric", "score", "params", "macs", "exercises")


@dataclass(frozen=True)
class Share:
    """One attendee's shared configuration, as stored."""

    id: int
    created: float
    session: str
    nickname: str
    model: str
    data: str
    metric: str
    score: float
    params: int
    macs: int
    exercises: tuple[str, ...]
    recipe: str
    hidden: bool = False


class RoomStore:
    """The room at ``path`` (created with its directory on first use)."""

    def __init__(self, path: str | Path, timeout_s: float = 5.0) -> None:
        self.path, self.timeout_s = Path(path), timeout_s
        with self._connect(setup=True) as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise PrunevizError(f"{self.path} is a room from a newer pruneviz (schema {version})")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _connect(self, write: bool = False, setup: bool = False) -> Iterator[sqlite3.Connection]:
        """One connection for one operation (a write takes the write lock at once, so two writers
        queue instead of failing half-way), committed on success; SQLite's errors as one line.
        ``setup``: no transaction (WAL mode and the schema script manage their own)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise PrunevizError(f"the room's store {self.path} cannot be opened: {err}") from None
        try:
            if setup:  # a property of the file, set once; the schema script commits by itself
                db.execute("PRAGMA journal_mode=WAL")
                yield db
                return
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield db
            db.execute("COMMIT")
        except sqlite3.OperationalError as err:
            _rollback(db)
            if "locked" in str(err) or "busy" in str(err):
                raise PrunevizError(
                    f"the room's store {self.path} is locked by another program (waited "
                    f"{self.timeout_s:.0f} s); try again"
                ) from None
            raise PrunevizError(f"the room's store {self.path} failed: {err}") from None
        except sqlite3.DatabaseError as err:
            _rollback(db)
            raise PrunevizError(f"the room's store {self.path} is not a usable database ({err})") from None
        except BaseException:
            _rollback(db)
            raise
        finally:
            db.close()

    def add(self, share: Share) -> int:
        """Store ``share`` (its ``id`` is ignored); returns the new id."""
        with self._connect(write=True) as db:
            cursor = db.execute(
                "INSERT INTO shares(created, session, nickname, model, data, metric, score, params, macs, "
                "exercises, recipe) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (share.created, share.session, share.nickname, share.model, share.data, share.metric,
                 share.score, share.params, share.macs, json.dumps(list(share.exercises)), share.recipe),
            )  # fmt: skip
            return int(cursor.lastrowid)

    def recent(self, session: str, seconds: float) -> int:
        """How many shares ``session`` made in the last ``seconds``."""
        with self._connect() as db:
            since = time.time() - seconds
            query = "SELECT COUNT(*) FROM shares WHERE session = ? AND created > ?"
            return int(db.execute(query, (session, since)).fetchone()[0])

    def shares(self, include_hidden: bool = False) -> list[Share]:
        """Every share, oldest first (hidden ones only when asked)."""
        where = "" if include_hidden else " WHERE hidden = 0"
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, created, session, nickname, model, data, metric, score, params, macs, exercises, "
                f"recipe, hidden FROM shares{where} ORDER BY id"
            ).fetchall()
        return [Share(*r[:10], tuple(json.loads(r[10])), r[11], bool(r[12])) for r in rows]

    def hide(self, share_id: int, hidden: bool = True) -> None:
        with self._connect(write=True) as db:
            db.execute("UPDATE shares SET hidden = ? WHERE id = ?", (int(hidden), share_id))

    def clear(self) -> int:
        """Delete every share; returns how many there were."""
        with self._connect(write=True) as db:
            return db.execute("DELETE FROM shares").rowcount

    def setting(self, key: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str | None) -> None:
        """Set (or, with None, remove) a room setting."""
        with self._connect(write=True) as db:
            if value is None:
                db.execute("DELETE FROM settings WHERE key = ?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))

    def to_csv(self) -> str:
        """Every share (hidden ones marked) as CSV, for the instructor: no recipes, no session ids."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow([*COLUMNS, "hidden"])
        for s in self.shares(include_hidden=True):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created))
            text = map(inert, (s.nickname, s.model, s.data, s.metric, "; ".join(s.exercises)))
            nickname, model, data, metric, exercises = text
            writer.writerow([s.id, when, nickname, model, data, metric, s.score, s.params, s.macs, exercises,
                             int(s.hidden)])  # fmt: skip
        return buf.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """``text`` as a spreadsheet shows it but never runs it: a cell starting like a formula (=, +, -, @,
    tab, carriage return) gets a leading apostrophe (OWASP's advice against CSV injection)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        db.rollback()
