"""The race figure: trajectories animated over the landscape, with play/pause, speed and a step slider.

The landscape is a layout image and its isolines a layout shape. Trace order: 0 minima,
1 start, [2 gradient field], then one path trace per optimizer and one trace of their
current positions (the only traces frames touch), then one ✕ trace per optimizer (empty unless its run
diverged) and last
the invisible click grid (clicking the contour selects one of its points: a contour itself
does not select, NOTES §7). Nothing of the landscape is ever in a frame.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go

from .landscape import Grid, colour_image, evaluate_grid, isoline_path, log_levels, png_data_uri
from .style import FONT, legend_label, surface_title, trace_style

MAX_FRAMES = 200
ISOLINE_RESOLUTION = 100
CLICK_GRID = 41  # points a click can select (invisible; plotly draws only one of them: ``maxdisplayed``)
SPEEDS = {"0.5×": 160, "1×": 80, "2×": 40, "4×": 20}  # milliseconds per frame
MAX_FRAME_POINTS = 150_000  # path points over all frames; beyond it intermediate frames thin their paths
MIN_FRAME_PATH = 50
FAR = 10.0  # paths are clipped to the window grown by this many window sizes (diverged runs fly far)


def _scatter(**properties: Any) -> dict:
    return {"type": "scatter", **properties}


def _path_trace(prefix: np.ndarray, cap: int) -> dict:
    """A frame's path θ₀…θₖ in float32, thinned to at most ``cap`` points (θₖ kept) so long runs stay light."""
    if len(prefix) > cap:
        stride = -(-len(prefix) // cap)
        prefix = np.concatenate([prefix[:-1:stride], prefix[-1:]])
    return _scatter(x=typed_array(prefix[:, 0], "f4"), y=typed_array(prefix[:, 1], "f4"))  # 7 digits: a pixel


def frame_steps(steps: int, frames: int) -> np.ndarray:
    """At most ``frames`` step indices from 0 to ``steps`` (both included), evenly spread."""
    if not 1 <= int(frames) <= MAX_FRAMES:
        raise ValueError(f"Invalid frames value: {frames!r} (must be an integer in [1, {MAX_FRAMES}])")
    return np.unique(np.linspace(0, steps, min(int(frames), steps + 1)).round().astype(int))


def clip_to_view(points: np.ndarray, bounds) -> np.ndarray:
    (xmin, xmax), (ymin, ymax) = bounds
    width, height = xmax - xmin, ymax - ymin
    low = np.array([xmin - FAR * width, ymin - FAR * height])
    high = np.array([xmax + FAR * width, ymax + FAR * height])
    return np.clip(points, low, high)


def typed_array(values: np.ndarray, dtype: str = "f8") -> dict:
    """An array as plotly's typed-array spec (base64): cheap to copy and to serialize."""
    data = np.ascontiguousarray(values, dtype=f"<{dtype}").tobytes()
    return {"dtype": dtype, "bdata": base64.b64encode(data).decode("ascii")}


class LandscapeLayer(NamedTuple):
    """What the landscape contributes to a figure, computed once per surface and resolution."""

    grid: Grid
    isolines: str  # SVG path of the log-spaced isolines in data coordinates
    image: str  # data URI of the colour-mapped PNG


def landscape_layer(surface: Any, resolution: int = 200,
                    progress: Callable[[float], None] | None = None) -> LandscapeLayer:
    """The grid, its log-spaced isolines and its colour image (reusable across races on one surface);
    ``progress(fraction)`` is called as the grid is evaluated (``evaluate_grid``)."""
    grid = evaluate_grid(surface, resolution, progress)
    stride = -(-len(grid.x) // ISOLINE_RESOLUTION)  # isolines from a coarser grid: fewer path points to draw
    coarse = Grid(grid.x[::stride], grid.y[::stride], grid.z[::stride, ::stride])
    return LandscapeLayer(grid, isoline_path(coarse, log_levels(grid)), png_data_uri(colour_image(grid)))


def last_visible(points: np.ndarray, bounds) -> np.ndarray:
    """The last of ``points`` inside the window (where a diverging run leaves the picture), else the start."""
    (xmin, xmax), (ymin, ymax) = bounds
    inside = (points[:, 0] >= xmin) & (points[:, 0] <= xmax) & (points[:, 1] >= ymin) & (points[:, 1] <= ymax)
    return points[np.flatnonzero(inside)[-1]] if inside.any() else np.clip(points[0], [xmin, ymin], [xmax, ymax])


def _landscape_traces(surface: Any, layer: LandscapeLayer) -> list[dict]:
    traces = []
    minima = np.asarray(getattr(surface, "minima", ()) or np.empty((0, 2)), dtype=float).reshape(-1, 2)
    traces.append(_scatter(
        x=minima[:, 0], y=minima[:, 1], mode="markers", name="minimum θ*",
        marker=dict(symbol="star", size=15, color="white", line=dict(color="black", width=1.5)),
        hovertemplate="minimum (%{x:.4g}, %{y:.4g})<extra></extra>", showlegend=len(minima) > 0,
    ))
    return traces


def _gradient_field(surface: Any, count: int = 21) -> dict:
    """Arrows of −∇f/‖∇f‖ on a count × count grid, as line segments with arrow-head ticks."""
    (xmin, xmax), (ymin, ymax) = surface.bounds
    gx, gy = np.meshgrid(np.linspace(xmin, xmax, count + 2)[1:-1], np.linspace(ymin, ymax, count + 2)[1:-1])
    with np.errstate(all="ignore"):
        grad = np.asarray(surface.grad(np.stack([gx, gy], axis=-1)), dtype=float)
        norm = np.linalg.norm(grad, axis=-1, keepdims=True)
        direction = np.where(norm > 0, -grad / np.where(norm > 0, norm, 1.0), 0.0)
    length = 0.4 * min((xmax - xmin), (ymax - ymin)) / count
    tail = np.stack([gx, gy], axis=-1)
    tip = tail + length * direction
    back = -direction * 0.35 * length
    left = tip + back + 0.25 * length * np.stack([-direction[..., 1], direction[..., 0]], axis=-1)
    right = tip + back - 0.25 * length * np.stack([-direction[..., 1], direction[..., 0]], axis=-1)
    xs: list = []
    ys: list = []
    for a, b, c, d in zip(tail.reshape(-1, 2), tip.reshape(-1, 2), left.reshape(-1, 2), right.reshape(-1, 2)):
        xs += [a[0], b[0], c[0], None, b[0], d[0], None]
        ys += [a[1], b[1], c[1], None, b[1], d[1], None]
    return _scatter(x=xs, y=ys, mode="lines", line=dict(color="rgba(255,255,255,0.8)", width=1),
                      hoverinfo="skip", name="−∇f direction", showlegend=True)


def _click_grid(bounds) -> dict:
    (xmin, xmax), (ymin, ymax) = bounds
    gx, gy = np.meshgrid(np.linspace(xmin, xmax, CLICK_GRID), np.linspace(ymin, ymax, CLICK_GRID))
    # hover and click-to-select scan every point; only the drawn ones cost the browser SVG nodes
    return _scatter(x=typed_array(gx.ravel(), "f4"), y=typed_array(gy.ravel(), "f4"), mode="markers",
                    name="click-grid", marker=dict(size=9, opacity=0, maxdisplayed=1), hoverinfo="none",
                    showlegend=False)


def race_figure(
    surface: Any,
    trajectories: Mapping[str, Any],
    *,
    frames: int = 60,
    resolution: int = 200,
    gradient_field: bool = False,
    title: str | None = None,
    layer: LandscapeLayer | None = None,
) -> go.Figure:
    """The race: the landscape with each optimizer's path, animated over at most ``frames`` frames.

    ``trajectories`` maps a name to an ``optimizers.Trajectory`` (its first row is drawn, and its ``averaged``
    iterate dash-dotted where it has one: schedule-free's x). The figure opens showing the whole race; Play replays it,
    the slider scrubs through steps.
    """
    if not trajectories:
        raise ValueError("Invalid trajectories value: {} (give at least one trajectory)")
    layer = layer if layer is not None else landscape_layer(surface, resolution)
    (xmin, xmax), (ymin, ymax) = surface.bounds
    traces = _landscape_traces(surface, layer)
    first = next(iter(trajectories.values()))
    start = first.points[0, 0]
    traces.append(_scatter(
        x=[start[0]], y=[start[1]], mode="markers", name=f"start θ₀ ({start[0]:.3g}, {start[1]:.3g})",
        marker=dict(symbol="circle", size=11, color="white", line=dict(color="black", width=2)),
    ))
    if gradient_field:
        traces.append(_gradient_field(surface))

    steps = first.points.shape[1] - 1
    shown = frame_steps(steps, frames)
    styles = [trace_style(index) for index in range(len(trajectories))]
    paths = {name: clip_to_view(t.points[0], surface.bounds) for name, t in trajectories.items()}
    animated = list(range(len(traces), len(traces) + len(paths) + 1))  # the paths, then the heads
    for style, (name, trajectory) in zip(styles, trajectories.items()):
        points = paths[name]
        traces.append(_scatter(
            x=points[:, 0], y=points[:, 1], mode="lines", legendgroup=name,
            name=legend_label(name, trajectory),
            line=dict(color=style.colour, dash=style.dash, width=2.5),
            customdata=np.arange(len(points)),
            hovertemplate=f"{name}<br>step %{{customdata}}<br>θ = (%{{x:.4g}}, %{{y:.4g}})<extra></extra>",
        ))
    traces.append(_scatter(
        x=[p[-1, 0] for p in paths.values()], y=[p[-1, 1] for p in paths.values()], mode="markers",
        showlegend=False, hoverinfo="skip", name="positions θₖ",
        marker=dict(symbol=[s.marker for s in styles], color=[s.colour for s in styles], size=13,
                    line=dict(color="black", width=1.5)),
    ))
    for style, (name, trajectory) in zip(styles, trajectories.items()):  # one ✕ trace each, empty if none
        step = int(trajectory.diverged_at[0])  # (a live slider fills it when its path diverges)
        where = last_visible(paths[name][: step + 1], surface.bounds) if step >= 0 else None
        traces.append(_scatter(
            x=[] if where is None else [where[0]], y=[] if where is None else [where[1]], mode="markers+text",
            legendgroup=name, showlegend=False,
            marker=dict(symbol="x", size=16, color=style.colour, line=dict(color="black", width=1)),
            text=[] if where is None else [f"{name} diverged at step {step}"],
            textposition="bottom center" if where is None or where[1] > (ymin + ymax) / 2 else "top center",
            textfont=dict(color=style.colour, size=13), name=f"{name} diverged",
            customdata=[] if where is None else [f"{name}: {trajectory.diverged_reason[0]} at step {step}"],
            hovertemplate="%{customdata}<extra></extra>",
        ))
    averages = {name: clip_to_view(t.averaged[0], surface.bounds) for name, t in trajectories.items()
                if getattr(t, "averaged", None) is not None}
    animated += list(range(len(traces), len(traces) + len(averages)))
    for style, name in zip(styles, trajectories):  # schedule-free's average x beside its θ, dash-dotted
        if name in averages:
            points = averages[name]
            traces.append(_scatter(
                x=points[:, 0], y=points[:, 1], mode="lines", legendgroup=name, name=f"{name}: average x",
                meta="average", line=dict(color=style.colour, dash="longdashdot", width=1.5), opacity=0.85,
                customdata=np.arange(len(points)),
                hovertemplate=f"{name} average<br>step %{{customdata}}<br>x = (%{{x:.4g}}, %{{y:.4g}})<extra></extra>",
            ))
    traces.append(_click_grid(surface.bounds))

    drawn = [*paths.values(), *averages.values()]
    cap = max(MIN_FRAME_PATH, MAX_FRAME_POINTS // (len(shown) * len(drawn)))
    frames = [
        dict(name=str(k), traces=animated, data=[
            *(_path_trace(p[: k + 1], cap if k < steps else len(p)) for p in paths.values()),
            _scatter(x=[p[k, 0] for p in paths.values()], y=[p[k, 1] for p in paths.values()]),
            *(_path_trace(p[: k + 1], cap if k < steps else len(p)) for p in averages.values()),
        ])
        for k in shown
    ]
    layout = dict(
        title=dict(text=title or f"{surface_title(surface)} · {steps} steps", x=0.01, y=0.98),
        font=FONT,
        xaxis=dict(range=[xmin, xmax], autorange=False, title="θ₁", showgrid=False, zeroline=False,
                   constrain="domain"),
        yaxis=dict(range=[ymin, ymax], autorange=False, title="θ₂", showgrid=False, zeroline=False,
                   scaleanchor="x", scaleratio=1, constrain="domain"),
        images=[dict(source=layer.image, xref="x", yref="y", x=xmin, y=ymax, sizex=xmax - xmin, sizey=ymax - ymin,
                     sizing="stretch", layer="below")],
        shapes=[dict(type="path", path=layer.isolines, xref="x", yref="y", layer="between", name="isolines",
                     line=dict(color="rgba(255,255,255,0.45)", width=1))],
        plot_bgcolor="white",
        legend=dict(orientation="v", yanchor="top", y=1, x=1.02, xanchor="left"),
        margin=dict(l=60, r=20, t=90, b=20),
        height=680,
        clickmode="event+select",
        dragmode="pan",
        hovermode="closest",
        **_controls(shown),
    )
    return go.Figure(data=traces, layout=layout, frames=frames)


def _controls(shown: np.ndarray) -> dict:
    """Play/pause and speed buttons and a step slider (plotly's animation pattern, fixed axes)."""

    def animate(duration: int, from_current: bool) -> dict:
        return dict(frame=dict(duration=duration, redraw=False), transition=dict(duration=0),
                    mode="immediate", fromcurrent=from_current)

    buttons = [dict(label="▶ Play", method="animate", args=[None, animate(SPEEDS["1×"], False)]),
               dict(label="❚❚ Pause", method="animate", args=[[None], animate(0, True)])]
    buttons += [dict(label=label, method="animate", args=[None, animate(duration, True)])
                for label, duration in SPEEDS.items()]
    return dict(
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0, y=1.01, xanchor="left",
                          yanchor="bottom", pad=dict(t=0, r=6), buttons=buttons)],
        sliders=[dict(
            active=len(shown) - 1,
            currentvalue=dict(prefix="step ", font=dict(size=13)),
            font=dict(color="rgba(0,0,0,0)"),  # the current step is shown above; per-tick labels would overlap
            pad=dict(t=40, b=0),
            steps=[dict(label=str(k), method="animate", args=[[str(k)], animate(0, False)]) for k in shown],
        )],
    )
