"""A computed slice drawn with the project's own figures, and the optimizer races on it.

The stored grid is wrapped as a drawn surface (``Drawn``: the window, θ* at the origin, ``value`` = the stored
values), so the figures are the ones the rest of the app draws: ``plots.race_figure`` (with ``--race``) or a
one-panel ``plots.gallery.gallery_figure`` for the contour, ``plots.surface_figure`` for the 3-D view, both over
``plots.race.landscape_layer``'s colour image and log-spaced isolines. They are exported through
``losslab.exports.figure_bytes`` like every other figure; the HTML page puts the contour and the 3-D surface
side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go

import plots
from plots.gallery import Panel, gallery_figure
from plots.landscape import MAX_RESOLUTION, Grid
from plots.race import landscape_layer

from .race import optimizer_defaults

SURFACE_3D_POINTS = 100  # the 3-D view's grid at most (WebGL in the browser), like the Networks page's
RACE_SURFACE = "network"  # the races use the catalogue's ρ for a network's plane
DEFAULT_STEPS = 200
CENTRE = "θ* (the model's weights)"  # the plane's origin: the weights sliced, which need not be a minimum


@dataclass(frozen=True)
class Drawn:
    """A stored slice as a surface the figure builders can draw: ``value`` returns the stored grid."""

    bounds: tuple[tuple[float, float], tuple[float, float]]
    z: np.ndarray
    name: str = "slice"
    minima: tuple[tuple[float, float], ...] = ((0.0, 0.0),)  # θ*, the model's weights, at the origin (CENTRE)
    params: dict[str, Any] = field(default_factory=dict)

    def value(self, points: Any) -> np.ndarray:
        if np.shape(points)[:-1] != self.z.shape:
            raise ValueError(f"a drawn slice has only its own {self.z.shape} grid")
        return self.z


def subsampled(z: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` × ``limit`` of the grid's points, evenly picked, first and last kept."""
    count = z.shape[0]
    if count <= limit:
        return z
    index = np.unique(np.round(np.linspace(0, count - 1, limit)).astype(int))
    return z[np.ix_(index, index)]


def drawn(z: np.ndarray, extent: float, limit: int = MAX_RESOLUTION) -> Drawn:
    return Drawn(((-extent, extent), (-extent, extent)), subsampled(np.asarray(z, dtype=np.float64), limit))


def races(surface: Any, names: list[str], start: tuple[float, float], steps: int = DEFAULT_STEPS
          ) -> tuple[dict[str, Any], dict[str, str]]:
    """Each optimizer's run on the slice's surface from ``start`` with the catalogue's defaults; the failures by
    name with their reason (skipped, not fatal)."""
    import optimizers

    trajectories, skipped = {}, {}
    for name in names:
        try:
            trajectories[name] = optimizers.run(surface, name, start=start, steps=steps,
                                                **optimizer_defaults(name, RACE_SURFACE))
        except ValueError as error:
            skipped[name] = str(error)
    return trajectories, skipped


def contour_figure(view: Drawn, trajectories: dict[str, Any], title: str, caption: str, frames: int = 1
                   ) -> go.Figure:
    """The contour of the slice with the races on it (``plots.race_figure``), or alone (one gallery panel)."""
    layer = landscape_layer(view, view.z.shape[0])
    if trajectories:
        figure = plots.race_figure(view, trajectories, layer=layer, frames=frames, title=title)
    else:
        figure = gallery_figure(view, [Panel(title, caption)], start=(0.0, 0.0), layer=layer)
        figure.data = [trace for trace in figure.data if trace.name != "start θ₀"]
        figure.update_layout(height=680, margin=dict(l=60, r=20, t=80, b=50))
        figure.update_xaxes(showticklabels=True)
        figure.update_yaxes(showticklabels=True)
    figure.update_xaxes(title="a (along d₁)")
    figure.update_yaxes(title="b (along d₂)")
    figure.update_traces(selector=dict(name="minimum θ*"), name=CENTRE,  # the given weights, not a known minimum
                         hovertemplate=CENTRE + " (%{x:.4g}, %{y:.4g})<extra></extra>")
    return figure


def surface_3d(view: Drawn, trajectories: dict[str, Any]) -> go.Figure:
    """The 3-D surface (``plots.surface_figure``) on a grid of at most SURFACE_3D_POINTS² points."""
    coarse = subsampled(view.z, SURFACE_3D_POINTS)
    (low, high), _ = view.bounds
    axis = np.linspace(low, high, coarse.shape[0])
    figure = plots.surface_figure(view, trajectories, grid=Grid(axis, axis, coarse))
    figure.update_layout(scene=dict(xaxis_title="a", yaxis_title="b"))
    return figure


def page_figure(flat: go.Figure, solid: go.Figure) -> go.Figure:
    """The contour (left) and the 3-D surface (right) in one figure, for the HTML page."""
    layout = flat.layout.to_plotly_json()
    layout["xaxis"] = {**layout.get("xaxis", {}), "domain": [0.0, 0.5]}
    layout["scene"] = {**solid.layout.scene.to_plotly_json(), "domain": {"x": [0.54, 1.0], "y": [0.0, 1.0]}}
    layout["legend"] = dict(orientation="h", x=0.0, y=-0.1, yanchor="top")
    layout["height"] = 740
    solid.update_traces(showlegend=False, selector=dict(type="scatter3d"))  # the contour's legend names them
    return go.Figure(data=[*flat.data, *solid.data], layout=layout, frames=flat.frames)


def figures(z: np.ndarray, extent: float, trajectories: dict[str, Any], title: str, caption: str,
            formats: list[str]) -> dict[str, go.Figure]:
    """The figure of each format: the contour for png/svg/pdf, contour + 3-D for html."""
    view = drawn(z, extent)
    shown: dict[str, go.Figure] = {}
    if any(fmt != "html" for fmt in formats):
        still = contour_figure(view, trajectories, title, caption)
        shown.update({fmt: still for fmt in formats if fmt != "html"})
    if "html" in formats:
        shown["html"] = page_figure(contour_figure(view, trajectories, title, caption, frames=60),
                                    surface_3d(view, trajectories))
    return shown
