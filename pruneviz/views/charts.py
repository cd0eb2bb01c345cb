"""Plotly figures for the dashboard. Pure functions: data in, ``go.Figure`` out (no Streamlit here)."""

from __future__ import annotations

import html

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from pruneviz.core.history import History, Trial
from pruneviz.core.humanize import count
from pruneviz.core.layers import LayerInfo
from pruneviz.tasks import Metric
from pruneviz.views import theme
from pruneviz.views.heatmap import Grid
from pruneviz.workflows.compare import CriteriaComparison
from pruneviz.workflows.explain import Explanation
from pruneviz.workflows.hardware import HardwareReport

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "legend": {"orientation": "h", "y": -0.2}}


def _fig(title: str, height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, height=height, **_LAYOUT)
    return fig


def layer_overview(
    layers: list[LayerInfo], sparsity: dict[str, float], selected: str | None = None
) -> go.Figure:
    """Kept vs pruned share of each layer's weights (stacked to 100%, so small layers stay clickable)."""
    labels = [f"{x.name}<br>{count(x.params)}" for x in layers]
    pruned = [100 * sparsity.get(x.name, 0.0) for x in layers]
    # Many layers' names stand rotated under the bars: the figure grows by their length, so the plot
    # keeps its height (and room for its axis title) whatever the names.
    longest = max((len(x.name) for x in layers), default=0) if len(layers) > 8 else 0
    fig = _fig("Layers: kept vs pruned weights (click a bar to inspect it)", height=300 + 6 * longest)
    outline = [3 if x.name == selected else 0 for x in layers]
    common = {"x": labels, "customdata": [x.name for x in layers]}
    fig.add_bar(
        y=[100 - p for p in pruned],
        name="kept",
        marker={"color": theme.KEPT, "line": {"width": outline}},
        **common,
    )
    fig.add_bar(y=pruned, name="pruned", marker={"color": theme.PRUNED}, **common)
    fig.update_layout(
        barmode="stack",
        yaxis={"title": "% of weights", "range": [0, 100]},
        legend={
            "orientation": "h",
            "y": 1.0,
            "yanchor": "bottom",
            "x": 1.0,
            "xanchor": "right",
        },  # clear of names
    )
    return fig


def outlier_bars(layers: list[LayerInfo], ratios: dict[str, float], m: float) -> go.Figure:
    """Per layer, the share of its |W|·‖X‖ scores above ``m`` times their mean (OWL's outlier ratio):
    the layers OWL prunes least."""
    fig = _fig(f"Outlier ratio: share of |W|·‖X‖ above {m:g}× the layer's mean (OWL prunes these less)")
    names = [x.name for x in layers]
    fig.add_bar(x=names, y=[100 * ratios[n] for n in names], marker_color=theme.ACCENT)
    fig.update_layout(yaxis_title="outliers (% of weights)", xaxis_type="category")
    return fig


def sparsity_bars(layers: list[LayerInfo], sparsity: dict[str, float]) -> go.Figure:
    """Per-layer sparsity (0..100%) as horizontal kept/pruned bars."""
    names = [x.name for x in layers][::-1]
    pruned = [100 * sparsity.get(n, 0.0) for n in names]
    fig = _fig("Sparsity per layer", height=max(220, 28 * len(names) + 80))
    fig.add_bar(y=names, x=[100 - p for p in pruned], name="kept", orientation="h", marker_color=theme.KEPT)
    fig.add_bar(y=names, x=pruned, name="pruned", orientation="h", marker_color=theme.PRUNED)
    fig.update_layout(barmode="stack", xaxis={"title": "% of weights", "range": [0, 100]})
    return fig


def heatmap(grid: Grid, title: str) -> go.Figure:
    """A weight-shaped importance grid (rows = out channels)."""
    fig = _fig(title + (f" — {grid.note}" if grid.note else ""), height=360)
    fig.add_heatmap(z=grid.values.numpy(), colorscale=theme.IMPORTANCE_SCALE, colorbar={"thickness": 12})
    fig.update_layout(xaxis_title=grid.cols, yaxis_title=grid.rows, yaxis_autorange="reversed")
    return fig


