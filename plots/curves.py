"""Per-step views of a race: loss curves, distance to the minimum, a summary table, the 3-D surface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .landscape import COLORSCALE, evaluate_grid, log_height
from .race import _clip_to_view
from .style import FONT, optimizer_label, surface_title, trace_style


def _line_figure(trajectories: Mapping[str, Any], values: Mapping[str, np.ndarray], title: str, y_title: str,
                 log_y: bool, reference: float | None = None) -> go.Figure:
    """Curves against the step k, one per optimizer in its race colour and dash, ✕ where it diverged."""
    traces = []
    for index, (name, trajectory) in enumerate(trajectories.items()):
        style = trace_style(index)
        traces.append(dict(
            type="scatter", x=np.arange(len(values[name])), y=values[name], mode="lines", name=name,
            line=dict(color=style.colour, dash=style.dash, width=2.5),
            hovertemplate=f"{optimizer_label(name, trajectory.hyperparameters)}<br>"
                          "step %{x}: %{y:.4g}<extra></extra>",
        ))
        step = int(trajectory.diverged_at[0])
        if step >= 0:
            traces.append(dict(
                type="scatter", x=[step], y=[values[name][step]], mode="markers", showlegend=False,
                name=f"{name} diverged", hovertemplate=f"{name} diverged at step {step}<extra></extra>",
                marker=dict(symbol="x", size=12, color=style.colour, line=dict(color="black", width=1)),
            ))
    shapes, annotations = [], []
    if reference is not None:
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=reference, y1=reference,
                           line=dict(color="black", dash="dot", width=1.5)))
        annotations.append(dict(xref="paper", x=1, yref="y", y=reference, text=f"f* = {reference:.6g}",
                                showarrow=False, xanchor="right", yanchor="top"))
    layout = dict(
        title=dict(text=title, x=0.01), font=FONT, height=340, margin=dict(l=60, r=20, t=50, b=40),
        xaxis=dict(title="step k", gridcolor="#e5e5e5"),
        yaxis=dict(title=y_title, type="log" if log_y else "linear", exponentformat="power", gridcolor="#e5e5e5"),
        legend=dict(orientation="h", y=-0.25), plot_bgcolor="white", shapes=shapes, annotations=annotations,
    )
    return go.Figure(data=traces, layout=layout)


def loss_figure(surface: Any, trajectories: Mapping[str, Any]) -> go.Figure:
    """f(θₖ) against k, log y where every loss is positive, with the known optimum f* drawn."""
    losses = {name: t.losses[0] for name, t in trajectories.items()}
    minimum = getattr(surface, "minimum_value", None)
    log_y = all(np.all(v > 0) for v in losses.values())
    title = "loss f(θₖ)"
    if minimum is not None:
        title += f" · f* = {minimum:.6g}"
    drawn = minimum if minimum is not None and (minimum > 0 or not log_y) else None  # 0 has no place on a log axis
    return _line_figure(trajectories, losses, title, "f(θₖ)", log_y, reference=drawn)


def distance_figure(surface: Any, trajectories: Mapping[str, Any]) -> go.Figure | None:
    """‖θₖ − θ*‖ to the nearest known minimizer (log y); None when the surface has no known minimum."""
    minima = np.asarray(getattr(surface, "minima", ()) or np.empty((0, 2)), dtype=float).reshape(-1, 2)
    if len(minima) == 0:
        return None
    distances = {}
    for name, trajectory in trajectories.items():
        gaps = np.linalg.norm(trajectory.points[0][:, None, :] - minima[None], axis=-1).min(axis=1)
        distances[name] = np.maximum(gaps, 1e-300)
    return _line_figure(trajectories, distances, "distance to the nearest minimum ‖θₖ − θ*‖", "‖θₖ − θ*‖", True)


def summary_rows(surface: Any, trajectories: Mapping[str, Any], tol: float = 1e-6) -> list[dict[str, Any]]:
    """One row per optimizer: final and best loss, steps to reach f* + tol, where it diverged."""
    minimum = getattr(surface, "minimum_value", None)
    target = (minimum or 0.0) + tol
    rows = []
    for name, trajectory in trajectories.items():
        losses = trajectory.losses[0]
        reached = np.flatnonzero(losses <= target)
        step = int(trajectory.diverged_at[0])
        rows.append({
            "optimizer": optimizer_label(name, trajectory.hyperparameters),
            "final loss": float(losses[-1]),
            "best loss": float(losses.min()),
            f"steps to f* + {tol:g}": int(reached[0]) if reached.size else None,
            "diverged at": f"step {step} ({trajectory.diverged_reason[0]})" if step >= 0 else "—",
        })
    return rows


def surface_figure(surface: Any, trajectories: Mapping[str, Any], resolution: int = 80) -> go.Figure:
    """The landscape in 3-D (height log₁₀(f − f_min + ε)) with each trajectory lying on it."""
    grid = evaluate_grid(surface, resolution)
    floor = float(grid.z.min())
    figure = go.Figure(go.Surface(
        x=grid.x, y=grid.y, z=log_height(grid.z, floor), colorscale=COLORSCALE, showscale=False, opacity=0.92,
        name="landscape", hovertemplate="θ = (%{x:.3g}, %{y:.3g})<extra></extra>",
    ))
    (xmin, xmax), (ymin, ymax) = surface.bounds
    for index, (name, trajectory) in enumerate(trajectories.items()):
        style = trace_style(index)
        points = trajectory.points[0]
        inside = ((points[:, 0] >= xmin) & (points[:, 0] <= xmax) & (points[:, 1] >= ymin) & (points[:, 1] <= ymax))
        shown = _clip_to_view(points[inside], surface.bounds)
        heights = log_height(trajectory.losses[0][inside], floor)
        figure.add_trace(go.Scatter3d(
            x=shown[:, 0], y=shown[:, 1], z=heights, mode="lines", name=name,
            line=dict(color=style.colour, width=6),
        ))
    figure.update_layout(
        title=dict(text=f"{surface_title(surface)} in 3-D · height log₁₀(f − f_min + ε)", x=0.01), font=FONT,
        height=560, margin=dict(l=0, r=0, t=50, b=0),
        scene=dict(xaxis_title="θ₁", yaxis_title="θ₂", zaxis_title="log₁₀ f", aspectmode="cube"),
    )
    return figure
