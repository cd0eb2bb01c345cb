"""Structured pruning: remove whole units for real — a CNN's filters, a transformer's heads, MLP
channels and blocks — see what shrinks with them, measure the speed-up."""

from pruneviz.ui.state import errors_shown, page_header
from pruneviz.ui.structured import STRUCTURE_PANELS
from pruneviz.ui.widgets import require_prunable_layers

ws = page_header(
    "Structured",
    "Remove whole filters (a transformer's attention heads, MLP channels and blocks). While this page "
    "is open its preview is the session's model: it zeroes exactly what would go, in place of the Prune "
    "page's masks (they come back on the Prune page). Then build the smaller model.",
)
require_prunable_layers(ws.session)
with errors_shown():
    STRUCTURE_PANELS.get(ws.session.task.structure(ws.session.model))(ws)
