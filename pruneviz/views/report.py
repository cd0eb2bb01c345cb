"""A self-contained HTML report of a pruning session: metrics, per-layer table and the charts."""

from __future__ import annotations

import html
from pathlib import Path

from pruneviz.core.errors import first_line
from pruneviz.core.humanize import count, percent, size
from pruneviz.views import charts
from pruneviz.workflows.session import PruneSession, Report

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.muted{color:#777}"""


def html_report(session: PruneSession, baseline: Report, title: str = "pruneviz report") -> str:
    """One HTML file with everything inline (Plotly's JavaScript included once): opens offline."""
    now = session.report()
    metric = session.task.metric
    figures = [charts.sparsity_bars(session.layers, now.layers)]
    if baseline.per_class_accuracy:
        figures.append(charts.per_class_delta(baseline.per_class_accuracy, now.per_class_accuracy))
    figures.append(charts.layer_overview(session.layers, now.layers))
    divs = [
        fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False)
        for i, fig in enumerate(figures)
    ]
    metrics = [
        (
            metric.label.lower(),
            metric.format(baseline.score),
            metric.format(now.score),
            metric.change(now.score, baseline.score),
        ),
        ("loss", f"{baseline.loss:.4f}", f"{now.loss:.4f}", f"{now.loss - baseline.loss:+.4f}"),
        (
            "non-zero parameters",
            count(baseline.params_nonzero),
            count(now.params_nonzero),
            percent(now.params_nonzero / baseline.params_nonzero),
        ),
        (
            "effective MACs",
            count(baseline.macs_effective),
            count(now.macs_effective),
            percent(now.macs_effective / baseline.macs_effective),
        ),
        (
            "sparse size",
            size(baseline.size_bytes_sparse),
            size(now.size_bytes_sparse),
            percent(now.size_bytes_sparse / baseline.size_bytes_sparse),
        ),
    ]
    rows = "".join(
        f"<tr><td>{html.escape(a)}</td><td>{b}</td><td>{c}</td><td>{d}</td></tr>" for a, b, c, d in metrics
    )
    layer_rows = "".join(
        f"<tr><td>{html.escape(x.name)}</td><td>{x.type}</td><td>{'×'.join(map(str, x.shape))}</td>"
        f"<td>{x.params:,}</td><td>{percent(now.layers[x.name])}</td></tr>"
        for x in session.layers
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="muted">model <code>{html.escape(session.model.spec)}</code> ·
data <code>{html.escape(session.data.spec)}</code> ({session.task.size_of(session.data)})</p>
<table><tr><th></th><th>dense</th><th>pruned</th><th>change</th></tr>{rows}</table>
<h2>Layers</h2>
<table><tr><th>layer</th><th>type</th><th>shape</th><th>parameters</th><th>sparsity</th></tr>{layer_rows}</table>
<h2>Charts</h2>{"".join(divs)}
</body></html>"""


def write_png(session: PruneSession, baseline: Report, path: Path) -> str | None:
    """The main charts as one PNG via kaleido; returns why not when kaleido cannot run here."""
    try:
        now = session.report()
        charts.sparsity_bars(session.layers, now.layers).write_image(str(path))
    except Exception as err:  # noqa: BLE001 - kaleido missing or no browser: report, don't fail
        return f"PNG not written: {type(err).__name__}: {first_line(err)}"
    return None