def filter_bars(scores: dict[str, torch.Tensor]) -> go.Figure:
    """Per-filter importance under several criteria, each scaled to its maximum (0..1) to compare ranks."""
    fig = _fig("Per-filter importance (each criterion scaled to its maximum)")
    for name, s in scores.items():
        s = s.detach().float().cpu()
        top = s.max().item() or 1.0
        fig.add_bar(
            x=list(range(len(s))),
            y=(s / top).tolist(),
            name=name,
            marker_color=theme.CRITERIA_COLOURS.get(name),
        )
    fig.update_layout(barmode="group", xaxis_title="output channel", yaxis_title="relative importance")
    return fig


def weight_histogram(dense: torch.Tensor, mask: torch.Tensor | None) -> go.Figure:
    """Distribution of the layer's weights, kept and pruned stacked, with the magnitude threshold line."""
    w = dense.detach().flatten().float().cpu()
    keep = torch.ones_like(w, dtype=torch.bool) if mask is None else mask.flatten().cpu()
    fig = _fig("Weight distribution")
    bins = {"start": w.min().item(), "end": w.max().item(), "size": (w.max() - w.min()).item() / 60 or 1.0}
    fig.add_histogram(x=w[keep].numpy(), name="kept", marker_color=theme.KEPT, xbins=bins)
    fig.add_histogram(x=w[~keep].numpy(), name="pruned", marker_color=theme.PRUNED, xbins=bins)
    fig.update_layout(barmode="stack", xaxis_title="weight value", yaxis_title="count")
    if not keep.all():
        threshold = w[~keep].abs().max().item()
        for x in (-threshold, threshold):
            fig.add_vline(x=x, line_dash="dash", line_color=theme.PRUNED)
        fig.add_annotation(x=threshold, y=1, yref="paper", text=f"|w| ≤ {threshold:.3g}", showarrow=False)
    return fig


def _shown(metric: Metric, value: float) -> float:
    """A metric value as a chart axis shows it: fractions as percent."""
    return 100 * value if metric.is_fraction else value


def _axis(metric: Metric) -> str:
    return f"{metric.label.lower()} (%)" if metric.is_fraction else metric.label.lower()


