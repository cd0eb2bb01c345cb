"""One palette for every chart, readable on light and dark backgrounds.

Kept weights are always teal and pruned ones always coral, on every page, so a glance tells which is which.
"""

KEPT = "#2a9d8f"
PRUNED = "#e76f51"
BASELINE = "#8d99ae"
ACCENT = "#457b9d"
PARETO = "#f4a261"
EARLIER = "#d9dde3"  # a result measured on weights the session has since replaced
# A sequential scale that stays legible on both themes (dark for low importance, bright for high).
IMPORTANCE_SCALE = "Viridis"
CRITERIA_COLOURS = {"l1": "#457b9d", "l2": "#2a9d8f", "taylor": "#e9c46a", "activation": "#e76f51"}
