"""Static images of any figure (PNG, SVG, PDF) through kaleido, sized by a preset for where the image goes.

kaleido drives a headless chromium (Debian's ``/usr/bin/chromium``). Launching it costs ~3 s, so one
browser is started per process on the first export and reused (``kaleido.start_sync_server``); MathJax
is off, so figure text is Unicode, never LaTeX. The server answers one request at a time through a
queue shared by every caller, so requests from several threads (Streamlit sessions) hold a lock.

A static image has no animation controls (play/pause buttons, the step slider) and fixed margins:
the plot area is then known in pixels (``plot_box``), which the animation frames rely on.
"""

from __future__ import annotations

import atexit
import copy
import math
import threading
import warnings
from typing import NamedTuple

import plotly.graph_objects as go

IMAGE_FORMATS = ("png", "svg", "pdf")
MAX_SCALE = 4
_LOCK = threading.Lock()
_STOP_AT_EXIT: list = []  # holds _stop_server once it is registered (once, after the first image)
_CHAR_WIDTH = 0.62  # average glyph width of DejaVu Sans, in font sizes
_LEGEND_ROW = 24  # pixels per legend row at font size 13


class Preset(NamedTuple):
    """Where an export goes: its size in layout pixels (CSS px) and where the legend sits."""

    width: int
    height: int
    legend: str  # "right": beside the plot, "top": rows above it
    description: str


PRESETS = {
    "slide": Preset(1280, 720, "right", "a 16:9 slide (1280 × 720 px at scale 1)"),
    "paper": Preset(560, 620, "top", "a paper column (3.5 in at 160 px/in; scale 2–4 for print)"),
    "square": Preset(800, 800, "top", "a square (800 × 800 px at scale 1)"),
}


class PlotBox(NamedTuple):
    """The plot area of a static figure in layout pixels: left, top, width, height (y grows downwards)."""

    left: float
    top: float
    width: float
    height: float


def check_preset(preset: str) -> Preset:
    if preset not in PRESETS:
        raise ValueError(f"Invalid preset value: {preset!r} (must be one of {', '.join(PRESETS)})")
    return PRESETS[preset]