def pareto_scatter(
    history: History, params_total: int, metric: Metric, shown: Trial | None = None, basis: int = 0
) -> go.Figure:
    """The metric vs remaining parameters for every configuration tried; the Pareto front of those tried
    on the current weights (``basis``) is highlighted, those tried on earlier weights are faded, and the
    configuration on screen (``shown``, tried or not yet settled) is ringed."""
    trials = history.trials
    current = history.index(shown)
    front = set(history.pareto(basis))
    fig = _fig("Every configuration tried (click a point to restore it)", height=360)
    x = [100 * t.params_nonzero / params_total for t in trials]
    y = [_shown(metric, t.score) for t in trials]
    text = [
        f"#{i + 1} {t.criterion}/{t.granularity}<br>{count(t.params_nonzero)} params"
        + ("" if t.basis == basis else "<br>on earlier weights (before a fine-tune or ticket)")
        for i, t in enumerate(trials)
    ]
    colours = [
        theme.PARETO if i in front else theme.BASELINE if t.basis == basis else theme.EARLIER
        for i, t in enumerate(trials)
    ]
    sizes = [14 if i == current else 9 for i in range(len(trials))]
    unit = "%" if metric.is_fraction else ""
    fig.add_scatter(
        x=x,
        y=y,
        mode="markers",
        text=text,
        hovertemplate=f"%{{text}}<br>%{{y:.2f}}{unit} {metric.label.lower()}<extra></extra>",
        marker={"color": colours, "size": sizes, "line": {"width": 1, "color": "white"}},
        name="tried",
    )
    order = sorted(front, key=lambda i: x[i])
    fig.add_scatter(
        x=[x[i] for i in order],
        y=[y[i] for i in order],
        mode="lines",
        line={"color": theme.PARETO, "dash": "dot"},
        name="Pareto front",
        hoverinfo="skip",
    )
    if shown is not None:  # after the tried points: a click on curve 0 still restores a trial
        fig.add_scatter(
            x=[100 * shown.params_nonzero / params_total], y=[_shown(metric, shown.score)], mode="markers",
            marker={"size": 16, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": theme.PARETO}},
            name="shown now", hoverinfo="skip",
        )  # fmt: skip
    fig.update_layout(xaxis_title="parameters remaining (% of original)", yaxis_title=_axis(metric))
    return fig


def per_class_delta(baseline: list[float | None], current: list[float | None]) -> go.Figure:
    """Change in per-class accuracy vs the unpruned model, in percentage points."""
    classes = [str(c) for c, (b, n) in enumerate(zip(baseline, current)) if b is not None and n is not None]
    deltas = [100 * (n - b) for b, n in zip(baseline, current) if b is not None and n is not None]
    fig = _fig("Per-class accuracy change (points)", height=260)
    fig.add_bar(x=classes, y=deltas, marker_color=[theme.PRUNED if d < 0 else theme.KEPT for d in deltas])
    fig.update_layout(xaxis_title="class", yaxis_title="Δ accuracy (pt)", xaxis_type="category")
    return fig


def speedup_bars(macs_ratio: dict[str, float], latency_ratio: dict[str, dict[int, float]]) -> go.Figure:
    """For each pruning kind: the speed-up MACs promise vs the latency speed-up measured (x dense)."""
    kinds = list(macs_ratio)
    fig = _fig("Promised vs measured speed-up (× faster than dense)", height=340)
    fig.add_bar(x=kinds, y=[macs_ratio[k] for k in kinds], name="MACs ratio", marker_color=theme.BASELINE)
    batches = sorted({b for per in latency_ratio.values() for b in per})
    colours = [theme.KEPT, theme.ACCENT, theme.PARETO]
    for colour, batch in zip(colours, batches):
        fig.add_bar(
            x=kinds,
            y=[latency_ratio[k][batch] for k in kinds],
            name=f"latency ratio, batch {batch}",
            marker_color=colour,
        )
    fig.add_hline(y=1.0, line_dash="dot", line_color=theme.PRUNED)
    fig.update_layout(barmode="group", yaxis_title="× dense")
    return fig


def kernel_speedups(report: HardwareReport, batch: int) -> go.Figure:
    """Each layer on each kernel it ran on: × faster than its reference at ``batch`` (bars, log scale),
    with what the kernel promises in MACs drawn as a tick on the same bar; below the dotted line at 1×
    the kernel is slower than dense, whatever it promises."""
    names = [x.name for x in report.layers]
    fig = _fig(f"Measured vs promised speed-up per layer, batch {batch} (× its reference)", height=380)
    kernels = [k for k in report.totals() if k != "dense"]
    for colour, kernel in zip(_LAYER_COLOURS, kernels):
        rows = [x.row(kernel) for x in report.layers]
        label = rows[0].label
        fig.add_bar(
            x=names,
            y=[r.speedup(batch) for r in rows],
            name=label,
            offsetgroup=kernel,
            marker_color=colour,
            hovertemplate=f"{label}<br>%{{x}}: ×%{{y:.2f}} measured<extra></extra>",
        )
        fig.add_scatter(
            x=names,
            y=[r.promised_macs if r.unavailable is None else None for r in rows],
            offsetgroup=kernel,
            mode="markers",
            marker={"symbol": "line-ew-open", "size": 18, "color": colour, "line": {"width": 3}},
            name=f"{label}: promised (MACs)",
            showlegend=False,
            hovertemplate=f"{label}<br>%{{x}}: ×%{{y:.2f}} promised<extra></extra>",
        )
    fig.add_hline(y=1.0, line_dash="dot", line_color=theme.PRUNED)
    fig.update_layout(barmode="group", scattermode="group", yaxis_type="log", yaxis_title="× faster (log)")
    return fig


_LAYER_COLOURS = [
    "#2a9d8f",
    "#e76f51",
    "#457b9d",
    "#e9c46a",
    "#8d99ae",
    "#f4a261",
    "#6a4c93",
    "#1982c4",
    "#8ac926",
    "#ff595e",
    "#52b788",
    "#b5838d",
]


def sensitivity_lines(
    measured: dict[str, dict[float, float]],
    baseline: float,
    metric: Metric,
    loss: bool = False,
    estimate: dict[str, dict[float, float]] | None = None,
    interpolated: bool = False,
) -> go.Figure:
    """One line per layer (the metric, or with ``loss`` the loss change, vs sparsity, Distiller-style);
    optional dashed estimates behind them. Each measured line's trace carries its layer name, so a click
    can select it. With ``interpolated`` (an adaptive sweep) only the markers are measured: the lines
    between them are dotted."""
    title = "Loss change" if loss else metric.label
    note = "markers measured, dotted lines interpolated" if interpolated else "click a line to inspect it"
    fig = _fig(f"{title} with each layer pruned alone ({note})", height=420)
    for i, layer in enumerate(measured or estimate or {}):
        colour = _LAYER_COLOURS[i % len(_LAYER_COLOURS)]
        if estimate and layer in estimate:
            xs = sorted(estimate[layer])
            fig.add_scatter(
                x=[100 * s for s in xs],
                y=[estimate[layer][s] for s in xs],
                mode="lines",
                name=f"{layer} (estimate)",
                line={"dash": "dash", "color": colour, "width": 1},
                legendgroup=layer,
                showlegend=False,
            )
        if layer in measured:
            xs = sorted(measured[layer])
            ys = [measured[layer][s] if loss else _shown(metric, measured[layer][s]) for s in xs]
            fig.add_scatter(
                x=[100 * s for s in xs],
                y=ys,
                mode="lines+markers",
                name=layer,
                legendgroup=layer,
                line={"color": colour, "dash": "dot" if interpolated else "solid"},
                customdata=[layer] * len(xs),
            )
    if not loss:
        fig.add_hline(y=_shown(metric, baseline), line_dash="dot", line_color=theme.BASELINE)
    fig.update_layout(
        xaxis_title="sparsity of that layer (%)", yaxis_title="Δ loss" if loss else _axis(metric)
    )
    return fig


def sensitivity_heatmap(measured: dict[str, dict[float, float]], metric: Metric) -> go.Figure:
    """Layers x levels, coloured by the metric."""
    layers = list(measured)
    levels = sorted({s for curve in measured.values() for s in curve})
    z = [[_shown(metric, measured[layer].get(s, float("nan"))) for s in levels] for layer in layers]
    scale = theme.IMPORTANCE_SCALE if metric.higher_is_better else theme.IMPORTANCE_SCALE + "_r"
    fig = _fig(f"{_axis(metric).capitalize()} by layer and sparsity", height=max(260, 26 * len(layers) + 100))
    fig.add_heatmap(
        z=z,
        x=[f"{100 * s:.0f}%" for s in levels],
        y=layers,
        colorscale=scale,
        colorbar={"thickness": 12},
    )
    # categories: an adaptive sweep's levels are uneven, and "50%" must not be read as a number
    fig.update_layout(yaxis_autorange="reversed", xaxis_title="sparsity", xaxis_type="category")
    return fig


def criteria_overlap(result: CriteriaComparison) -> go.Figure:
    """Layers × criterion pairs coloured by the overlap (Jaccard) of the weights they prune, beside
    layers × criteria coloured by how much worse the metric gets with that layer alone pruned."""
    layers, pairs, metric = result.layers, result.pairs, result.metric
    nan = float("nan")
    overlap = [[_or_nan(result.overlap[p].get(layer)) for p in pairs] for layer in layers]
    worse = [[_or_nan(result.change(c, layer)) for c in result.criteria] for layer in layers]
    unit = "points" if metric.is_fraction else metric.label.lower()
    scale = 100 if metric.is_fraction else 1
    shown = [[v * scale if v == v else nan for v in row] for row in worse]
    # symmetric about "no change", and never narrower than a change worth seeing (a point of accuracy,
    # 1% of a perplexity): one validation sample of 360 must not look like a collapse
    floor = 1.0 if metric.is_fraction else 0.01 * abs(result.baseline)
    reach = max([abs(v) for row in shown for v in row if v == v] + [floor])
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        column_widths=[0.6, 0.4],
        horizontal_spacing=0.07,  # room for the overlap's colour bar between the two maps
        subplot_titles=("pruned weights shared (Jaccard)", f"{metric.label} worse by ({unit})"),
    )
    fig.add_heatmap(
        z=overlap,
        x=[f"{a} ~ {b}" for a, b in pairs],
        y=layers,
        zmin=0,
        zmax=1,
        colorscale=theme.IMPORTANCE_SCALE,
        colorbar={"thickness": 12, "x": 0.565},
        hovertemplate="%{y}<br>%{x}: %{z:.2f}<extra></extra>",
        row=1,
        col=1,
    )
    fig.add_heatmap(
        z=shown,
        x=list(result.criteria),
        y=layers,
        colorscale="RdBu_r",  # red: worse than dense, blue: better, white: no change
        zmin=-reach,
        zmax=reach,
        colorbar={"thickness": 12},
        hovertemplate="%{y}<br>%{x}: %{z:.3f}<extra></extra>",
        row=1,
        col=2,
    )
    fig.update_layout(
        title=f"Criteria at {result.sparsity:.0%} {result.granularity}, each layer pruned alone",
        height=max(300, 22 * len(layers) + 160),
        **(_LAYOUT | {"margin": {"l": 10, "r": 10, "t": 80, "b": 10}}),
    )
    fig.update_yaxes(autorange="reversed")
    return fig


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def training_curve(points: list, metric: Metric) -> go.Figure:
    """Training loss, the validation metric and sparsity (%) over steps, on two y axes."""
    fig = _fig("Fine-tuning", height=340)
    steps = [p.step for p in points]
    fig.add_scatter(
        x=steps, y=[p.train_loss for p in points], name="training loss", line={"color": theme.PRUNED}
    )
    fig.add_scatter(
        x=steps,
        y=[_shown(metric, p.score) for p in points],
        name=f"validation {_axis(metric)}",
        yaxis="y2",
        line={"color": theme.KEPT},
    )
    fig.add_scatter(
        x=steps,
        y=[100 * p.sparsity for p in points],
        name="sparsity (%)",
        yaxis="y2",
        line={"color": theme.BASELINE, "dash": "dot"},
    )
    fig.update_layout(
        xaxis_title="step",
        yaxis_title="loss",
        yaxis2={"overlaying": "y", "side": "right", "rangemode": "tozero"},
    )
    return fig


