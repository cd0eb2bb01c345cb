"""``room export`` and ``room clear``: the workshop room's store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pruneviz.core.errors import PrunevizError
from pruneviz.io.room import RoomStore


def _room(path: str) -> RoomStore:
    """The room at ``path``, which must exist (a typo must not create an empty room)."""
    if not Path(path).is_file():
        raise PrunevizError(f"there is no room store at {path}")
    return RoomStore(path)


def cmd_room_export(args: argparse.Namespace) -> int:
    text = _room(args.db).to_csv()
    Path(args.out).write_text(text)
    print(f"wrote {args.out}: {len(text.splitlines()) - 1} share(s)", file=sys.stderr)
    return 0


def cmd_room_clear(args: argparse.Namespace) -> int:
    print(f"deleted {_room(args.db).clear()} share(s) from {args.db}", file=sys.stderr)
    return 0
