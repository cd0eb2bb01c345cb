"""What a dashboard server lets its browsers do, decided by whoever starts it.

A browser is someone else's hands on the server's machine. ``make run`` serves one person on their own
machine (Streamlit listens on 127.0.0.1 only); ``make serve`` listens beyond it, for a room, and the
policy tightens by default: nothing that a crafted upload could turn into code. Whoever starts the
server can loosen each rule explicitly with an environment variable. In both cases a browser may not
run code (``python:`` specs) unless allowed, may read files only under the data root (plus its own
uploads), and gets a bounded activation cache per session. The command line is the user's own process
and is not limited by this.

========================== =================================================== ========= =========
variable                   effect                                              own use   room
========================== =================================================== ========= =========
PRUNEVIZ_ALLOW_PYTHON      ``1``: browsers may name ``python:`` model/data specs off       off
PRUNEVIZ_ALLOW_PICKLE      ``1`` / ``0``: offer the "trust pickled objects" box  on        off
PRUNEVIZ_DATA_ROOT         directories (``:``-separated) browser specs may read server's cwd (both)
PRUNEVIZ_SESSION_MEMORY_MB cap on each session's cached activations, in MiB    2048      2048
PRUNEVIZ_RAY_ADDRESS       a Ray cluster (host:port) the Sensitivity page may  none      none
                           run sweeps on ("Run on the cluster")
PRUNEVIZ_ROOM_DB           the workshop room's SQLite file                     .pruneviz/room.sqlite
PRUNEVIZ_INSTRUCTOR_TOKEN  whoever enters it runs the room (model, clear,      none      none
                           hide, export); never shown back
PRUNEVIZ_UPLOAD_TTL_S      an upload unused this long is deleted (seconds)     3600      3600
PRUNEVIZ_LIVE_S            seconds a slider move may take before its metric    1.5       1.5
                           comes as an estimate refined batch by batch
========================== =================================================== ========= =========

"Own use" is a server listening on a loopback address only; any other address (``0.0.0.0``, a LAN
address, Streamlit's default of every interface) is a room.

The rules are enforced by a :class:`~pruneviz.io.gate.Gate` (:meth:`ServerPolicy.gate`) that the model
and data loaders themselves ask, so they hold for specs named inside uploaded files as much as for
typed ones.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pruneviz.core.errors import PrunevizError
from pruneviz.core.evaluate import DEFAULT_BUDGET_BYTES
from pruneviz.io.gate import Gate

ALLOW_PYTHON = "PRUNEVIZ_ALLOW_PYTHON"
ALLOW_PICKLE = "PRUNEVIZ_ALLOW_PICKLE"
DATA_ROOT = "PRUNEVIZ_DATA_ROOT"
SESSION_MEMORY = "PRUNEVIZ_SESSION_MEMORY_MB"
RAY_ADDRESS = "PRUNEVIZ_RAY_ADDRESS"
ROOM_DB = "PRUNEVIZ_ROOM_DB"
INSTRUCTOR_TOKEN = "PRUNEVIZ_INSTRUCTOR_TOKEN"
DEFAULT_ROOM_DB = Path(".pruneviz") / "room.sqlite"
UPLOAD_TTL = "PRUNEVIZ_UPLOAD_TTL_S"
DEFAULT_UPLOAD_TTL_S = 3600.0
LIVE = "PRUNEVIZ_LIVE_S"
DEFAULT_LIVE_S = 1.5


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to ``address`` is reachable from this machine only (an empty address
    means every interface; an unknown host name counts as reachable from outside)."""
    if not address:
        return False
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _number(env: Mapping[str, str], name: str, default: float, what: str) -> float:
    try:
        return float(env.get(name, default))
    except ValueError:
        raise PrunevizError(f"{name} must be {what}, not {env[name]!r}") from None


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    if value not in ("0", "1"):
        raise PrunevizError(f"{name} must be 0 or 1, not {value!r}")
    return value == "1"


