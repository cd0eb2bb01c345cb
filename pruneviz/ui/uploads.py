"""Where a browser session's uploaded files live on the server, and for how long.

Each session gets a folder of its own under one root that only the server's user can enter (0700):
files are written atomically (a temporary name, then a rename, so a reader never sees half a file),
are never executable (0600), and go away when the session does — its :class:`Uploads` object lives in
the session's state, and dropping it removes the folder — or, while a session lingers, once unused for
the server's time-to-live (``PRUNEVIZ_UPLOAD_TTL_S``). Another session's files are out of reach: a
session's rules (:meth:`pruneviz.ui.serving.ServerPolicy.gate`) let it read its own folder only.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
import weakref
from pathlib import Path

from pruneviz.core.errors import PrunevizError

_SUFFIX = re.compile(r"^\.[a-z0-9]{1,16}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@functools.cache
def server_root() -> Path:
    """This server's uploads root: a fresh folder made for it (``mkdtemp``: 0700, a name nobody could
    have planted in a shared /tmp before the server started), removed when the server exits."""
    root = Path(tempfile.mkdtemp(prefix=f"pruneviz-uploads-{os.getuid()}-")).resolve()
    atexit.register(shutil.rmtree, root, True)
    return root


def private_root(root: Path) -> Path:
    """``root``, made if missing, and refused unless it is a real directory of this user's that nobody
    else may enter (a folder in a shared /tmp could have been planted by someone else)."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PrunevizError(f"{root} is not a private folder of this server's user: uploads are refused")
    return root


class Uploads:
    """One session's upload folder under ``root``; files unused for ``ttl_s`` seconds are deleted."""

    def __init__(self, root: Path, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self.folder = Path(tempfile.mkdtemp(prefix="session-", dir=private_root(root))).resolve()
        weakref.finalize(self, shutil.rmtree, self.folder, True)  # when the session's state is dropped

    def save(self, name: str, data: bytes) -> Path:
        """Write ``data`` (from a file the browser called ``name``) under a name made of its content's
        digest and the browser's name (letters, digits, ``-_.`` only: it shows in messages); returns the
        path. An identical upload reuses the file (and keeps it alive)."""
        stem, suffix = _UNSAFE.sub("_", Path(name).stem)[:40], Path(name).suffix.lower()
        digest = hashlib.sha256(data).hexdigest()[:12]
        path = self.folder / f"{digest}-{stem}{suffix if _SUFFIX.match(suffix) else ''}"
        if path.exists():
            os.utime(path)
        else:
            fd, partial = tempfile.mkstemp(dir=self.folder, prefix=".partial-")  # 0600
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(partial, path)
            except BaseException:
                Path(partial).unlink(missing_ok=True)
                raise
        self.expire()
        return path

    def holds(self, path: str | Path | None) -> bool:
        """Whether ``path`` lies in this session's folder."""
        return path is not None and Path(path).expanduser().resolve().is_relative_to(self.folder)

    def expire(self, now: float | None = None) -> list[Path]:
        """Delete the files of every session of this root unused for the time-to-live; returns them.
        Folders go with their sessions."""
        now = time.time() if now is None else now
        gone = []
        for file in self.folder.parent.glob("session-*/*"):
            try:
                if file.is_file() and now - file.stat().st_mtime > self.ttl_s:
                    file.unlink()
                    gone.append(file)
            except FileNotFoundError:
                continue  # another session's expiry or end removed it first
        return gone