def lottery_chart(rounds: list) -> go.Figure:
    """Accuracy and early-stopping step vs weights remaining (log x), ticket vs re-initialised control."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Best accuracy (%)", "Early-stopping step"))
    fig.update_layout(height=340, **_LAYOUT)
    x = [100 * r.remaining for r in rounds]
    for label, colour, acc, stop in (
        ("ticket (rewound)", theme.KEPT, "accuracy", "early_stop_iter"),
        ("control (random re-init)", theme.PRUNED, "control_accuracy", "control_early_stop_iter"),
    ):
        fig.add_scatter(
            x=x, y=[100 * getattr(r, acc) for r in rounds], name=label, line={"color": colour}, row=1, col=1
        )
        fig.add_scatter(
            x=x,
            y=[getattr(r, stop) for r in rounds],
            name=label,
            line={"color": colour},
            showlegend=False,
            row=1,
            col=2,
        )
    fig.update_xaxes(type="log", autorange="reversed", title_text="weights remaining (%)")
    return fig


def group_label(group: int, size: int) -> str:
    """'heads 2–3' for key/value group 1 of two query heads each ('head 1' without GQA)."""
    return f"head {group}" if size == 1 else f"heads {group * size}–{(group + 1) * size - 1}"


def head_heatmap(
    scores: torch.Tensor, dropped: set[tuple[int, int]], group_size: int, criterion: str
) -> go.Figure:
    """Importance of every attention head group (blocks × groups); removed ones marked ✕. Heatmap cells
    cannot be selected in Plotly, so an invisible marker sits on every cell: a click selects it and
    carries its (block, group, score) as ``customdata``."""
    blocks, groups = scores.shape
    x = [group_label(g, group_size) for g in range(groups)]
    y = [f"block {b}" for b in range(blocks)]
    fig = _fig(f"Heads by {criterion}", height=80 + 40 * blocks)
    fig.add_heatmap(
        z=scores.tolist(), x=x, y=y, colorscale=theme.IMPORTANCE_SCALE, colorbar={"thickness": 12},
        hoverinfo="skip",
    )  # fmt: skip
    cells = [(b, g) for b in range(blocks) for g in range(groups)]
    fig.add_scatter(
        x=[x[g] for _, g in cells], y=[y[b] for b, _ in cells],
        customdata=[[b, g, scores[b, g].item()] for b, g in cells],
        mode="markers+text", text=["✕" if c in dropped else "" for c in cells],
        textfont={"size": 22, "color": theme.PRUNED}, marker={"size": 30, "symbol": "square", "opacity": 0},
        hovertemplate="%{y}, %{x}: %{customdata[2]:.4g}<extra></extra>", showlegend=False,
    )  # fmt: skip
    fig.update_layout(yaxis_autorange="reversed", xaxis_type="category", yaxis_type="category")
    return fig


def influence_bars(influence: list[float], dropped: set[int]) -> go.Figure:
    """Block Influence per block (1 − cos of its input and output): the lowest are cheapest to drop."""
    fig = _fig("Block Influence")
    names = [f"block {i}" for i in range(len(influence))]
    colours = [theme.PRUNED if i in dropped else theme.KEPT for i in range(len(influence))]
    fig.add_bar(x=names, y=influence, marker_color=colours, customdata=list(range(len(influence))))
    fig.update_layout(yaxis_title="1 − cos(input, output)", xaxis_type="category")
    return fig


def transformer_speedups(speedups: dict) -> go.Figure:
    """Per way of pruning: the speed-up its parameter count promises against prefill and decode measured
    (× faster than dense)."""
    kinds = list(speedups)
    fig = _fig("Promised (parameters) vs measured speed-up, × faster than dense", height=360)
    for label, attr, colour in (
        ("promised (dense / kept parameters)", "promised", theme.BASELINE),
        ("prefill, measured", "prefill", theme.KEPT),
        ("decode, measured", "decode", theme.ACCENT),
    ):
        fig.add_bar(x=kinds, y=[getattr(speedups[k], attr) for k in kinds], name=label, marker_color=colour)
    fig.add_hline(y=1.0, line_dash="dot", line_color=theme.PRUNED)
    fig.update_layout(barmode="group", yaxis_title="× dense")
    return fig


def room_scatter(shares: list, front: list[int], metric: Metric) -> go.Figure:
    """Everyone's shared points: the metric vs non-zero parameters, one colour per attendee, the
    room's Pareto front drawn through its points. Nicknames are escaped: Plotly renders some HTML in
    labels, and a nickname is data. Each point carries its share's id (a click loads it)."""
    fig = _fig("The room: everyone's shared configurations (click a point to load it)", height=420)
    names = list(dict.fromkeys(s.nickname for s in shares))
    unit = "%" if metric.is_fraction else ""
    for name in names:
        mine = [s for s in shares if s.nickname == name]
        fig.add_scatter(
            x=[s.params for s in mine], y=[_shown(metric, s.score) for s in mine], mode="markers",
            name=html.escape(name), customdata=[s.id for s in mine], marker={"size": 11},
            text=[f"{html.escape(name)}<br>{count(s.params)} params" for s in mine],
            hovertemplate=f"%{{text}}<br>%{{y:.2f}}{unit} {metric.label.lower()}<extra></extra>",
        )  # fmt: skip
    on_front = sorted((shares[i] for i in front), key=lambda s: s.params)
    fig.add_scatter(
        x=[s.params for s in on_front], y=[_shown(metric, s.score) for s in on_front], mode="lines",
        line={"color": theme.PARETO, "dash": "dot", "width": 2}, name="the room's Pareto front",
        hoverinfo="skip",
    )  # fmt: skip
    fig.update_layout(xaxis_title="non-zero parameters", yaxis_title=_axis(metric))
    # parameters are whole, counted from none: one share must not get ticks at 9,303.5
    fig.update_xaxes(tickformat=",d", rangemode="tozero")
    return fig


