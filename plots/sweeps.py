"""Figures of the Sweeps page: hyper-parameter maps, learning-rate curves, search curves, schedules.

A map is a heatmap in the axes' own spacing (x = log₁₀ ρ; y = log₁₀ κ on the κ axis), labelled in ρ and y.
Diverged cells are not a colour of its scale: they are covered by a hatched red region with its own
legend entry (cells that never reached f* + tol likewise by a grey one), and the measured divergence
boundary is drawn as a black line. On the quadratic the heavy-ball theory is drawn over it. An invisible
grid of at most CLICK_CELLS × CLICK_CELLS markers carries the hover text and makes cells clickable (a
heatmap does not select, NOTES §7). No NaN reaches a figure: gaps in paths are ``None`` separators.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .style import FONT, surface_title, trace_style

CLICK_CELLS = 32  # clickable markers per axis: each is an SVG node the browser redraws
FLOOR = 1e-300  # losses at or below f* are drawn at log₁₀ of this
DIVERGED = dict(fillcolor="#fddbc7", fillpattern=dict(shape="/", fgcolor="#b2182b", bgcolor="#fddbc7", size=8,
                                                       solidity=0.4, fillmode="replace"))
NOT_REACHED = dict(fillcolor="#d9d9d9", fillpattern=dict(shape=".", fgcolor="#636363", bgcolor="#d9d9d9", size=6,
                                                         fillmode="replace"))
THEORY_COLOURS = ("#CC79A7", "#E69F00")  # reddish purple, orange: apart from viridis and the hatch
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
METRIC_LABELS = {"final_loss": "final loss f(θ_T)", "best_loss": "best loss minₖ f(θₖ)",
                 "steps_to_tol": "steps to f* + tol"}


def _power_ticks(low: float, high: float) -> dict:
    """Tick values at the integer decades of [low, high] (log₁₀ units) labelled 10ᵏ."""
    decades = np.arange(math.ceil(low - 1e-9), math.floor(high + 1e-9) + 1)
    if len(decades) < 2:
        decades = np.array([low, high])
        return dict(tickvals=decades, ticktext=[f"{10.0 ** d:.3g}" for d in decades])
    return dict(tickvals=decades, ticktext=[f"10{str(int(d)).translate(SUPERSCRIPT)}" for d in decades])


def _plotted_y(hmap: Any, values: Any) -> np.ndarray:
    """y values in the plotted coordinate (log₁₀ on a log axis)."""
    values = np.asarray(values, dtype=float)
    return np.log10(values) if hmap.axis.log else values


def loss_gap(loss: np.ndarray, reference: float) -> np.ndarray:
    """log₁₀(f − f_ref), with f ≤ f_ref drawn at log₁₀ FLOOR (never NaN or inf)."""
    return np.log10(np.maximum(np.asarray(loss, dtype=float) - reference, FLOOR))


def map_values(hmap: Any, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The (ny, nx) colour values of ``metric`` and the mask of cells that have one (not diverged; for
    steps to tolerance also reached)."""
    values = hmap.values(metric)
    shown = ~hmap.cells.diverged
    if metric == "steps_to_tol":
        shown = shown & (values >= 0)
        return values.astype(float), shown
    return loss_gap(values, hmap.reference), shown


