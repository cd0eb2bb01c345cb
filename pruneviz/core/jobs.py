"""Long work (gradients, sweeps) in a background thread, with progress a UI can poll.

A :class:`Job` survives page reruns: the dashboard keeps it in the user's session state, shows its
progress, and picks up the result when it is done. The work function receives a ``progress(fraction,
message)`` callback and must use its own model copy, never the one the user is editing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pruneviz.core.errors import PrunevizError

Progress = Callable[[float, str], None]


class Cancelled(Exception):
    """Raised inside a job's work by its progress callback once :meth:`Job.cancel` was called."""


class Job:
    """Runs ``work(progress)`` in a daemon thread; ``result`` or ``error`` is set when it finishes.

    ``partial`` is a list the work may append to as results arrive (a UI can draw them meanwhile);
    :meth:`cancel` makes the next ``progress`` call stop the work. Work that can hand back what it has
    so far catches :class:`Cancelled` and returns it: the job then ends ``cancelled`` *with* a result.
    ``current()`` tells whether its result still describes what it was computed for (what the caller
    started it on may have changed meanwhile); by default it always does.
    """

    def __init__(
        self,
        name: str,
        work: Callable[[Progress], Any],
        partial: list | None = None,
        current: Callable[[], bool] = lambda: True,
    ) -> None:
        self.name = name
        self.current = current
        self.fraction = 0.0
        self.message = "starting"
        self.result: Any = None
        self.error: str | None = None
        self.partial: list = partial if partial is not None else []
        self.cancelled = False
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work,), name=f"pruneviz-{name}", daemon=True)
        self._thread.start()

    def _progress(self, fraction: float, message: str) -> None:
        if self._cancel.is_set():
            self.cancelled = True  # the work was told to stop (it may still return what it has)
            raise Cancelled
        self.fraction, self.message = min(max(fraction, 0.0), 1.0), message

    def cancel(self) -> None:
        self._cancel.set()

    def _run(self, work: Callable[[Progress], Any]) -> None:
        try:
            self.result = work(self._progress)
            self.fraction, self.message = 1.0, "done"
        except Cancelled:
            pass
        except PrunevizError as err:
            self.error = str(err)
        except Exception as err:  # noqa: BLE001 - a failed job reports, it must not kill the app
            self.error = f"{type(err).__name__}: {err}"
        finally:
            if self.cancelled:
                self.message = "stopped"
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)
