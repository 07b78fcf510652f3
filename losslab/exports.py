"""Every export of a race, one code path for the app and the ``losslab`` command line.

>>> from losslab import exports, race
>>> config = race.RaceConfig()
>>> png = exports.export_race(config, "png", exports.ExportSettings(preset="paper", scale=2))
>>> exports.write_atomic("race.png", png)

``export_race`` runs the race (or takes the trajectories the caller already has) and returns the bytes
of one format: png/svg/pdf (kaleido, ``plots.static``), html (self-contained, animated, with the live sliders of
``losslab.live``: it works offline from ``file://``), gif/mp4
(``plots.animation``), csv (one row per optimizer × step) or json (``config_io``: re-imports bit for bit).
``write_atomic`` writes through a temporary file and a rename, so a failed write leaves no partial file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import plotly.graph_objects as go

import plots
import plots.live
from plots import animation, static
from plots.export import html_bytes, trajectories_csv

from . import config_io, live
from .race import RaceConfig, run_race

MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "html": "text/html",
        "gif": "image/gif", "mp4": "video/mp4", "csv": "text/csv", "json": "application/json"}
FORMATS = tuple(MIME)
FIGURE_FORMATS = ("png", "svg", "pdf", "html")  # what any figure exports to; a race also to gif, mp4, csv, json


@dataclass(frozen=True)
class ExportSettings:
    """How an export looks: the size preset (``plots.static.PRESETS``), the pixel scale (PNG 1–4; GIF/MP4 up to
    ``animation.MAX_PIXELS`` per frame) and, for GIF/MP4, the frame count and frames per second."""

    preset: str = "slide"
    scale: float = 1.0
    frames: int = 60
    fps: float = 15.0

    def validate(self, fmt: str) -> ExportSettings:
        """Raise ``ValueError`` naming the first setting that ``fmt`` cannot use."""
        check_format(fmt)
        static.check_preset(self.preset)
        static.check_scale(self.scale)
        if fmt in animation.ANIMATION_FORMATS:
            animation.check_animation(self.frames, self.fps, self.preset, self.scale)
        return self


def check_format(fmt: str) -> str:
    if fmt not in MIME:
        raise ValueError(f"Invalid format value: {fmt!r} (must be one of {', '.join(FORMATS)})")
    return fmt


def format_of(path: str) -> str:
    """The export format named by a file's suffix (``race.gif`` -> ``gif``)."""
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffix not in MIME:
        raise ValueError(f"Invalid output file {path!r}: the suffix must be one of "
                         f"{', '.join('.' + f for f in FORMATS)}")
    return suffix


def file_stem(config: RaceConfig) -> str:
    """A download name without its suffix, such as ``race-quadratic-500-steps``."""
    return f"race-{config.surface}-{config.steps}-steps"


def figure_bytes(figure: go.Figure, fmt: str, settings: ExportSettings = ExportSettings()) -> bytes:
    """Any figure as PNG, SVG, PDF (at the preset's size) or interactive HTML."""
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"Invalid format value: {fmt!r} (a figure exports to {', '.join(FIGURE_FORMATS)})")
    settings.validate(fmt)
    if fmt == "html":
        return html_bytes(figure)
    return static.image_bytes(figure, fmt, settings.preset, settings.scale)


def export_race(config: RaceConfig, fmt: str, settings: ExportSettings = ExportSettings(), *,
                trajectories: Mapping[str, Any] | None = None, figure: go.Figure | None = None,
                layer: Any = None, gradient_field: bool = False, progress: animation.Progress | None = None,
                families: dict[str, list[live.Packed]] | None = None, live_seconds: float = live.LIVE_SECONDS
                ) -> bytes:
    """One export of the race ``config`` describes; its pictures over the −∇f arrows when ``gradient_field``.

    ``trajectories`` (from ``run_race(config)``), ``figure`` (``plots.race_figure`` of them, drawn with the same
    ``gradient_field``), ``layer`` (``plots.race.landscape_layer``) and the HTML's live ``families`` (per optimizer,
    ``live.packed``) may be passed when the caller has them already (else the families are computed within
    ``live_seconds``, ``live.sliders``); ``progress(fraction)`` is called after each GIF/MP4 frame.
    """
    settings.validate(fmt)
    if trajectories is None:
        trajectories = run_race(config.validate())
    if fmt == "csv":
        return trajectories_csv(trajectories).encode("utf-8")
    if fmt == "json":
        return config_io.race_json(config, trajectories).encode("utf-8")
    surface = config.landscape()
    if fmt in animation.ANIMATION_FORMATS:
        return animation.animation_bytes(surface, trajectories, fmt, frames=settings.frames, fps=settings.fps,
                                         preset=settings.preset, scale=settings.scale, layer=layer,
                                         gradient_field=gradient_field, progress=progress)
    if figure is None:  # a still image needs no animation frames
        figure = plots.race_figure(surface, trajectories, layer=layer, gradient_field=gradient_field,
                                   frames=60 if fmt == "html" else 1)
    if fmt == "html":
        ran = replace(config, optimizers={name: config.optimizers[name] for name in trajectories})
        return plots.live.live_html(live.live_spec(ran, figure.to_dict(), surface, families, seconds=live_seconds),
                                    title=f"Loss Landscape Lab race: {file_stem(config)}")
    return figure_bytes(figure, fmt, settings)


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename: readers see the old
    file or the whole new one, and a failure (``OSError``) leaves nothing behind."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)  # mkstemp creates 0600
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
