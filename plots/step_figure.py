"""One step under the magnifier: what an optimizer sees at θₖ and what it does.

``step_figure`` zooms on θₖ: the loss contours around it, −ρg (plain gradient descent's step), the step the
optimizer actually took θₖ₊₁ − θₖ (momentum's velocity v), the Hessian's eigen-directions drawn as the axes of
the local quadratic's level ellipse (half-lengths ∝ 1/√|λ|), and for RMSProp/Adam/AdaGrad the axis-aligned
ellipse of per-coordinate step sizes ρ/(√r̂ + ε)·‖g‖ next to plain descent's circle ρ‖g‖. ``step_rows`` lists
the same quantities as numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from .landscape import COLORSCALE, log_height
from .style import FONT, format_value, trace_style

GRID = 81  # points per axis of the zoomed contour


def _window(view: Any) -> tuple[np.ndarray, float]:
    """Centre θₖ and a half-width of 2.5 steps (the gradient step where the optimizer stood still)."""
    reach = np.linalg.norm(view.update) or view.lr * np.linalg.norm(view.grad)
    return view.theta, 2.5 * max(float(reach), 1e-9)


def _arrow(start: np.ndarray, end: np.ndarray, colour: str, text: str) -> list[dict]:
    """An arrow from ``start`` to ``end`` (data units) and its label at the head (plotly puts an arrow's own
    text at its tail)."""
    arrow = dict(x=end[0], y=end[1], ax=start[0], ay=start[1], xref="x", yref="y", axref="x", ayref="y", text="",
                 showarrow=True, arrowhead=2, arrowsize=1.3, arrowwidth=2.5, arrowcolor=colour, standoff=0)
    label = dict(x=end[0], y=end[1], xref="x", yref="y", text=text, showarrow=False, font=dict(color=colour, size=13),
                 xanchor="left", yanchor="bottom", bgcolor="rgba(255,255,255,0.7)")
    return [arrow, label]


def step_figure(surface: Any, view: Any, curvature: Any, name: str, index: int,
                points: np.ndarray | None = None) -> go.Figure:
    """The zoomed view of step k of optimizer ``name`` (its race colour ``index``); see the module docstring."""
    centre, half = _window(view)
    x = np.linspace(centre[0] - half, centre[0] + half, GRID)
    y = np.linspace(centre[1] - half, centre[1] + half, GRID)
    with np.errstate(all="ignore"):
        z = np.asarray(surface.value(np.stack(np.meshgrid(x, y), axis=-1)), dtype=float)
    finite = np.isfinite(z)
    z = np.where(finite, z, np.max(z[finite]) if finite.any() else 0.0)
    style = trace_style(index)
    traces: list[Any] = [go.Contour(
        x=x, y=y, z=log_height(z, float(z.min())), colorscale=COLORSCALE, showscale=False, ncontours=18,
        contours=dict(coloring="heatmap", showlines=True), line=dict(width=0.6, color="rgba(40,40,40,0.35)"),
        hoverinfo="skip", name="f (log scale)", showlegend=False)]
    if points is not None:
        near = points[np.all(np.abs(points - centre) <= half, axis=1)]
        traces.append(go.Scatter(x=near[:, 0], y=near[:, 1], mode="lines+markers", name=f"{name} path",
                                 line=dict(color=style.colour, width=1.5, dash=style.dash),
                                 marker=dict(size=4, color=style.colour), hoverinfo="skip"))
    after = view.theta + view.update
    traces.append(go.Scatter(x=[view.theta[0], after[0]], y=[view.theta[1], after[1]], mode="markers+text",
                             text=["θₖ", ""], textposition="top left", name="θₖ, θₖ₊₁", showlegend=False,
                             marker=dict(size=[11, 8], color=["black", style.colour], symbol=style.marker)))
    gradient_step, label = -view.lr * view.grad, "−ρg"
    length = float(np.linalg.norm(gradient_step))
    if length > 0.9 * half:  # plain descent would leave the window: draw it shortened, and say by how much
        gradient_step, label = gradient_step * (0.9 * half / length), f"−ρg (×{0.9 * half / length:.2g})"
    annotations = [*_arrow(view.theta, view.theta + gradient_step, "black", label),
                   *_arrow(view.theta, after, style.colour, "θₖ₊₁ − θₖ")]
    if curvature is not None:
        magnitudes = np.maximum(np.abs(curvature.eigenvalues), 1e-300)
        lengths = 0.8 * half * np.sqrt(magnitudes.min() / magnitudes)  # ∝ 1/√|λ|, the longest 0.8 half-widths
        for i, (value, length) in enumerate(zip(curvature.eigenvalues, lengths)):
            direction = curvature.eigenvectors[:, i] * length
            ends = np.stack([centre - direction, centre + direction])
            traces.append(go.Scatter(x=ends[:, 0], y=ends[:, 1], mode="lines", name=f"eigen-direction λ{'₁₂'[i]} = "
                                     f"{format_value(float(value))}", line=dict(color="#555555", width=2,
                                                                                dash="dot" if i else "dash")))
    if view.effective_lr is not None:
        size = np.linalg.norm(view.grad)
        angle = np.linspace(0, 2 * np.pi, 121)
        ellipse = centre + np.stack([np.cos(angle), np.sin(angle)], axis=-1) * (view.effective_lr * size)
        circle = centre + np.stack([np.cos(angle), np.sin(angle)], axis=-1) * (view.lr * size)
        traces.append(go.Scatter(x=ellipse[:, 0], y=ellipse[:, 1], mode="lines", line=dict(color=style.colour),
                                 name="per-coordinate reach ρ/(√r̂ + ε)·‖g‖"))
        traces.append(go.Scatter(x=circle[:, 0], y=circle[:, 1], mode="lines", line=dict(color="black", dash="dot",
                                                                                          width=1),
                                 name="plain descent's reach ρ‖g‖"))
    title = f"{name} at step k = {view.step}"
    if curvature is not None:
        title += f" · local κ = {format_value(curvature.condition)}"
    figure = go.Figure(traces)
    figure.update_layout(
        title=dict(text=title, x=0.01), font=FONT, height=520, margin=dict(l=60, r=20, t=50, b=40),
        annotations=annotations, plot_bgcolor="white", legend=dict(orientation="h", y=-0.15),
        xaxis=dict(range=[x[0], x[-1]], title="θ₁", constrain="domain"),
        yaxis=dict(range=[y[0], y[-1]], title="θ₂", scaleanchor="x", scaleratio=1),
    )
    return figure


def step_rows(view: Any, curvature: Any, rates: dict[str, float | None] | None = None) -> list[tuple[str, str]]:
    """(quantity, value) pairs of a step, in the lecture's notation, for a table beside the figure."""
    def pair(values: Any) -> str:
        return "(" + ", ".join(format_value(float(v)) for v in values) + ")"

    rows = [("θₖ", pair(view.theta)), ("f(θₖ)", format_value(view.loss)), ("gₖ", pair(view.grad)),
            ("ρₖ", format_value(view.lr)), ("θₖ₊₁ − θₖ", pair(view.update))]
    if curvature is not None:
        rows += [("Hessian eigenvalues λ₁, λ₂", pair(curvature.eigenvalues)),
                 ("local condition number κ", format_value(curvature.condition)), ("shape", curvature.kind)]
    if view.effective_lr is not None:
        rows.append(("effective ρ/(√r̂ + ε) per coordinate", pair(view.effective_lr)))
    for key, values in view.moments.items():
        rows.append((key, pair(values)))
    for key, value in (rates or {}).items():
        rows.append((key, "—" if value is None else format_value(value)))
    if view.diverged:
        rows.append(("note", "the run diverged by this step"))
    return rows
