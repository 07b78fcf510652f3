"""Live sliders in the browser: families of paths packed for the page, and the page that scrubs through them.

A live slider holds a *family*: one path per position of the slider (computed by ``losslab.live``). The browser gets
each family compactly: points clipped to the race's far box (``race.clip_to_view``), thinned to what the figure can
show (a point is kept when it leaves its predecessor's cell of a ``CELLS`` × ``CELLS`` lattice over the window: a
cell is about a pixel of the race drawn in a page's column; ``COARSER`` lattices where a family is over its byte
budget), and packed over the far box in uint16 quanta (1/65535 of 21 window widths: a
third of a pixel): each kept point as an int8 pair of quanta from the one before, or else an escape and an absolute
uint16 pair, and its step as a uint8 gap from the one before; base64 in JSON (3 bytes a point, plus 4 a
jump). The landscape never travels with them.
``live_race.js`` draws the race figure and one ``<input type=range>`` per slider; the exported HTML embeds it with
plotly.js, so the page works offline from ``file://``.
"""

from __future__ import annotations

import base64
import html
import json
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.offline
import plotly.utils

from .race import FAR, clip_to_view, last_visible
from .style import trace_style

CELLS = 600  # the thinning lattice's cells across the window (the race's plot area is about 600 pixels wide)
COARSER = (400, 250, 150, 100, 60)  # coarser lattices, tried in turn while a family is over its byte budget
QUANTA = 65535  # uint16 positions across the far box
MAX_DELTA = 127  # a kept point is an int8 pair of quanta from the one before, or else an absolute uint16 "jump"
ESCAPE = -128  # ... marked by this pair
MAX_GAP = 255  # kept points carry their step as a uint8 gap from the previous kept point (a longer gap keeps one)


@cache
def script() -> str:
    """``live_race.js``: the renderer the app's component and the exported page share."""
    return resources.files("plots").joinpath("live_race.js").read_text(encoding="utf-8")


def far_box(bounds: Any) -> list[float]:
    """[x0, y0, x1, y1]: the window grown by ``race.FAR`` window sizes, where paths are clipped."""
    (xmin, xmax), (ymin, ymax) = bounds
    width, height = xmax - xmin, ymax - ymin
    return [xmin - FAR * width, ymin - FAR * height, xmax + FAR * width, ymax + FAR * height]


