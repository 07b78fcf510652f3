"""Figures of the Networks page: the trained model (decision regions, fit, digit samples) and the full-space view
(PCA plane with each optimizer's projected trajectory, train/test loss, each iterate's distance from the plane)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .landscape import COLORSCALE, Grid, log_height
from .style import FONT, legend_label, trace_style

CLASS_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                 "#17becf")


def _layout(figure: go.Figure, title: str, height: int = 460) -> go.Figure:
    figure.update_layout(title=dict(text=title, x=0.01), font=FONT, height=height, template="plotly_white",
                         margin=dict(l=50, r=20, t=60, b=45))
    return figure


def decision_figure(regions: Any, title: str = "decision regions of the trained network") -> go.Figure:
    """The predicted class over the input plane (shaded by its probability) with the training points on top."""
    predicted = regions.predicted
    confidence = regions.probabilities.max(axis=-1)
    classes = regions.probabilities.shape[-1]
    # one colour band per class, lighter where the network is less sure: value = class + confidence ∈ [m, m + 1]
    scale = []
    for m in range(classes):
        colour = CLASS_COLOURS[m % len(CLASS_COLOURS)]
        scale += [[m / classes, "#ffffff"], [(m + 1) / classes - 1e-9, colour]]
    scale[-1][1] = CLASS_COLOURS[(classes - 1) % len(CLASS_COLOURS)]
    scale[-1][0] = 1.0
    shade = predicted + np.clip((confidence - 1.0 / classes) / (1.0 - 1.0 / classes), 0.0, 1.0) * 0.6 + 0.2
    figure = go.Figure(go.Heatmap(
        x=regions.x1, y=regions.x2, z=shade, zmin=0, zmax=classes, colorscale=scale, showscale=False,
        customdata=np.stack([predicted, confidence], axis=-1), name="prediction",
        hovertemplate="x = (%{x:.2f}, %{y:.2f})<br>class %{customdata[0]} · p = %{customdata[1]:.3f}<extra></extra>",
    ))
    for m in range(classes):
        shown = regions.points[regions.labels == m]
        figure.add_trace(go.Scatter(
            x=shown[:, 0], y=shown[:, 1], mode="markers", name=f"class {m}",
            marker=dict(size=5, color=CLASS_COLOURS[m % len(CLASS_COLOURS)], line=dict(color="black", width=0.6)),
        ))
    figure.update_xaxes(title="x₁", range=[regions.x1[0], regions.x1[-1]])
    figure.update_yaxes(title="x₂", range=[regions.x2[0], regions.x2[-1]], scaleanchor="x")
    return _layout(figure, title)


def fit_figure(fit: Any, title: str = "fit of the trained network") -> go.Figure:
    """The training data and the curve f(x; θ*)."""
    figure = go.Figure([
        go.Scatter(x=fit.points, y=fit.targets, mode="markers", name="training data",
                   marker=dict(size=5, color="#7f7f7f")),
        go.Scatter(x=fit.x, y=fit.y, mode="lines", name="f(x; θ*)", line=dict(color="#d62728", width=3)),
    ])
    figure.update_xaxes(title="x")
    figure.update_yaxes(title="y")
    return _layout(figure, title)


def samples_figure(samples: Any, title: str = "test images and the network's confidence p₁ … p_M") -> go.Figure:
    """Each sample image (top row) over a bar chart of its class probabilities (bottom row)."""
    count, classes = samples.probabilities.shape
    predicted = samples.probabilities.argmax(axis=-1)
    figure = make_subplots(rows=2, cols=count, row_heights=[0.55, 0.45], vertical_spacing=0.12,
                           subplot_titles=[f"true {label} → {guess} (p = {samples.probabilities[i, guess]:.2f})"
                                           for i, (label, guess) in enumerate(zip(samples.labels, predicted))])
    for index in range(count):
        figure.add_trace(go.Heatmap(z=samples.images[index][::-1], colorscale="Greys", reversescale=True,
                                    showscale=False, hoverinfo="skip"), row=1, col=index + 1)
        colours = ["#d62728" if m == predicted[index] else "#9aa5b8" for m in range(classes)]
        figure.add_trace(go.Bar(x=np.arange(classes), y=samples.probabilities[index], marker_color=colours,
                                showlegend=False, hovertemplate="class %{x}: p = %{y:.3f}<extra></extra>"),
                         row=2, col=index + 1)
        figure.update_xaxes(visible=False, row=1, col=index + 1)
        figure.update_yaxes(visible=False, scaleanchor=f"x{index + 1}" if index else "x", row=1, col=index + 1)
        figure.update_xaxes(dtick=1, tickfont=dict(size=9), row=2, col=index + 1)
        figure.update_yaxes(range=[0, 1], showticklabels=index == 0, row=2, col=index + 1)
    figure.update_annotations(font=dict(size=11))
    return _layout(figure, title, height=420)


def model_figure(view: Any) -> go.Figure:
    """The figure for ``losslab.networks.model_view``'s result (regions, fit or samples)."""
    if hasattr(view, "probabilities") and hasattr(view, "x1"):
        return decision_figure(view)
    if hasattr(view, "targets"):
        return fit_figure(view)
    return samples_figure(view)


