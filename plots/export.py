"""Exports that need no browser: a self-contained interactive HTML page and the trajectories as CSV.

Static images are in ``plots.static`` (kaleido), GIF/MP4 in ``plots.animation``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

CSV_COLUMNS = ("optimizer", "step", "x", "y", "loss", "lr", "diverged")


def html_bytes(figure: go.Figure | dict) -> bytes:
    """The figure as one HTML file that works offline: plotly.js embedded (no external script), the animation
    and its controls kept, not playing on load."""
    text = pio.to_html(figure, include_plotlyjs=True, full_html=True, auto_play=False, include_mathjax=False,
                       validate=False, config={"displaylogo": False})
    return text.encode("utf-8")


def _number(value: float) -> str:
    """The shortest text that reads back as the same float (``repr``), so the CSV round-trips exactly."""
    return repr(float(value))


def trajectories_csv(trajectories: Mapping[str, Any]) -> str:
    """One row per optimizer × step k: θₖ = (x, y), f(θₖ), ρₖ (the learning rate of the step from θₖ to θₖ₊₁,
    empty after the last iterate) and whether the run had diverged by step k; where a race holds them, the gradient
    evaluations that reached θₖ (SAM, LBFGS) and the averaged iterate (schedule-free's x), empty for the others."""
    counted = [name for name, t in trajectories.items() if getattr(t, "evaluations", None) is not None]
    averaged = [name for name, t in trajectories.items() if getattr(t, "averaged", None) is not None]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *(["evaluations"] if counted else []), *(["avg_x", "avg_y"] if averaged else [])])
    for name, trajectory in trajectories.items():
        points, losses, lrs = trajectory.points[0], trajectory.losses[0], trajectory.lrs[0]
        diverged_at = int(trajectory.diverged_at[0])
        for k in range(len(points)):
            row = [name, k, _number(points[k, 0]), _number(points[k, 1]), _number(losses[k]),
                   _number(lrs[k]) if k < len(lrs) else "", "true" if 0 <= diverged_at <= k else "false"]
            if counted:
                row.append(str(int(trajectory.evaluations[0, k])) if name in counted else "")
            if averaged:
                row += [_number(v) for v in trajectory.averaged[0, k]] if name in averaged else ["", ""]
            writer.writerow(row)
    return buffer.getvalue()


def rows_csv(rows: list[Mapping[str, Any]]) -> str:
    """Table rows (dicts with the same keys) as CSV: floats written to read back exactly, booleans as true/false."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if rows:
        writer.writerow(list(rows[0]))
    for row in rows:
        writer.writerow(["true" if v is True else "false" if v is False else _number(v) if isinstance(v, float)
                         else v for v in row.values()])
    return buffer.getvalue()