def _b64(values: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def pack_family(points: np.ndarray, losses: np.ndarray, diverged_at: np.ndarray, reasons: np.ndarray,
                bounds: Any, max_bytes: int | None = None) -> dict[str, Any]:
    """A family's rows (``points`` (R, steps + 1, 2), their ``losses``, ``diverged_at``, ``reasons``) as the page
    takes them: thinned, packed, with each row's final loss and its ✕ position (the last point in the window before
    it diverged). Above ``max_bytes`` of packed paths, a coarser lattice (``COARSER``) thins them further. A family
    whose rows are all the same path (a schedule that sets ρₖ whatever ρ₀) is marked ``inert``."""
    rows, length = points.shape[:2]
    clipped = clip_to_view(points, bounds)
    for cells in (CELLS, *COARSER):
        packed = _pack(clipped, bounds, cells)
        if max_bytes is None or sum(len(packed[key]) for key in ("deltas", "jumps", "gaps")) <= max_bytes:
            break
    crosses = [None if d < 0 else [float(v) for v in last_visible(clipped[j, : d + 1], bounds)]
               for j, d in enumerate(diverged_at.tolist())]
    final = np.take_along_axis(losses, np.where(diverged_at >= 0, diverged_at, length - 1)[:, None], 1)[:, 0]
    return {
        **packed,
        "diverged": [int(d) for d in diverged_at],
        "reason": [str(r) for r in reasons],
        "final": [float(f"{v:.4g}") if np.isfinite(v) else None for v in final],
        "cross": crosses,
        "inert": bool(rows > 1 and (points == points[:1]).all()),
    }


def _pack(clipped: np.ndarray, bounds: Any, cells: int) -> dict[str, Any]:
    """Paths (R, steps + 1, 2), clipped to the far box, thinned on a ``cells`` × ``cells`` lattice and packed."""
    rows, length = clipped.shape[:2]
    (xmin, xmax), (ymin, ymax) = bounds
    cell = np.array([(xmax - xmin) / cells, (ymax - ymin) / cells])
    lattice = np.floor((clipped - np.array([xmin, ymin])) / cell).astype(np.int64)
    keep = np.ones((rows, length), dtype=bool)
    keep[:, 1:] = (lattice[:, 1:] != lattice[:, :-1]).any(axis=-1)
    keep[:, -1] = True  # the end of every path (its head), even within its predecessor's cell
    keep[:, ::MAX_GAP] = True  # (gaps fit a byte)
    box = np.array(far_box(bounds))
    quanta = np.rint((clipped - box[:2]) / (box[2:] - box[:2]) * QUANTA).astype(np.int64)[keep]  # (n, 2)
    counts = keep.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    kept_steps = np.broadcast_to(np.arange(length), (rows, length))[keep]
    gaps = np.diff(kept_steps, prepend=0)
    gaps[offsets[:-1]] = 0  # each row starts at step 0
    deltas = np.diff(quanta, axis=0, prepend=quanta[:1])
    jump = (np.abs(deltas) > MAX_DELTA).any(axis=1)
    jump[offsets[:-1]] = True  # each row's first point is absolute
    deltas[jump] = ESCAPE
    return {"deltas": _b64(deltas, "i1"), "jumps": _b64(quanta[jump], "<u2"), "gaps": _b64(gaps, "u1"),
            "offsets": _b64(offsets, "<u4"), "cells": cells}


def _index(figure: dict, predicate: Any) -> int:
    return next(i for i, trace in enumerate(figure["data"]) if predicate(trace))


def slider_spec(figure: dict, optimizer: str, key: str, symbol: str, label: str, values: np.ndarray, index: int,
                names: list[str], family: dict[str, Any]) -> dict[str, Any]:
    """One live slider as ``live_race.js`` takes it: where its optimizer's path, head and ✕ are in ``figure``
    (``plots.race_figure``'s trace order), and ``names``: the legend entry at each position."""
    def path(trace: dict) -> bool:  # an optimizer's path θ (not schedule-free's average x, ``meta`` "average")
        return trace.get("mode") == "lines" and bool(trace.get("legendgroup")) and trace.get("meta") != "average"

    paths = [trace.get("legendgroup") for trace in figure["data"] if path(trace)]
    return {
        "optimizer": optimizer, "key": key, "symbol": symbol, "label": label, "names": names,
        "values": [float(v) for v in values], "index": int(index),
        "colour": trace_style(paths.index(optimizer)).colour,
        "trace": _index(figure, lambda t: path(t) and t.get("legendgroup") == optimizer),
        "heads": _index(figure, lambda t: t.get("name") == "positions θₖ"),
        "head": paths.index(optimizer),
        "trace_cross": _index(figure, lambda t: t.get("name") == f"{optimizer} diverged"),
        "family": family,
    }


COMPACT = dict(height=500, margin=dict(l=50, r=10, t=70, b=10))  # a race in a page's column, its sliders below


def spec(figure: go.Figure | dict, bounds: Any, sliders: list[dict[str, Any]], figure_id: str,
         compact: bool = False, linked_lr: bool = False) -> dict[str, Any]:
    """What ``LiveRace.mount`` takes: the figure, the packing box and the sliders (``figure_id``: the figure's
    identity, so that a page redraws the chart only when it changed); ``compact``: the race drawn in a page's column
    (``COMPACT``: shorter), so that it, its live sliders and the curves beside it fit a screen; ``linked_lr``: one ρ
    drives every optimizer (Explore's "same lr for all"), so the ρ sliders move together."""
    figure = figure if isinstance(figure, dict) else figure.to_plotly_json()
    if compact:
        figure = {**figure, "layout": {**figure["layout"], **COMPACT}}
    return {"figure": figure, "box": far_box(bounds), "sliders": sliders, "figure_id": figure_id,
            "linked_lr": linked_lr}


STYLE = """
.live-race { font-family: sans-serif; }
.live-race-sliders { padding: 2px 8px; }
.live-optimizer { display: grid; grid-template-columns: 1fr 1fr; gap: 0 18px; }
.live-slider { display: grid; grid-template-columns: 8em 1fr; align-items: center; font-size: 13px; }
.live-slider label { font-weight: 600; }
.live-slider input { width: 100%; margin: 0; }
.live-slider output { grid-column: 2; font-size: 12px; color: #444; }
"""


def _json(value: Any) -> str:
    """JSON safe inside a <script> element: no <, > or & survives as itself (each is a \\u escape in a string)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, cls=plotly.utils.PlotlyJSONEncoder)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def live_html(live: dict[str, Any], title: str = "Loss Landscape Lab race") -> bytes:
    """One self-contained page (plotly.js and the live script embedded): the race with its live sliders, offline."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style>
<script>{plotly.offline.get_plotlyjs()}</script><script>{script()}</script></head>
<body><div id="race"></div>
<script>window.liveRace = LiveRace.mount(document.getElementById("race"), {_json(live)}, {{}});</script>
</body></html>
""".encode()