def check_scale(scale: float) -> float:
    """Scale 1–4 (pixels per layout pixel); a number, not NaN."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"Invalid scale value: {scale!r} (must be a number in [1, {MAX_SCALE}])")
    return float(scale)


def ensure_server() -> None:
    """Start the process-wide kaleido browser once (a no-op when it runs); stopped at exit by kaleido."""
    import kaleido

    with _LOCK:
        if not kaleido._global_server.is_running():
            kaleido.start_sync_server(mathjax=False, silence_warnings=True)


def _legend_labels(figure: dict) -> list[str]:
    return [str(trace.get("name", "")) for trace in figure.get("data", [])
            if trace.get("showlegend", True) is not False and trace.get("name")]


def _margins(figure: dict, preset: Preset) -> dict[str, int]:
    """Margins that hold the title, the legend and the axis titles (computed, so the plot box is known)."""
    labels = _legend_labels(figure)
    font = (figure.get("layout", {}).get("font") or {}).get("size", 13)
    item = [40 + _CHAR_WIDTH * font * len(label) for label in labels]  # symbol + text + gap
    margins = {"l": 70, "r": 24, "t": 60, "b": 56}
    if preset.legend == "right" and labels:
        margins["r"] = int(min(max(item) + 24, preset.width * 0.4))
        ratio = _aspect(figure.get("layout", {}))
        if ratio:  # equal units: centre the plot and keep the legend beside it, not at the far edge
            spare = preset.width - margins["l"] - margins["r"] - (preset.height - margins["t"] - margins["b"]) / ratio
            if spare > 0:
                margins["l"] += int(spare // 2)
                margins["r"] += int(spare - spare // 2)
    elif labels:
        usable = preset.width - margins["l"] - margins["r"]
        rows, used = 1, 0.0
        for width in item:
            if used and used + width > usable:
                rows, used = rows + 1, 0.0
            used += width
        margins["t"] += rows * _LEGEND_ROW + 6
    return margins


def _aspect(layout: dict) -> float | None:
    """Height / width of one data unit box when the y axis is anchored to x (equal units), else None."""
    if (layout.get("yaxis") or {}).get("scaleanchor") != "x":
        return None
    xrange, yrange = layout["xaxis"]["range"], layout["yaxis"]["range"]
    return (yrange[1] - yrange[0]) / (xrange[1] - xrange[0]) * layout["yaxis"].get("scaleratio", 1)


def _invisible(trace: dict) -> bool:
    """A trace that draws nothing (the race's click grid: markers of opacity 0): left out of still images."""
    marker = trace.get("marker") or {}
    return trace.get("mode") == "markers" and marker.get("opacity") == 0


def static_figure(figure: go.Figure | dict, preset: str = "slide") -> dict:
    """The figure as a plain dict for a still image: no frames, buttons, sliders or invisible traces; the preset's
    size and margins."""
    chosen = check_preset(preset)
    source = figure if isinstance(figure, dict) else figure.to_dict()
    plain = {key: copy.deepcopy(value) for key, value in source.items() if key != "frames"}
    plain["data"] = [trace for trace in plain.get("data", []) if not _invisible(trace)]
    layout = plain.setdefault("layout", {})
    for key in ("updatemenus", "sliders"):
        layout.pop(key, None)
    margins = _margins(plain, chosen)
    layout.update(width=chosen.width, height=chosen.height, margin=dict(**margins, pad=0, autoexpand=False),
                  autosize=False)
    legend = dict(layout.get("legend") or {})
    if chosen.legend == "right":
        legend.update(orientation="v", x=1.0, xanchor="left", y=1.0, yanchor="top", xref="paper")
    else:
        legend.update(orientation="h", x=0.0, xanchor="left", y=1.0 + 8 / chosen.height, yanchor="bottom",
                      xref="paper",
                      yref="paper")
    layout["legend"] = legend
    title = dict(layout.get("title") or {})
    if title:
        title.update(x=0.01, xanchor="left", y=1.0 - 8 / chosen.height, yanchor="top", yref="container")
        layout["title"] = title
    return plain


def plot_box(figure: dict) -> PlotBox:
    """Where a ``static_figure`` draws its x/y axes, in layout pixels.

    Within the margins, an x axis with ``scaleanchor`` (equal units on both axes) and ``constrain="domain"``
    shrinks the longer side and centres it, as plotly does (``constraintoward`` defaults to the centre).
    """
    layout = figure["layout"]
    margin = layout["margin"]
    left, top = margin["l"], margin["t"]
    width = layout["width"] - margin["l"] - margin["r"]
    height = layout["height"] - margin["t"] - margin["b"]
    ratio = _aspect(layout)
    if ratio:
        if height > width * ratio:
            top += (height - width * ratio) / 2
            height = width * ratio
        else:
            left += (width - height / ratio) / 2
            width = height / ratio
    return PlotBox(left, top, width, height)


def image_bytes(figure: go.Figure | dict, fmt: str, preset: str = "slide", scale: float = 1.0) -> bytes:
    """``figure`` as PNG, SVG or PDF bytes at a preset size; PNG has ``scale`` × the preset's pixels."""
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"Invalid format value: {fmt!r} (must be one of {', '.join(IMAGE_FORMATS)})")
    scale = check_scale(scale)
    return render(static_figure(figure, preset), fmt, scale)


def render(plain: dict, fmt: str, scale: float = 1.0) -> bytes:
    """kaleido's image of a plain figure dict (its own width and height), on the shared browser."""
    import plotly.io as pio

    ensure_server()
    layout = plain["layout"]
    with _LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The kopts argument is ignored")
        image = pio.to_image(plain, format=fmt, width=layout["width"], height=layout["height"],
                             scale=scale if fmt == "png" else 1, validate=False)
        if not _STOP_AT_EXIT:
            _STOP_AT_EXIT.append(atexit.register(_stop_server))
    return image


def _stop_server() -> None:
    """At exit, the browser closed first: registered after its profile folder exists, so this runs before the
    folder's own finalizer (atexit runs last-registered first), which otherwise could delete it under a chromium
    still writing there (``OSError: Directory not empty: 'Default'`` printed at a CLI's exit, now and then)."""
    import kaleido

    if kaleido._global_server.is_running():
        kaleido.stop_sync_server(silence_warnings=True)


def pixel_size(preset: str, scale: float) -> tuple[int, int]:
    """The PNG's pixel size for a preset and a scale (what kaleido produces)."""
    chosen, scale = check_preset(preset), check_scale(scale)
    return math.ceil(chosen.width * scale), math.ceil(chosen.height * scale)
