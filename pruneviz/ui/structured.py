"""The Structured page's panels, by the kind of structure a task removes from its model (the kind
:meth:`pruneviz.tasks.Task.structure` answers): a new kind is one panel registered here."""

from __future__ import annotations

from collections.abc import Callable

from pruneviz.core.registry import Registry
from pruneviz.tasks import FILTERS, TRANSFORMER, VISION_TRANSFORMER
from pruneviz.ui.filters import filters_panel
from pruneviz.ui.state import Workspace
from pruneviz.ui.transformer import transformer_panel
from pruneviz.ui.vision import vision_panel

STRUCTURE_PANELS: Registry[Callable[[Workspace], None]] = Registry("structured panel")
STRUCTURE_PANELS.register(FILTERS.name)(filters_panel)
STRUCTURE_PANELS.register(TRANSFORMER.name)(transformer_panel)
STRUCTURE_PANELS.register(VISION_TRANSFORMER.name)(vision_panel)
