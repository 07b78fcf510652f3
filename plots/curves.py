"""Per-step views of a race: loss curves, distance to the minimum, a summary table, the 3-D surface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go

from .landscape import COLORSCALE, Grid, evaluate_grid, log_height
from .race import clip_to_view
from .style import FONT, legend_label, surface_title, trace_style


class Panel(NamedTuple):
    """One curve panel: a value per step for each optimizer, drawn against k."""

    title: str
    y_title: str
    values: dict[str, np.ndarray]
    log_y: bool
    reference: float | None = None  # a horizontal line (the known optimum f*)


def loss_panel(surface: Any, trajectories: Mapping[str, Any]) -> Panel:
    """f(θₖ) against k, log y where every loss is positive, with the known optimum f* drawn."""
    losses = {name: t.losses[0] for name, t in trajectories.items()}
    minimum = getattr(surface, "minimum_value", None)
    log_y = all(np.all(v > 0) for v in losses.values())
    title = "loss f(θₖ)"
    if minimum is not None:
        title += f" · f* = {minimum:.6g}"
    drawn = minimum if minimum is not None and (minimum > 0 or not log_y) else None  # 0 has no place on a log axis
    return Panel(title, "f(θₖ)", losses, log_y, drawn)


def distance_panel(surface: Any, trajectories: Mapping[str, Any]) -> Panel | None:
    """‖θₖ − θ*‖ to the nearest known minimizer (log y); None when the surface has no known minimum."""
    minima = np.asarray(getattr(surface, "minima", ()) or np.empty((0, 2)), dtype=float).reshape(-1, 2)
    if len(minima) == 0:
        return None
    distances = {}
    for name, trajectory in trajectories.items():
        gaps = np.linalg.norm(trajectory.points[0][:, None, :] - minima[None], axis=-1).min(axis=1)
        distances[name] = np.maximum(gaps, 1e-300)
    return Panel("distance to the nearest minimum ‖θₖ − θ*‖", "‖θₖ − θ*‖", distances, True)


def _panel_traces(trajectories: Mapping[str, Any], panel: Panel, axis: str) -> list[dict[str, Any]]:
    """One curve per optimizer in its race colour and dash, ✕ where it diverged, on axes x{axis}/y{axis}; the
    first panel carries the legend (``legendgroup`` toggles an optimizer in every panel)."""
    traces = []
    for index, (name, trajectory) in enumerate(trajectories.items()):
        style = trace_style(index)
        values = panel.values[name]
        traces.append(dict(
            type="scatter", x=np.arange(len(values)), y=values, mode="lines", name=name, legendgroup=name,
            showlegend=not axis, xaxis=f"x{axis}", yaxis=f"y{axis}",
            line=dict(color=style.colour, dash=style.dash, width=2.5),
            hovertemplate=f"{legend_label(name, trajectory)}<br>"
                          "step %{x}: %{y:.4g}<extra></extra>",
        ))
        step = int(trajectory.diverged_at[0])
        if step >= 0:
            traces.append(dict(
                type="scatter", x=[step], y=[values[step]], mode="markers", showlegend=False, legendgroup=name,
                name=f"{name} diverged", hovertemplate=f"{name} diverged at step {step}<extra></extra>",
                xaxis=f"x{axis}", yaxis=f"y{axis}",
                marker=dict(symbol="x", size=12, color=style.colour, line=dict(color="black", width=1)),
            ))
    return traces


def curves_figure(surface: Any, trajectories: Mapping[str, Any]) -> go.Figure:
    """The loss panel and, where a minimum is known, the distance panel side by side in one figure (one chart
    for the browser to draw, one legend for both)."""
    panels = [panel for panel in (loss_panel(surface, trajectories), distance_panel(surface, trajectories)) if panel]
    gap = 0.1
    width = (1 - gap * (len(panels) - 1)) / len(panels)
    traces, layout = [], dict(
        font=FONT, height=360, margin=dict(l=60, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.25),
        plot_bgcolor="white", shapes=[], annotations=[],
    )
    for index, panel in enumerate(panels):
        axis = str(index + 1) if index else ""
        left = index * (width + gap)
        traces += _panel_traces(trajectories, panel, axis)
        layout[f"xaxis{axis}"] = dict(domain=[left, left + width], title="step k", gridcolor="#e5e5e5",
                                      anchor=f"y{axis}")
        layout[f"yaxis{axis}"] = dict(title=panel.y_title, type="log" if panel.log_y else "linear",
                                      exponentformat="power", gridcolor="#e5e5e5", anchor=f"x{axis}")
        layout["annotations"].append(dict(text=panel.title, xref="paper", x=left + width / 2, yref="paper", y=1,
                                          xanchor="center", yanchor="bottom", showarrow=False))
        if panel.reference is not None:
            layout["shapes"].append(dict(type="line", xref=f"x{axis} domain", x0=0, x1=1, yref=f"y{axis}",
                                         y0=panel.reference, y1=panel.reference,
                                         line=dict(color="black", dash="dot", width=1.5)))
            layout["annotations"].append(dict(
                text=f"f* = {panel.reference:.6g}", xref=f"x{axis} domain", x=1, yref=f"y{axis}",
                y=np.log10(panel.reference) if panel.log_y else panel.reference, xanchor="right", yanchor="top",
                showarrow=False))
    return go.Figure(data=traces, layout=layout)


def summary_rows(surface: Any, trajectories: Mapping[str, Any], tol: float = 1e-6) -> list[dict[str, Any]]:
    """One row per optimizer: final and best loss, steps to reach f* + tol, where it diverged; and where a race holds
    an optimizer that evaluates ∇f several times per step (SAM, LBFGS: a step is one ``optimizer.step(closure)``),
    each one's gradient evaluations, in all and to reach f* + tol."""
    minimum = getattr(surface, "minimum_value", None)
    target = (minimum or 0.0) + tol
    counted = any(getattr(t, "evaluations", None) is not None for t in trajectories.values())
    rows = []
    for name, trajectory in trajectories.items():
        losses = trajectory.losses[0]
        reached = np.flatnonzero(losses <= target)
        step = int(trajectory.diverged_at[0])
        row = {
            "optimizer": legend_label(name, trajectory),
            "final loss": float(losses[-1]),
            "best loss": float(losses.min()),
            f"steps to f* + {tol:g}": int(reached[0]) if reached.size else None,
            "diverged at": f"step {step} ({trajectory.diverged_reason[0]})" if step >= 0 else "—",
        }
        if counted:
            evaluations = getattr(trajectory, "evaluations", None)
            evaluations = np.arange(len(losses)) if evaluations is None else evaluations[0]  # one per step
            row["∇f evaluations"] = int(evaluations[-1])
            row[f"… to f* + {tol:g}"] = int(evaluations[reached[0]]) if reached.size else None
        rows.append(row)
    return rows


def surface_figure(surface: Any, trajectories: Mapping[str, Any], resolution: int = 80,
                   grid: Grid | None = None) -> go.Figure:
    """The landscape in 3-D (height log₁₀(f − f_min + ε)) with each trajectory lying on it; ``grid`` (the surface
    evaluated already, e.g. a race's landscape layer) is drawn instead of a new one of ``resolution``."""
    grid = grid if grid is not None else evaluate_grid(surface, resolution)
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
        shown = clip_to_view(points[inside], surface.bounds)
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
