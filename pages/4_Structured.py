"""Structured pruning: remove whole units for real — a CNN's filters, a transformer's heads, MLP
channels and blocks — see what shrinks with them, measure the speed-up."""

from pruneviz.ui.state import errors_shown, page_header
from pruneviz.ui.structured import STRUCTURE_PANELS
from pruneviz.ui.widgets import require_prunable_layers

ws = page_header(
    "Structured",
    "Remove whole filters (a transformer's attention heads, MLP channels and blocks). What you choose "
    "is previewed as the session's model — every page shows it and Export writes it — in place of the "
    "Prune page's masks, which are set aside until one button or a Prune slider brings them back. "
    "Nothing chosen, nothing changes. Then build the smaller model.",
    held=False,
)
require_prunable_layers(ws.session)
with errors_shown():
    STRUCTURE_PANELS.get(ws.session.task.structure(ws.session.model).name)(ws)
