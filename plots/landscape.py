"""The landscape drawn once per surface: a value grid, log-spaced levels, a colour image and isolines.

Plotly's ``Contour``/``Heatmap`` traces vanish when an animation plays (plotly.js#4491), so the
landscape is a layout image (a PNG of the colour-mapped grid) plus its isolines as one layout
shape path (NOTES §4 draws them as a scatter trace; a shape is cheaper and never animates).
The same image serves static exports and animation frames.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

import contourpy
import numpy as np
import plotly.colors
from PIL import Image

# A muted slate-to-white scale: every optimizer colour (plots.style) stays readable on it.
COLORSCALE = [[0.0, "#1d2333"], [0.35, "#4a5873"], [0.7, "#a3b1c6"], [1.0, "#f4f6f9"]]
MAX_RESOLUTION = 400
PROGRESS_BLOCKS = 10  # row blocks of a grid evaluated with a progress report


class Grid(NamedTuple):
    """f on a regular grid: ``z[i, j] = f(x[j], y[i])``."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray


def evaluate_grid(surface: Any, resolution: int = 200, progress: Callable[[float], None] | None = None) -> Grid:
    """The surface on a resolution × resolution grid over its bounds: one vectorized call, or with ``progress``
    one call per block of rows, reporting the fraction done after each (for a slow surface: a network)."""
    if not 2 <= int(resolution) <= MAX_RESOLUTION:
        raise ValueError(f"Invalid resolution value: {resolution!r} (must be an integer in [2, {MAX_RESOLUTION}])")
    (xmin, xmax), (ymin, ymax) = surface.bounds
    x, y = np.linspace(xmin, xmax, int(resolution)), np.linspace(ymin, ymax, int(resolution))
    with np.errstate(all="ignore"):
        points = np.stack(np.meshgrid(x, y), axis=-1)
        if progress is None:
            z = np.asarray(surface.value(points), dtype=np.float64)
        else:
            blocks = np.array_split(np.arange(len(y)), min(PROGRESS_BLOCKS, len(y)))
            z = np.empty(points.shape[:2])
            for done, rows in enumerate(blocks, start=1):
                z[rows] = np.asarray(surface.value(points[rows]), dtype=np.float64)
                progress(done / len(blocks))
    finite = np.isfinite(z)
    if not finite.all():  # an overflow somewhere in the window: draw it at the highest finite value
        z = np.where(finite, z, np.max(z[finite]) if finite.any() else 0.0)
    return Grid(x, y, z)


def log_height(z: np.ndarray, floor: float) -> np.ndarray:
    """log₁₀(f − floor + ε): the height that makes ravines and plateaus visible at once."""
    span = float(np.max(z) - floor) if np.size(z) else 1.0
    epsilon = max(span, 1e-12) * 1e-6
    with np.errstate(all="ignore"):
        return np.log10(np.maximum(z - floor, 0.0) + epsilon)


def log_levels(grid: Grid, count: int = 24) -> np.ndarray:
    """Isoline levels spaced evenly in log₁₀(f − f_min) between the grid's 0.5 % and 97 % quantiles."""
    floor = float(grid.z.min())
    gaps = grid.z - floor
    positive = gaps[gaps > 0]
    if positive.size == 0:
        return np.array([])
    low = max(float(np.quantile(positive, 0.005)), float(positive.max()) * 1e-9)
    high = float(np.quantile(positive, 0.97))
    if high <= low:
        return floor + np.array([low])
    return floor + np.geomspace(low, high, count)


@lru_cache(maxsize=1)
def colour_table() -> np.ndarray:
    """256 RGB colours sampled from COLORSCALE (the same colours plotly draws for it)."""
    samples = plotly.colors.sample_colorscale(COLORSCALE, np.linspace(0, 1, 256).tolist(), colortype="tuple")
    return np.round(np.asarray(samples) * 255).astype(np.uint8)


def colour_image(grid: Grid) -> np.ndarray:
    """(H, W, 3) uint8 RGB of the log height, row 0 at the top (y max) as an image expects."""
    height = log_height(grid.z, float(grid.z.min()))
    low, high = float(height.min()), float(height.max())
    scaled = (height - low) / (high - low) if high > low else np.zeros_like(height)
    return colour_table()[np.round(scaled * 255).astype(np.int64)][::-1]


def png_data_uri(rgb: np.ndarray) -> str:
    """A PNG image as a ``data:`` URI (self-contained, works offline and in exports)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def isoline_path(grid: Grid, levels: np.ndarray) -> str:
    """The isolines as one SVG path in data coordinates (``M x,y L x,y ... M ...``), drawn as a layout shape.

    A single string is cheap for plotly to validate, copy and send, and a shape is never part of
    an animation frame.
    """
    generator = contourpy.contour_generator(grid.x, grid.y, grid.z, line_type="Separate")
    commands = []
    for level in levels:
        for segment in generator.lines(float(level)):
            coordinates = [f"{x:.5g},{y:.5g}" for x, y in segment]
            commands.append("M" + "L".join(coordinates))
    return "".join(commands)
