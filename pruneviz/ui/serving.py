"""What a dashboard server lets its browsers do, decided by whoever starts it (environment variables).

A browser is someone else's hands on the server's machine. By default it may not run code (``python:``
specs), may read and write files only under the data root (plus its own uploads), and gets a bounded
activation cache per session. The command line is the user's own process and is not limited by this.

========================== ======================================================== ==============
variable                   effect                                                   default
========================== ======================================================== ==============
PRUNEVIZ_ALLOW_PYTHON      ``1``: browsers may name ``python:`` model/data specs     off
PRUNEVIZ_ALLOW_PICKLE      ``0``: hide the "trust pickled objects" checkbox           on
PRUNEVIZ_DATA_ROOT         directories (``:``-separated) browser specs may read      server's cwd
PRUNEVIZ_SESSION_MEMORY_MB cap on each session's cached activations, in MiB          2048
========================== ======================================================== ==============
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pruneviz.core.errors import PrunevizError
from pruneviz.core.evaluate import DEFAULT_BUDGET_BYTES

ALLOW_PYTHON = "PRUNEVIZ_ALLOW_PYTHON"
ALLOW_PICKLE = "PRUNEVIZ_ALLOW_PICKLE"
DATA_ROOT = "PRUNEVIZ_DATA_ROOT"
SESSION_MEMORY = "PRUNEVIZ_SESSION_MEMORY_MB"
# Schemes whose spec names a file or directory after the scheme (and, for torchvision data, a name).
_PATH_AFTER = {"file": 0, "folder": 0, "torchvision": 1}


def spec_path(spec: str) -> str | None:
    """The server path a model or data spec reads, if any: ``folder:PATH``, ``file:PATH``,
    ``torchvision:NAME:ROOT[:download]`` (a bare ``torchvision:resnet18`` names no path)."""
    scheme, _, rest = spec.partition(":")
    if scheme not in _PATH_AFTER or not rest:
        return None
    parts = rest.split(":", _PATH_AFTER[scheme])
    if len(parts) <= _PATH_AFTER[scheme]:
        return None
    return parts[-1].removesuffix(":download") or None


@dataclass(frozen=True)
class ServerPolicy:
    """The server's answer to "may a browser do this?", read once from the environment."""

    allow_python: bool = False
    allow_pickle: bool = True
    data_roots: tuple[Path, ...] = ()
    session_memory_bytes: int = DEFAULT_BUDGET_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, uploads: Path | None = None) -> ServerPolicy:
        """The policy set by ``env`` (default: this process's environment); ``uploads`` is always
        readable, since the browser put its files there itself."""
        env = os.environ if env is None else env
        roots = [Path(p) for p in env.get(DATA_ROOT, os.getcwd()).split(os.pathsep) if p]
        if uploads is not None:
            roots.append(uploads)
        try:
            memory_mb = float(env.get(SESSION_MEMORY, DEFAULT_BUDGET_BYTES / 2**20))
        except ValueError:
            value = env[SESSION_MEMORY]
            raise PrunevizError(f"{SESSION_MEMORY} must be a number of MiB, not {value!r}") from None
        return cls(
            allow_python=env.get(ALLOW_PYTHON) == "1",
            allow_pickle=env.get(ALLOW_PICKLE, "1") != "0",
            data_roots=tuple(root.resolve() for root in roots),
            session_memory_bytes=int(memory_mb * 2**20),
        )

    def check_spec(self, spec: str | None) -> None:
        """Refuse (with the setting that would allow it) a spec a browser may not use."""
        if not spec:
            return
        if spec.startswith("python:") and not self.allow_python:
            raise PrunevizError(
                f"'{spec}' would run Python code on the server; start the dashboard with "
                f"{ALLOW_PYTHON}=1 to allow python: specs"
            )
        path = spec_path(spec)
        if path is not None:
            resolved = Path(path).expanduser().resolve()  # symlinks and '..' followed before the check
            if not any(resolved.is_relative_to(root) for root in self.data_roots):
                roots = ", ".join(str(r) for r in self.data_roots)
                raise PrunevizError(
                    f"'{path}' is outside the folders this server shares ({roots}); start the dashboard "
                    f"with {DATA_ROOT}=DIR to share another"
                )

    def check_trust(self, trust_pickle: bool) -> None:
        if trust_pickle and not self.allow_pickle:
            raise PrunevizError(f"this server does not unpickle uploaded files ({ALLOW_PICKLE}=0)")