def _rectangles(mask: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray) -> tuple[list, list]:
    """The cells of ``mask`` as one path of closed rectangles, one per run of cells in a row (None between)."""
    xs: list = []
    ys: list = []
    for i, row in enumerate(mask):
        padded = np.concatenate([[False], row, [False]])
        changes = np.flatnonzero(padded[1:] != padded[:-1])
        for j0, j1 in zip(changes[::2], changes[1::2]):
            x0, x1, y0, y1 = float(x_edges[j0]), float(x_edges[j1]), float(y_edges[i]), float(y_edges[i + 1])
            xs += [x0, x1, x1, x0, x0, None]
            ys += [y0, y0, y1, y1, y0, None]
    return xs, ys


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges of evenly spaced centres."""
    step = centres[1] - centres[0]
    return np.concatenate([centres - step / 2, [centres[-1] + step / 2]])


def _joined(lines: list[np.ndarray]) -> tuple[list, list]:
    xs: list = []
    ys: list = []
    for line in lines:
        xs += [*line[:, 0].tolist(), None]
        ys += [*line[:, 1].tolist(), None]
    return xs, ys


def _overlay_traces(hmap: Any, overlays: Sequence[Any], x_span: tuple[float, float]) -> list[dict]:
    """Theory lines and points (``losslab.theory.Overlay``: name, lr, y, point, style) within the drawn window."""
    traces = []
    low, high = x_span
    y_low, y_high = sorted(float(v) for v in hmap.y[[0, -1]])
    for overlay in overlays:
        x, y = np.log10(np.asarray(overlay.lr, dtype=float)), np.asarray(overlay.y, dtype=float)
        inside = (x >= low) & (x <= high) & (y >= y_low) & (y <= y_high)
        if not inside.any():
            continue
        colour = THEORY_COLOURS[overlay.style % len(THEORY_COLOURS)]
        trace = dict(type="scatter", x=x[inside], y=_plotted_y(hmap, y[inside]), name=overlay.name)
        if overlay.point:
            trace.update(mode="markers", marker=dict(symbol="star", size=16, color=colour,
                                                     line=dict(color="black", width=1.5)),
                         hovertemplate=f"{overlay.name}<extra></extra>")
        else:
            trace.update(mode="lines", line=dict(color=colour, dash=("dot", "dash")[overlay.style % 2], width=2.5),
                         hoverinfo="skip")
        traces.append(trace)
    return traces


def _hover_text(hmap: Any, i: int, j: int, metric_label: str, value: float, shown: bool) -> str:
    axis = hmap.axis
    text = f"ρ = {hmap.lr[j]:.4g}, {axis.symbol} = {hmap.y[i]:.4g}<br>"
    cells = hmap.cells
    if cells.diverged[i, j]:
        share = f" ({cells.diverged_fraction[i, j]:.0%} of repeats)" if hmap.config.seeds > 1 else ""
        return text + f"diverged at step {int(cells.diverged_at[i, j])}{share}<br>click: open on Explore"
    if not shown:
        return text + f"never reached f* + {hmap.config.tol:g}<br>click: open on Explore"
    return text + f"{metric_label} = {value:.4g}<br>click: open on Explore"


def map_figure(hmap: Any, metric: str = "final_loss", boundary: Sequence[np.ndarray] = (),
               overlays: Sequence[Any] = ()) -> go.Figure:
    """The map (a ``losslab.maps.Any``) coloured by ``metric``, diverged cells hatched, the measured
    ``boundary`` (polylines of (ρ, y)) and theory ``overlays`` (``losslab.theory.map_overlays``) drawn over it."""
    values, shown = map_values(hmap, metric)
    config = hmap.config
    axis = hmap.axis
    x, y = np.log10(hmap.lr), _plotted_y(hmap, hmap.y)
    x_edges, y_edges = _edges(x), _edges(y)
    is_loss = metric != "steps_to_tol"
    reference = "f*" if getattr(config.landscape(), "minimum_value", None) is not None else "the map's best"
    symbol = {"final_loss": "f(θ_T)", "best_loss": "minₖ f(θₖ)"}.get(metric, "")
    colour_label = f"log₁₀({symbol} − {reference})" if is_loss else METRIC_LABELS[metric]
    if shown.any():
        low, high = float(values[shown].min()), float(values[shown].max())
    else:
        low, high = 0.0, 1.0
    z = np.where(shown, values, low)  # hidden cells lie under their own overlay
    traces: list[dict] = [dict(
        type="heatmap", x=x, y=y, z=z, zmin=low, zmax=high if high > low else low + 1.0, colorscale="Viridis",
        showscale=bool(shown.any()), hoverinfo="skip", name=colour_label,
        colorbar=dict(title=dict(text=colour_label, side="right"), len=0.8, y=0.55),
    )]
    diverged = hmap.cells.diverged
    covers = [(diverged, "diverged", DIVERGED)]
    if not is_loss:
        covers.append((~diverged & ~shown, f"never reached f* + {config.tol:g}", NOT_REACHED))
    for mask, name, style in covers:
        xs, ys = _rectangles(mask, x_edges, y_edges)
        traces.append(dict(type="scatter", x=xs or [x_edges[0]], y=ys or [y_edges[0]], mode="lines", fill="toself",
                           name=f"{name} ({mask.mean():.0%} of cells)", line=dict(width=0), hoverinfo="skip",
                           showlegend=True, **style))
    if len(boundary):
        plotted = [np.column_stack([np.log10(line[:, 0]), _plotted_y(hmap, line[:, 1])]) for line in boundary]
        bx, by = _joined(plotted)
        traces.append(dict(type="scatter", x=bx, y=by, mode="lines", name="divergence boundary (measured)",
                           line=dict(color="black", width=2.5), hoverinfo="skip"))
    traces += _overlay_traces(hmap, overlays, (float(x_edges[0]), float(x_edges[-1])))
    traces.append(_click_grid(hmap, values, shown, METRIC_LABELS[metric]))

    title = (f"{config.optimizer} on {surface_title(config.landscape())}<br><sup>{config.steps} steps · "
             f"{len(hmap.lr)} × {len(hmap.y)} cells · {diverged.mean():.0%} diverged")
    if config.noise > 0:
        title += f" · σ = {config.noise:g}, mean of {config.seeds} repeat{'s' if config.seeds > 1 else ''}"
    title += "</sup>"
    layout = dict(
        title=dict(text=title, x=0.01), font=FONT, height=620, margin=dict(l=70, r=20, t=60, b=40),
        xaxis=dict(title="learning rate ρ", range=[x_edges[0], x_edges[-1]], showgrid=False, zeroline=False,
                   **_power_ticks(x_edges[0], x_edges[-1])),
        yaxis=dict(title=axis.label, range=[y_edges[0], y_edges[-1]], showgrid=False, zeroline=False,
                   **(_power_ticks(y_edges[0], y_edges[-1]) if axis.log else {})),
        legend=dict(orientation="h", yanchor="top", y=-0.12, x=0), plot_bgcolor="white",
        clickmode="event+select", dragmode="pan", hovermode="closest",
    )
    if not shown.any():
        layout["annotations"] = [dict(xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                                      text="no cell has a value: every cell diverged" if diverged.all()
                                      else "no cell reached f* + tol", font=dict(size=16),
                                      bgcolor="rgba(255,255,255,0.85)")]
    return go.Figure(data=traces, layout=layout)


def _click_grid(hmap: Any, values: np.ndarray, shown: np.ndarray, metric_label: str) -> dict:
    """Invisible markers on (a subsample of) the cells: hover text, and the point a click selects.
    ``customdata`` holds (ρ, y) of the cell, as plain lists: from a 2-D typed array (plotly's numpy encoding)
    Streamlit's selection event returned wrong values in the browser."""
    stride_y = -(-len(hmap.y) // CLICK_CELLS)
    stride_x = -(-len(hmap.lr) // CLICK_CELLS)
    rows = np.arange(len(hmap.y))[stride_y // 2::stride_y]
    columns = np.arange(len(hmap.lr))[stride_x // 2::stride_x]
    i, j = (a.ravel() for a in np.meshgrid(rows, columns, indexing="ij"))
    text = [_hover_text(hmap, a, b, metric_label, values[a, b], shown[a, b]) for a, b in zip(i, j)]
    return dict(type="scatter", x=np.log10(hmap.lr[j]), y=_plotted_y(hmap, hmap.y[i]), mode="markers",
                marker=dict(size=10, opacity=0), customdata=np.column_stack([hmap.lr[j], hmap.y[i]]).tolist(),
                text=text, hovertemplate="%{text}<extra></extra>", showlegend=False, name="cells")


def lr_curve_figure(curves: Mapping[str, Any], reference: float, title: str = "") -> go.Figure:
    """Final loss − f_ref against ρ (log–log) for every optimizer; ✕ where a ρ diverged, ★ at the best ρ.
    Every point's ``customdata`` is (optimizer, ρ)."""
    gaps = {name: loss_gap(curve.cells.final_loss, reference) for name, curve in curves.items()}
    finite = [g[~c.cells.diverged] for g, c in zip(gaps.values(), curves.values()) if (~c.cells.diverged).any()]
    top = max((float(g.max()) for g in finite), default=0.0) + 1.0
    traces = []
    for index, (name, curve) in enumerate(curves.items()):
        style = trace_style(index)
        ok = ~curve.cells.diverged
        data = [[name, float(lr)] for lr in curve.lr]
        traces.append(dict(
            type="scatter", x=curve.lr[ok], y=10.0 ** gaps[name][ok], mode="lines+markers", name=name,
            legendgroup=name, line=dict(color=style.colour, dash=style.dash, width=2.5),
            marker=dict(size=5, symbol=style.marker), customdata=[d for d, keep in zip(data, ok) if keep],
            hovertemplate=f"{name}<br>ρ = %{{x:.4g}}<br>final loss − f_ref = %{{y:.4g}}<br>"
                          "click: open on Explore<extra></extra>",
        ))
        if (~ok).any():
            traces.append(dict(
                type="scatter", x=curve.lr[~ok], y=np.full(int((~ok).sum()), 10.0**top), mode="markers",
                name=f"{name} diverged", legendgroup=name, showlegend=False,
                marker=dict(symbol="x", size=8, color=style.colour), customdata=[d for d, k in zip(data, ok) if not k],
                hovertemplate=f"{name}: ρ = %{{x:.4g}} diverged<br>click: open on Explore<extra></extra>",
            ))
        if curve.best >= 0:
            best_lr = float(curve.lr[curve.best])
            traces.append(dict(
                type="scatter", x=[best_lr], y=[10.0 ** gaps[name][curve.best]], mode="markers",
                name=f"{name}: best ρ = {best_lr:.3g}", legendgroup=name, customdata=[[name, best_lr]],
                marker=dict(symbol="star", size=16, color=style.colour, line=dict(color="black", width=1.5)),
                hovertemplate=f"{name}: best ρ = %{{x:.4g}}<br>click: open on Explore<extra></extra>",
            ))
    layout = dict(
        title=dict(text=title or "final loss against the learning rate ρ (✕ diverged, ★ best ρ)", x=0.01), font=FONT,
        height=480, margin=dict(l=70, r=20, t=60, b=40), plot_bgcolor="white",
        xaxis=dict(title="learning rate ρ", type="log", exponentformat="power", gridcolor="#e5e5e5"),
        yaxis=dict(title="final loss − f_ref", type="log", exponentformat="power", gridcolor="#e5e5e5"),
        legend=dict(orientation="h", yanchor="top", y=-0.15, x=0), clickmode="event+select", hovermode="closest",
    )
    return go.Figure(data=traces, layout=layout)


def search_figures(searches: Mapping[str, Any], reference: float, y_label: str, y_log: bool) -> tuple[go.Figure,
                                                                                                    go.Figure]:
    """(best-so-far final loss against the number of runs n; the configurations each search tried).
    Configuration points carry ``customdata`` (ρ, y) for a click-through."""
    curve_traces, point_traces = [], []
    for index, (name, search) in enumerate(searches.items()):
        style = trace_style(index)
        found = np.isfinite(search.best_so_far)
        n = np.arange(1, len(search.best_so_far) + 1)
        if found.any():
            curve_traces.append(dict(
                type="scatter", x=n[found], y=10.0 ** loss_gap(search.best_so_far[found], reference), mode="lines",
                line=dict(color=style.colour, dash=style.dash, width=2.5, shape="hv"), name=f"{name} search",
                hovertemplate=f"{name}: after %{{x}} runs best − f_ref = %{{y:.4g}}<extra></extra>",
            ))
        ok = ~search.diverged
        for keep, suffix, symbol in ((ok, "", style.marker), (~ok, " (diverged)", "x")):
            if keep.any():
                point_traces.append(dict(
                    type="scatter", x=search.lr[keep], y=search.y[keep], mode="markers", name=f"{name}{suffix}",
                    marker=dict(color=style.colour, symbol=symbol, size=8, line=dict(color="black", width=0.5)),
                    customdata=np.column_stack([search.lr[keep], search.y[keep]]).tolist(),
                    hovertemplate=f"{name}: ρ = %{{x:.4g}}, y = %{{y:.4g}}<br>click: open on Explore<extra></extra>",
                ))
        if search.best >= 0:
            point_traces.append(dict(
                type="scatter", x=[search.lr[search.best]], y=[search.y[search.best]], mode="markers",
                name=f"{name}: best", customdata=[[float(search.lr[search.best]), float(search.y[search.best])]],
                marker=dict(color=style.colour, symbol="star", size=18, line=dict(color="black", width=1.5)),
                hovertemplate=f"{name} best: ρ = %{{x:.4g}}, y = %{{y:.4g}}<extra></extra>",
            ))
    common = dict(font=FONT, height=420, margin=dict(l=70, r=20, t=60, b=40), plot_bgcolor="white",
                  legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))
    curve = go.Figure(data=curve_traces, layout=dict(
        **common, title=dict(text="best final loss so far against the number of runs", x=0.01),
        xaxis=dict(title="runs n", gridcolor="#e5e5e5"),
        yaxis=dict(title="best final loss − f_ref", type="log", exponentformat="power", gridcolor="#e5e5e5"),
    ))
    points = go.Figure(data=point_traces, layout=dict(
        **common, title=dict(text="configurations tried", x=0.01), clickmode="event+select", hovermode="closest",
        xaxis=dict(title="learning rate ρ", type="log", exponentformat="power", gridcolor="#e5e5e5"),
        yaxis=dict(title=y_label, type="log" if y_log else "linear", gridcolor="#e5e5e5"),
    ))
    return curve, points


def schedule_figure(rates: Mapping[str, np.ndarray]) -> go.Figure:
    """ρₖ against k, one line per schedule."""
    traces = []
    for index, (name, values) in enumerate(rates.items()):
        style = trace_style(index)
        traces.append(dict(type="scatter", x=np.arange(len(values)), y=np.asarray(values, dtype=float), mode="lines",
                           name=name, line=dict(color=style.colour, dash=style.dash, width=2.5),
                           hovertemplate=f"{name}<br>k = %{{x}}: ρₖ = %{{y:.4g}}<extra></extra>"))
    layout = dict(title=dict(text="learning rate ρₖ against the step k", x=0.01), font=FONT, height=340,
                  margin=dict(l=70, r=20, t=50, b=40), plot_bgcolor="white",
                  xaxis=dict(title="step k", gridcolor="#e5e5e5"),
                  yaxis=dict(title="ρₖ", gridcolor="#e5e5e5", rangemode="tozero"),
                  legend=dict(orientation="h", y=-0.25))
    return go.Figure(data=traces, layout=layout)
