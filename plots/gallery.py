"""The gallery: small multiples of one landscape, one panel per run, each with its own path, the start and the
minima.

A plotly ``make_subplots`` grid (about 3:2, rows × columns). Every panel is the race figure's landscape (the layout
image of the colour-mapped grid and its isolines as one layout shape, ``plots.race``'s way: a contour trace per
panel would be heavier), drawn from a lighter layer (:func:`panel_layer`: a coarser grid and fewer isolines, since
the image and the isolines are repeated in every panel), the path, its last point, a ✕ where
it diverged, the start θ₀ and the minima ★. Its title is given (two lines: a name and a caption). Like the other
figure builders it knows nothing of optimizers: a panel's title and path come as data.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .landscape import Grid, colour_image, evaluate_grid, isoline_path, log_levels, png_data_uri
from .race import LandscapeLayer, clip_to_view, last_visible
from .style import FONT, OKABE_ITO

MAX_PANELS = 64
PANEL_RESOLUTION = 120  # the colour image's grid per axis (a panel is a few hundred pixels wide)
PANEL_ISOLINE_GRID = 48  # isolines from a grid this coarse: every panel repeats them
PANEL_LEVELS = 12
ROW_HEIGHT = 230  # layout pixels per row of panels on a page (an export takes its preset's size)
TITLE_SPACE = 0.3  # of the figure's height, shared by the gaps between rows that hold the panels' two-line titles
# (about 50 px in a 720 px export of four rows)
ASPECT = 1.5  # columns per row, about
PATH_COLOUR = OKABE_ITO[3]  # vermillion: one colour for every panel (each has one path), readable on the whole
# colour scale, where the palette's grey and yellow are not


class Panel(NamedTuple):
    """One panel: ``title`` and ``caption`` (plain text, escaped here), the path θ₀…θ_T ((T + 1, 2); None: no path
    drawn) and the step it diverged at (-1: it did not)."""

    title: str
    caption: str
    path: np.ndarray | None = None
    diverged_at: int = -1


def panel_layer(surface: Any, resolution: int = PANEL_RESOLUTION) -> LandscapeLayer:
    """The landscape of a panel: ``plots.race.landscape_layer``'s colour image and log-spaced isolines, from a
    coarser grid and fewer levels (a gallery repeats them in every panel)."""
    grid = evaluate_grid(surface, resolution)
    stride = -(-len(grid.x) // PANEL_ISOLINE_GRID)
    coarse = Grid(grid.x[::stride], grid.y[::stride], grid.z[::stride, ::stride])
    return LandscapeLayer(grid, isoline_path(coarse, log_levels(grid, PANEL_LEVELS)),
                          png_data_uri(colour_image(grid)))


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) of ``count`` panels, about ASPECT columns per row: 24 → 4 × 6, 4 → 2 × 2, 3 → 1 × 3."""
    if not 1 <= count <= MAX_PANELS:
        raise ValueError(f"Invalid panels value: {count!r} (must be an integer in [1, {MAX_PANELS}])")
    rows = max(1, round(math.sqrt(count / ASPECT)))
    return rows, math.ceil(count / rows)


@lru_cache(maxsize=32)
def _grid(rows: int, columns: int, count: int) -> str:
    """make_subplots' layout of the grid (the panels' axes, domains and title annotations) as JSON: computed once
    per shape (~0.1 s for two dozen panels); the figure is then assembled from plain dicts (plotly's object model
    takes ~0.5 s to update two dozen panels property by property)."""
    grid = make_subplots(rows=rows, cols=columns, subplot_titles=["·"] * count,
                         horizontal_spacing=0.03 if columns > 1 else 0.0,
                         vertical_spacing=min(TITLE_SPACE / rows, 0.9 / max(rows - 1, 1)))
    return json.dumps(grid.to_dict()["layout"])


def _grid_layout(rows: int, columns: int, count: int) -> dict:
    return json.loads(_grid(rows, columns, count))


def _title(panel: Panel) -> str:
    caption = f"<br><span style='font-size:11px'>{html.escape(panel.caption)}</span>" if panel.caption else ""
    return f"<b>{html.escape(panel.title)}</b>{caption}"


