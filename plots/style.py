"""One look for every figure: a colour-blind-safe palette, a dash and a marker per optimizer, labels."""

from __future__ import annotations

import html
from typing import Any, NamedTuple

# Okabe & Ito (2008), safe for the common colour-vision deficiencies; black is kept for markers.
# Yellow comes late: it is the one Okabe–Ito colour that is faint on a light background.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442", "#999999")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "solid", "dash")
MARKERS = ("circle", "square", "diamond", "triangle-up", "cross", "star", "hexagon", "pentagon")
FONT = dict(family="DejaVu Sans, Arial, sans-serif", size=13)



class TraceStyle(NamedTuple):
    colour: str
    dash: str
    marker: str


def trace_style(index: int) -> TraceStyle:
    """The style of the index-th optimizer in a figure (colour, dash and marker all differ)."""
    return TraceStyle(OKABE_ITO[index % len(OKABE_ITO)], DASHES[index % len(DASHES)], MARKERS[index % len(MARKERS)])


def format_value(value: float) -> str:
    """A number for a label or a table: 3 significant digits."""
    return f"{float(value):.3g}"


def legend_label(name: str, run: Any) -> str:
    """Legend text such as ``momentum (ρ=0.01, α=0.9)``: ``name`` and what the run says of its settings (a
    trajectory's ``legend``, written by ``optimizers`` in the lecture's notation); just ``name`` without one."""
    legend = getattr(run, "legend", "")
    return f"{name} ({legend})" if legend else name


def surface_title(surface: Any) -> str:
    """``quadratic (condition = 50, angle = 30)``, ``network (dataset = moons, hidden = 16×16, …)``."""
    params = getattr(surface, "params", {}) or {}
    name = getattr(surface, "name", type(surface).__name__)
    if not params:
        return name
    return f"{name} (" + ", ".join(f"{key} = {_parameter_text(value)}" for key, value in params.items()) + ")"


def _parameter_text(value: Any) -> str:
    """A number as ``%g``, widths as ``16×16``, a choice or a formula as itself, HTML-escaped: plotly draws
    ``<a href>``, ``<b>`` and entities in titles, and a title quotes what a user typed."""
    if isinstance(value, (tuple, list)):
        return "×".join(_parameter_text(v) for v in value)
    return html.escape(value) if isinstance(value, str) else f"{value:g}"
