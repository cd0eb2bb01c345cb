"""Workflows shared by every front end: the pruning session, structured removal, sensitivity sweeps,
allocation, recovery, lottery tickets, recipes, apply-and-measure, latency, lessons and exercises.

The CLI and the dashboard only gather input, call these, and show what they return.
"""
