"""Presentation without a front end: numbers formatted for people, the palette, Plotly figures,
heatmap layouts and the self-contained HTML report. The dashboard and the CLI's report both use them.
"""