@dataclass(frozen=True)
class ServerPolicy:
    """The server's answer to "may a browser do this?", read once from the environment and the
    address the server listens on."""

    exposed: bool = False  # listening beyond this machine: a room
    allow_python: bool = False
    allow_pickle: bool = True
    data_roots: tuple[Path, ...] = ()
    session_memory_bytes: int = DEFAULT_BUDGET_BYTES
    ray_address: str | None = None  # the cluster sweeps may run on (browsers cannot name one)
    room_db: Path = DEFAULT_ROOM_DB
    instructor_token: str | None = field(default=None, repr=False)  # never printed, never shown
    upload_ttl_s: float = DEFAULT_UPLOAD_TTL_S  # an uploaded file unused this long is deleted
    live_s: float = DEFAULT_LIVE_S  # a slider move may take this long; past it, metrics come as estimates

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        uploads: Path | None = None,
        address: str | None = "127.0.0.1",
    ) -> ServerPolicy:
        """The policy set by ``env`` (default: this process's environment) for a server listening on
        ``address``; ``uploads`` is always readable, since the browser put its files there itself."""
        env = os.environ if env is None else env
        exposed = not is_loopback(address)
        roots = [Path(p) for p in env.get(DATA_ROOT, os.getcwd()).split(os.pathsep) if p]
        if uploads is not None:
            roots.append(uploads)
        memory_mb = _number(env, SESSION_MEMORY, DEFAULT_BUDGET_BYTES / 2**20, "a number of MiB")
        return cls(
            exposed=exposed,
            allow_python=_switch(env, ALLOW_PYTHON, False),
            allow_pickle=_switch(env, ALLOW_PICKLE, not exposed),
            data_roots=tuple(root.resolve() for root in roots),
            session_memory_bytes=int(memory_mb * 2**20),
            ray_address=env.get(RAY_ADDRESS) or None,
            room_db=Path(env.get(ROOM_DB) or DEFAULT_ROOM_DB),
            instructor_token=env.get(INSTRUCTOR_TOKEN) or None,
            upload_ttl_s=_number(env, UPLOAD_TTL, DEFAULT_UPLOAD_TTL_S, "a number of seconds"),
            live_s=_number(env, LIVE, DEFAULT_LIVE_S, "a number of seconds"),
        )

    def gate(self, uploads: Path | None = None) -> Gate:
        """The rules every spec a browser names — typed, uploaded, or named inside an uploaded file —
        is held to, inside the loaders; ``uploads`` (the session's own upload folder) is readable too.
        Nothing a file names is loaded unless the same rule would let a browser type it."""
        extra = (uploads.resolve(),) if uploads is not None else ()
        return Gate(
            python=self.allow_python,
            python_in_files=self.allow_python,
            roots=self.data_roots + extra,
            why_python=f"start the dashboard with {ALLOW_PYTHON}=1 to allow python: specs",
            why_roots=f"start the dashboard with {DATA_ROOT}=DIR to share another",
        )

    def check_spec(self, spec: str | None) -> None:
        """Refuse (with the setting that would allow it) a spec a browser may not use."""
        self.gate().check_spec(spec)

    def check_trust(self, trust_pickle: bool) -> None:
        if trust_pickle and not self.allow_pickle:
            raise PrunevizError(self.no_pickles())

    def no_pickles(self) -> str:
        """Why this server refuses pickled files, and who could change that."""
        how = (
            f"whoever starts it may allow them with {ALLOW_PICKLE}=1" if self.exposed else f"{ALLOW_PICKLE}=0"
        )
        return (
            "this server does not unpickle uploaded files (unpickling runs code from the file); upload "
            f"weights only (a state_dict, a pruneviz checkpoint, safetensors, TorchScript or ONNX); {how}"
        )

    def rules(self) -> list[tuple[str, bool, str]]:
        """What a browser may do here: (what, allowed, the setting that changes it), for people."""
        roots = ", ".join(str(r) for r in self.data_roots)
        return [
            (
                "unpickle uploaded files it is told to trust (runs code from the file)",
                self.allow_pickle,
                ALLOW_PICKLE,
            ),
            (
                "name python: model or data specs, typed or inside an uploaded file (runs code on the "
                "server)",
                self.allow_python,
                ALLOW_PYTHON,
            ),
            (f"read folders and files under {roots} (and its own uploads)", True, DATA_ROOT),
            (
                f"keep an upload up to {self.upload_ttl_s / 60:.0f} min unused (all go when its session "
                "ends)",
                True,
                UPLOAD_TTL,
            ),
            ("read any other folder or file on the server", False, DATA_ROOT),
            (
                f"cache up to {self.session_memory_bytes / 2**20:.0f} MiB of activations per session",
                True,
                SESSION_MEMORY,
            ),
            (
                f"run sensitivity sweeps on the Ray cluster at {self.ray_address or '(none set)'}",
                self.ray_address is not None,
                RAY_ADDRESS,
            ),
            (
                "run the workshop room (set its model, clear it, hide shares, export) with the instructor "
                "token",
                self.instructor_token is not None,
                INSTRUCTOR_TOKEN,
            ),
        ]