def gallery_figure(surface: Any, panels: Sequence[Panel], start: Sequence[float], *, title: str = "",
                   layer: LandscapeLayer | None = None) -> go.Figure:
    """The panels on ``surface``'s landscape in a grid, in order (row by row), each from ``start``."""
    rows, columns = grid_shape(len(panels))
    layer = layer if layer is not None else panel_layer(surface)
    (xmin, xmax), (ymin, ymax) = surface.bounds
    height = rows * ROW_HEIGHT + 70
    layout = _grid_layout(rows, columns, len(panels))
    for annotation, panel in zip(layout["annotations"], panels):
        annotation.update(text=_title(panel), font=dict(size=12))
    minima = np.asarray(getattr(surface, "minima", ()) or np.empty((0, 2)), dtype=float).reshape(-1, 2)
    start = np.asarray(start, dtype=float)
    traces, images, shapes = [], [], []
    for index, panel in enumerate(panels):
        suffix = "" if index == 0 else str(index + 1)
        xref, yref = f"x{suffix}", f"y{suffix}"
        layout[f"xaxis{suffix}"].update(range=[xmin, xmax], autorange=False, showgrid=False, zeroline=False,
                                        showticklabels=False, constrain="domain")
        layout[f"yaxis{suffix}"].update(range=[ymin, ymax], autorange=False, showgrid=False, zeroline=False,
                                        showticklabels=False, scaleanchor=xref, scaleratio=1, constrain="domain",
                                        constraintoward="top")  # a narrow panel stays under its title
        images.append(dict(source=layer.image, xref=xref, yref=yref, x=xmin, y=ymax, sizex=xmax - xmin,
                           sizey=ymax - ymin, sizing="stretch", layer="below"))
        shapes.append(dict(type="path", path=layer.isolines, xref=xref, yref=yref, layer="between",
                           line=dict(color="rgba(255,255,255,0.4)", width=0.8)))
        panel_traces = []
        if panel.path is not None and len(panel.path):
            points = clip_to_view(np.asarray(panel.path, dtype=float), surface.bounds)
            panel_traces.append(dict(
                type="scatter", x=points[:, 0].astype(np.float32), y=points[:, 1].astype(np.float32), mode="lines",
                name=panel.title, line=dict(color=PATH_COLOUR, width=2),
                hovertemplate=f"{html.escape(panel.title)}<br>θ = (%{{x:.4g}}, %{{y:.4g}})<extra></extra>"))
            if panel.diverged_at >= 0:
                cross = last_visible(points[: panel.diverged_at + 1], surface.bounds)
                panel_traces.append(dict(
                    type="scatter", x=[cross[0]], y=[cross[1]], mode="markers", name=f"{panel.title} diverged",
                    marker=dict(symbol="x", size=13, color=PATH_COLOUR, line=dict(color="black", width=1)),
                    hovertemplate=f"diverged at step {panel.diverged_at}<extra></extra>"))
            else:
                panel_traces.append(dict(
                    type="scatter", x=[points[-1, 0]], y=[points[-1, 1]], mode="markers", name=f"{panel.title} θ_T",
                    marker=dict(symbol="circle", size=9, color=PATH_COLOUR, line=dict(color="black", width=1)),
                    hovertemplate="θ_T = (%{x:.4g}, %{y:.4g})<extra></extra>"))
        panel_traces.append(dict(
            type="scatter", x=[start[0]], y=[start[1]], mode="markers", name="start θ₀",
            marker=dict(symbol="circle", size=8, color="white", line=dict(color="black", width=1.5)),
            hovertemplate="start θ₀ = (%{x:.4g}, %{y:.4g})<extra></extra>"))
        if len(minima):
            panel_traces.append(dict(
                type="scatter", x=minima[:, 0], y=minima[:, 1], mode="markers", name="minimum θ*",
                marker=dict(symbol="star", size=11, color="white", line=dict(color="black", width=1)),
                hovertemplate="minimum θ* = (%{x:.4g}, %{y:.4g})<extra></extra>"))
        traces += [{**trace, "xaxis": xref, "yaxis": yref, "showlegend": False} for trace in panel_traces]
    layout.update(
        title=dict(text=title, x=0.01, y=0.995, yanchor="top"), font=FONT, images=images, shapes=shapes,
        plot_bgcolor="white", height=height, margin=dict(l=10, r=10, t=70, b=10), showlegend=False,
        hovermode="closest", dragmode="pan")
    return go.Figure(data=traces, layout=layout)
