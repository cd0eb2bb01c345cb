"""The workshop room: attendees share their configurations, everyone sees the room's trade-offs side by
side, and the instructor runs the room.

A share is data, never markup: nicknames are plain text of at most 40 characters (the pages escape
them), a recipe at most 64 KiB; a session may share at most ``SHARES_PER_SECOND`` times a second.
Loading someone's share applies their recipe to *your* session only. The instructor is whoever enters
the server's token, compared in constant time.
"""

from __future__ import annotations

import hmac
import time
import unicodedata
from dataclasses import dataclass, field, replace

from pruneviz.core.errors import PrunevizError
from pruneviz.core.history import pareto_front
from pruneviz.io.room import RoomStore, Share
from pruneviz.tasks import TASKS, Metric
from pruneviz.workflows.recipe import Recipe, check_model, parse_recipe_text, recipe_text, session_document
from pruneviz.workflows.session import PruneSession

NICKNAME_MAX = 40
RECIPE_MAX_BYTES = 64 * 1024
SHARES_PER_SECOND = 2


def nickname(text: str | None, fallback: str) -> str:
    """``text`` as a nickname: control characters dropped, spaces collapsed, ``fallback`` when empty;
    longer than :data:`NICKNAME_MAX` characters is refused."""
    kept = "".join(c for c in text or "" if unicodedata.category(c)[0] != "C")
    name = " ".join(kept.split())
    if len(name) > NICKNAME_MAX:
        raise PrunevizError(f"a nickname has at most {NICKNAME_MAX} characters ({len(name)} given)")
    return name or fallback


def attendee_name(store: RoomStore, session_id: str) -> str:
    """The anonymous name of ``session_id``: "attendee N", N in the order sessions first shared."""
    sessions = list(dict.fromkeys(s.session for s in store.shares(include_hidden=True)))
    number = sessions.index(session_id) + 1 if session_id in sessions else len(sessions) + 1
    return f"attendee {number}"


def share_session(
    store: RoomStore, session: PruneSession, session_id: str, name: str, exercises: tuple[str, ...] = ()
) -> Share:
    """Share ``session``'s current configuration under ``name`` (already a :func:`nickname`) with the
    exercises it passed; refused when the recipe is too large or the session shares too fast."""
    recipe = recipe_text(session_document(session))
    if len(recipe.encode()) > RECIPE_MAX_BYTES:
        raise PrunevizError(
            f"this configuration's recipe is over {RECIPE_MAX_BYTES // 1024} KiB: too large to share"
        )
    if store.recent(session_id, 1.0) >= SHARES_PER_SECOND:
        raise PrunevizError(f"at most {SHARES_PER_SECOND} shares a second: wait a moment and share again")
    report = session.report()
    share = Share(
        0, time.time(), session_id, name, session.model.spec, session.data.spec, session.task.metric.key,
        report.score, report.params_nonzero, report.macs_effective, tuple(exercises), recipe,
    )  # fmt: skip
    return replace(share, id=store.add(share))


def share_recipe(session: PruneSession, share: Share) -> Recipe:
    """``share``'s recipe, checked for ``session``'s model (apply it with
    :func:`~pruneviz.workflows.recipe.apply_recipe`: only that session's model changes)."""
    if share.model != session.model.spec:
        raise PrunevizError(
            f"{share.nickname}'s configuration is for {share.model}; load that model first (you have "
            f"{session.model.spec})"
        )
    recipe = parse_recipe_text(share.recipe, f"{share.nickname}'s share")
    check_model(recipe, session.model, f"{share.nickname}'s share")
    return recipe


def metric_of(share: Share) -> Metric:
    """The metric a share was scored on (by its key: accuracy, perplexity)."""
    for name in TASKS.names():
        if TASKS.get(name).metric.key == share.metric:
            return TASKS.get(name).metric
    raise PrunevizError(f"a share scored on an unknown metric: {share.metric!r}")


def front(shares: list[Share], higher_is_better: bool) -> list[int]:
    """Indices of the shares on the room's Pareto front (better metric, fewer parameters)."""
    sign = 1.0 if higher_is_better else -1.0
    return pareto_front([(sign * s.score, s.params) for s in shares])


@dataclass(frozen=True)
class Passed:
    """Who passed an exercise, and when they first shared it passed."""

    exercise: str
    nickname: str
    when: float


def passes(shares: list[Share]) -> list[Passed]:
    """Per exercise and nickname, the first share that carried it passed, in exercise then time order."""
    first: dict[tuple[str, str], float] = {}
    for s in shares:
        for exercise in s.exercises:
            key = (exercise, s.nickname)
            first[key] = min(first.get(key, s.created), s.created)
    rows = [Passed(e, n, t) for (e, n), t in first.items()]
    return sorted(rows, key=lambda p: (p.exercise, p.when))


def is_instructor(given: str | None, token: str | None) -> bool:
    """Whether ``given`` is the server's instructor ``token`` (constant-time; no token: nobody is)."""
    if not token or not given:
        return False
    return hmac.compare_digest(given.encode(), token.encode())


TOKEN_TRIES = 5  # tries of the instructor token per session...
TOKEN_WINDOW_S = 60.0  # ...in any window this long


@dataclass
class TokenGuard:
    """One session's tries of the instructor token: at most :data:`TOKEN_TRIES` in any
    :data:`TOKEN_WINDOW_S` seconds, so a browser cannot guess it by brute force."""

    tries: list[float] = field(default_factory=list)

    def attempt(self, given: str | None, token: str | None, now: float | None = None) -> bool:
        """Whether ``given`` is the token; refused in one line while this session has tried too often."""
        now = time.time() if now is None else now
        self.tries = [t for t in self.tries if now - t < TOKEN_WINDOW_S]
        if len(self.tries) >= TOKEN_TRIES:
            wait = TOKEN_WINDOW_S - (now - self.tries[0])
            raise PrunevizError(f"too many tries of the instructor token: try again in {wait:.0f} s")
        self.tries.append(now)
        return is_instructor(given, token)
