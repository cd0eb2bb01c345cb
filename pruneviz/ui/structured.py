"""The Structured page's panels, by the kind of structure a task removes from its model (the name
:meth:`pruneviz.tasks.Task.structure` answers): a new kind is one panel registered here."""

from __future__ import annotations

from collections.abc import Callable

from pruneviz.core.registry import Registry
from pruneviz.ui.filters import filters_panel
from pruneviz.ui.state import Workspace
from pruneviz.ui.transformer import transformer_panel
from pruneviz.ui.vision import vision_panel

STRUCTURE_PANELS: Registry[Callable[[Workspace], None]] = Registry("structured panel")
STRUCTURE_PANELS.register("filters")(filters_panel)
STRUCTURE_PANELS.register("transformer")(transformer_panel)
STRUCTURE_PANELS.register("vision transformer")(vision_panel)
