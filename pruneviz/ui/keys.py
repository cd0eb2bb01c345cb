"""Every widget key of the dashboard comes from here: one :class:`PageKeys` per page.

A page builds its widget keys through its own prefix and never writes another page's keys; what one
page asks of another travels through the :class:`~pruneviz.ui.state.Workspace`. Switching models
clears the keys of every page that shows the model (:func:`model_keys`), so no slider of the old model
survives into the new one; the Model & data page keeps what the user typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PageKeys:
    """The widget keys of one page: ``{prefix}_{name}``, and ``{prefix}_layer_{layer}`` per layer."""

    prefix: str
    survives_model_switch: bool = False

    def __call__(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def layer(self, layer: str) -> str:
        return f"{self.prefix}_layer_{layer}"

    def owns(self, key: object) -> bool:
        return str(key).startswith(f"{self.prefix}_")


MODEL = PageKeys("md", survives_model_switch=True)
SIDEBAR = PageKeys("sidebar")
IMPORTANCE = PageKeys("imp")
PRUNE = PageKeys("prune")
STRUCTURED = PageKeys("st")
SENSITIVITY = PageKeys("sens")
RECOVERY = PageKeys("ft")
LOTTERY = PageKeys("lt")
EXPORT = PageKeys("ex")
LEARN = PageKeys("learn")
GENERATE = PageKeys("gen")
ROOM = PageKeys("room", survives_model_switch=True)  # the room is the same whatever model is loaded
PAGES = (
    MODEL,
    SIDEBAR,
    IMPORTANCE,
    PRUNE,
    STRUCTURED,
    SENSITIVITY,
    RECOVERY,
    LOTTERY,
    EXPORT,
    LEARN,
    GENERATE,
    ROOM,
)


def model_keys(keys: Iterable[object]) -> list[object]:
    """The keys among ``keys`` that belong to a page showing the current model."""
    return [k for k in keys if any(p.owns(k) and not p.survives_model_switch for p in PAGES)]
