"""The names the parser offers from the engine's registries, loaded only when a choice is checked or
listed (:class:`pruneviz.cli.Registered`).
"""

from __future__ import annotations

from pruneviz.core.granularity import rankable
from pruneviz.io.formats import writable
from pruneviz.workflows.allocate import ALLOCATIONS
from pruneviz.workflows.llm_compressor import FORMAT as LLM_COMPRESSOR_RECIPE
from pruneviz.workflows.recovery import SCHEDULES

# The names the parser's registered choices come from (pruneviz.cli.Registered).
CHOICES = {
    "formats": lambda: [*writable(), LLM_COMPRESSOR_RECIPE],
    "schedules": lambda: SCHEDULES,
    "granularities": lambda: [g.name for g in rankable()],
    "automatic allocations": lambda: [n for n in ALLOCATIONS.registered() if ALLOCATIONS.get(n).automatic],
}
