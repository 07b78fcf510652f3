"""One look for every figure: a colour-blind-safe palette, a dash and a marker per optimizer, labels."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

# Okabe & Ito (2008), safe for the common colour-vision deficiencies; black is kept for markers.
# Yellow comes late: it is the one Okabe–Ito colour that is faint on a light background.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442", "#999999")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "solid", "dash")
MARKERS = ("circle", "square", "diamond", "triangle-up", "cross", "star", "hexagon", "pentagon")
FONT = dict(family="DejaVu Sans, Arial, sans-serif", size=13)

GREEK = {"lr": "ρ", "momentum": "α", "alpha": "ρ_r", "betas": "β", "eps": "ε", "weight_decay": "λ",
         "dampening": "τ", "lr_decay": "ρ_decay"}


LABELLED = {"momentum": ("momentum",), "nesterov": ("momentum",), "rmsprop": ("alpha",), "adam": ("betas",),
            "adamw": ("betas", "weight_decay")}  # what a legend names besides ρ


class TraceStyle(NamedTuple):
    colour: str
    dash: str
    marker: str


def trace_style(index: int) -> TraceStyle:
    """The style of the index-th optimizer in a figure (colour, dash and marker all differ)."""
    return TraceStyle(OKABE_ITO[index % len(OKABE_ITO)], DASHES[index % len(DASHES)], MARKERS[index % len(MARKERS)])


def format_value(value: Any) -> str:
    """A hyper-parameter value for a label: 3 significant digits, tuples as (a, b)."""
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    array = np.asarray(value, dtype=float)
    if array.ndim:
        return "per-row"
    return f"{float(array):.3g}"


def optimizer_label(name: str, hyperparameters: dict[str, Any]) -> str:
    """Legend text such as ``momentum (ρ=0.01, α=0.9)``."""
    shown = ["lr", *LABELLED.get(name, ())]
    parts = [f"{GREEK[key]}={format_value(hyperparameters[key])}" for key in shown if key in hyperparameters]
    return f"{name} ({', '.join(parts)})" if parts else name


def surface_title(surface: Any) -> str:
    """``quadratic (condition = 50, angle = 30)``, ``network (dataset = moons, hidden = 16×16, …)``."""
    params = getattr(surface, "params", {}) or {}
    name = getattr(surface, "name", type(surface).__name__)
    if not params:
        return name
    return f"{name} (" + ", ".join(f"{key} = {_parameter_text(value)}" for key, value in params.items()) + ")"


def _parameter_text(value: Any) -> str:
    """A number as ``%g``, widths as ``16×16``, a choice as itself."""
    if isinstance(value, (tuple, list)):
        return "×".join(_parameter_text(v) for v in value)
    return value if isinstance(value, str) else f"{value:g}"