def pca_figure(full: Any, grid: Grid) -> go.Figure:
    """The loss on the PCA plane (height log₁₀(f − f_min + ε)) with each optimizer's projected trajectory; the axis
    titles carry each direction's explained variance."""
    floor = float(grid.z.min())
    figure = go.Figure(go.Contour(
        x=grid.x, y=grid.y, z=log_height(grid.z, floor), colorscale=COLORSCALE, ncontours=24, showscale=False,
        name="loss", customdata=grid.z, hovertemplate="(%{x:.3g}, %{y:.3g})<br>f = %{customdata:.4g}<extra></extra>",
    ))
    for index, (name, run) in enumerate(full.runs.items()):
        style = trace_style(index)
        figure.add_trace(go.Scatter(
            x=run.coordinates[:, 0], y=run.coordinates[:, 1], mode="lines+markers", name=name,
            line=dict(color=style.colour, dash=style.dash, width=2.5), marker=dict(size=4),
            customdata=run.steps, hovertemplate=f"{name} · step %{{customdata}}<extra></extra>",
        ))
    start = next(iter(full.runs.values())).coordinates[0]
    figure.add_trace(go.Scatter(
        x=[start[0]], y=[start[1]], mode="markers", name="θ₀ (initialization)",
        marker=dict(symbol="circle", size=11, color="white", line=dict(color="black", width=2)),
    ))
    (xmin, xmax), (ymin, ymax) = full.surface.bounds
    first, second = 100 * full.explained_variance
    figure.update_xaxes(title=f"PCA direction 1 ({first:.1f}% of the variance)", range=[xmin, xmax])
    figure.update_yaxes(title=f"PCA direction 2 ({second:.1f}% of the variance)", range=[ymin, ymax])
    return _layout(figure, f"full-space training projected on the PCA plane · {first + second:.1f}% of the "
                           "iterates' variance in the picture", height=540)


def fullspace_curves_figure(full: Any, labels: Mapping[str, str] | None = None) -> go.Figure:
    """Train (solid) and test (dotted) loss per step of each optimizer's full-space run; ``labels``: the legend text
    per optimizer (e.g. ``optimizers.catalogue.legend_label``), else its name."""
    labels = labels or {}
    figure = go.Figure()
    for index, (name, run) in enumerate(full.runs.items()):
        colour = trace_style(index).colour
        steps = np.arange(len(run.train_loss))
        figure.add_trace(go.Scatter(x=steps, y=run.train_loss, mode="lines", legendgroup=name,
                                    name=labels.get(name) or legend_label(name, run),
                                    line=dict(color=colour, width=2.5)))
        figure.add_trace(go.Scatter(x=steps, y=run.test_loss, mode="lines", name=f"{name} test", legendgroup=name,
                                    line=dict(color=colour, width=2, dash="dot")))
    figure.update_xaxes(title="step k")
    figure.update_yaxes(title="loss", type="log")
    return _layout(figure, "full-space training: train loss (solid) and test loss (dotted)", height=420)


def projection_error_figure(full: Any) -> go.Figure:
    """Each recorded iterate's distance from the PCA plane ‖θₖ − P(θₖ)‖, relative to ‖θₖ − θ̄‖ (hover: absolute):
    what the plane's picture of the real trajectory leaves out."""
    figure = go.Figure()
    for index, (name, run) in enumerate(full.runs.items()):
        spread = np.linalg.norm(run.iterates - full.center, axis=1)
        relative = np.divide(run.off_plane, spread, out=np.zeros_like(run.off_plane), where=spread > 0)
        figure.add_trace(go.Scatter(
            x=run.steps, y=relative, mode="lines", name=name, customdata=run.off_plane,
            line=dict(color=trace_style(index).colour, dash=trace_style(index).dash, width=2.5),
            hovertemplate=f"{name} · step %{{x}}<br>‖θ − P(θ)‖ = %{{customdata:.3g}} "
                          "(%{y:.1%} of ‖θ − θ̄‖)<extra></extra>",
        ))
    figure.update_xaxes(title="step k")
    figure.update_yaxes(title="‖θₖ − P(θₖ)‖ / ‖θₖ − θ̄‖", rangemode="tozero")
    return _layout(figure, f"the {full.center.size:,}-parameter network: distance of its real iterates from the "
                           "PCA plane", height=420)
