"""The ``pruneviz`` commands, one module per group, each loaded by name by :mod:`pruneviz.cli` once the
arguments parse (``run="MODULE:cmd_NAME"``) and each importing only what its commands use: the report's
Plotly, Ray, transformers are imported by the commands that need them, not by ``pruneviz info``.
"""