def input_attributions(found: Explanation) -> go.Figure:
    """The sample, then what the dense and the pruned model attribute its class to (|Integrated
    Gradients|, each map scaled to its own maximum so the patterns compare)."""
    titles = (
        f"input (label {found.label})",
        f"dense: predicts {found.dense_prediction}",
        f"pruned: predicts {found.pruned_prediction}",
    )
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.04)
    for col, (grid, scale) in enumerate(
        [
            (found.sample, "gray"),
            (found.dense, theme.IMPORTANCE_SCALE),
            (found.pruned, theme.IMPORTANCE_SCALE),
        ],
        start=1,
    ):
        z = grid.float().reshape(1, -1) if grid.dim() == 1 else grid.float()
        if col > 1:
            z = z / (z.max().item() or 1.0)
        fig.add_heatmap(z=z.numpy(), colorscale=scale, showscale=False, row=1, col=col)
        fig.update_yaxes(autorange="reversed", showticklabels=False, row=1, col=col)
        fig.update_xaxes(showticklabels=False, row=1, col=col)
    fig.update_layout(
        title="What the model looks at: |Integrated Gradients| of the true class (Captum)",
        height=320,
        **(_LAYOUT | {"margin": {"l": 10, "r": 10, "t": 80, "b": 10}}),  # room for the subplot titles
    )
    return fig
