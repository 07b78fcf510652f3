"""GIF and MP4 of a race that look like the race figure, without one browser render per frame.

The figure's still parts (landscape image, isolines, minima, start, axes, title, legend) are rendered
once by kaleido at the export size (``plots.static``); each frame then draws the trajectories
θ₀ … θₖ, the current iterates θₖ and any ✕ of a diverged run onto a copy with Pillow, in the figure's
colours, dashes and markers, inside the plot box whose pixels ``static.plot_box`` knows. Lines are
drawn at twice the resolution and scaled down (antialiasing). Measured in ``benchmarks/export.py``
(60 frames at 1280 × 720, this machine under load): this route ≈ 2–3 s, matplotlib redrawing each
frame ≈ 8 s, kaleido rendering each frame ≈ 53 s (0.9 s a frame).

Sizes are bounded: at most ``MAX_FRAMES`` frames of at most ``MAX_PIXELS`` pixels, 1–60 fps. Frames are
produced one at a time; MP4 streams them into ffmpeg, GIF maps each to one palette as it is drawn and keeps
only the 8-bit images.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import static
from .race import clip_to_view, frame_steps, last_visible, race_figure
from .style import trace_style

ANIMATION_FORMATS = ("gif", "mp4")
MAX_FRAMES = 150
MAX_FPS = 60
MAX_PIXELS = 1_000_000  # per frame: a 16:9 slide at scale 1 (921 600 px); GIF holds 1 byte per pixel per frame
SUPERSAMPLE = 2
LINE_WIDTH = 2.5  # layout px, as in the race figure
HEAD_SIZE = 13
Progress = Callable[[float], None]


def check_animation(frames: int, fps: float, preset: str, scale: float) -> tuple[int, int]:
    """Validate an animation's frame count, frame rate and size; its (width, height) in pixels."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 1 <= fps <= MAX_FPS:
        raise ValueError(f"Invalid fps value: {fps!r} (must be a number in [1, {MAX_FPS}])")
    return _check_frames(frames, preset, scale)


def _check_frames(frames: int, preset: str, scale: float) -> tuple[int, int]:
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or not 2 <= frames <= MAX_FRAMES:
        raise ValueError(f"Invalid frames value: {frames!r} (must be an integer in [2, {MAX_FRAMES}])")
    width, height = static.pixel_size(preset, scale)
    if width * height > MAX_PIXELS:
        raise ValueError(f"Invalid scale value: {scale!r} (an animation of preset {preset!r} holds scales in "
                         f"[1, {max_scale(preset):g}]: at most {MAX_PIXELS} pixels per frame)")
    return width, height


def max_scale(preset: str) -> float:
    """The largest scale (two decimals) at which a frame of ``preset`` stays within ``MAX_PIXELS``."""
    chosen = static.check_preset(preset)
    return max(1.0, math.floor(math.sqrt(MAX_PIXELS / (chosen.width * chosen.height)) * 100) / 100)


def _still_figure(surface: Any, trajectories: Mapping[str, Any], preset: str, layer: Any,
                  gradient_field: bool) -> dict:
    """The static race figure without what moves (the −∇f arrows, when drawn, stay): path traces keep their
    legend entries but no points."""
    plain = static.static_figure(race_figure(surface, trajectories, frames=1, layer=layer,
                                             gradient_field=gradient_field), preset)
    kept = []
    for trace in plain["data"]:
        name = str(trace.get("name", ""))
        if trace.get("mode") == "lines" and trace.get("legendgroup") in trajectories:
            (xmin, _), (ymin, _) = surface.bounds  # one point outside the axes: a legend entry, nothing drawn
            kept.append({**trace, "x": [xmin - 1e6], "y": [ymin - 1e6], "customdata": None})
        elif name != "positions θₖ" and not name.endswith(" diverged"):
            kept.append(trace)
    plain["data"] = kept
    return plain


def _dash_pattern(dash: str, width: float) -> tuple[float, ...]:
    """plotly's dash lengths (on, off, ...) in pixels for a line of this width (``Drawing.dashStyle``)."""
    unit = max(width, 3.0)
    return {"dot": (unit, unit), "dash": (3 * unit, 3 * unit), "longdash": (5 * unit, 5 * unit),
            "dashdot": (3 * unit, unit, unit, unit), "longdashdot": (5 * unit, 2 * unit, unit, 2 * unit)}.get(dash, ())


class _Path:
    """A trajectory in supersampled pixels, resampled along its arc length where it is dashed.

    ``on`` marks the samples the dash pattern draws (global phase, so a path drawn piece by piece
    looks the same as one drawn whole); ``at[k]`` is the sample of iterate θₖ.
    """

    def __init__(self, points: np.ndarray, pattern: tuple[float, ...], max_samples: int = 20_000) -> None:
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
        if not pattern or arc[-1] == 0:
            self.samples, self.on, self.at = points, np.ones(len(points), bool), np.arange(len(points))
            return
        spacing = max(1.0, arc[-1] / max_samples)
        s = np.union1d(np.arange(0.0, arc[-1], spacing), arc)
        self.samples = np.stack([np.interp(s, arc, points[:, 0]), np.interp(s, arc, points[:, 1])], axis=1)
        bounds = np.cumsum(pattern)
        self.on = np.searchsorted(bounds, np.mod(s, bounds[-1]), side="right") % 2 == 0
        self.at = np.searchsorted(s, arc)

    def draw(self, draw: ImageDraw.ImageDraw, first: int, last: int, colour: str, width: int) -> None:
        """Draw the path from iterate ``first`` to iterate ``last``."""
        a, b = int(self.at[first]), int(self.at[last]) + 1
        on = self.on[a:b]
        edges = np.flatnonzero(np.diff(on.astype(np.int8))) + 1
        for run in np.split(np.arange(a, b), edges):
            if len(run) > 1 and self.on[run[0]]:
                draw.line(self.samples[run].ravel().tolist(), fill=colour, width=width)


def _regular(count: int, phase: float = 0.0, inner: float | None = None) -> np.ndarray:
    """Corners of a regular polygon (or a star when ``inner`` is the inner radius) of radius 1, y down."""
    angles = phase + np.arange(count) * 2 * math.pi / count
    radii = np.ones(count)
    if inner is not None:
        radii[1::2] = inner
    return np.stack([radii * np.sin(angles), -radii * np.cos(angles)], axis=1)


_ARM = 1 / 3
SHAPES = {  # plotly's marker symbols of the race (plots.style.MARKERS), as unit polygons
    "square": _regular(4, math.pi / 4) / math.sqrt(2) * 0.9,
    "diamond": _regular(4),
    "triangle-up": _regular(3),
    "pentagon": _regular(5),
    "hexagon": _regular(6, math.pi / 6),
    "star": _regular(10, 0.0, 0.45),
    "cross": np.array([(-_ARM, -1), (_ARM, -1), (_ARM, -_ARM), (1, -_ARM), (1, _ARM), (_ARM, _ARM), (_ARM, 1),
                       (-_ARM, 1), (-_ARM, _ARM), (-1, _ARM), (-1, -_ARM), (-_ARM, -_ARM)]),
}


def _marker(draw: ImageDraw.ImageDraw, symbol: str, centre: np.ndarray, size: float, fill: str) -> None:
    """A marker of diameter ``size`` with a black outline: a circle, or one of ``SHAPES``."""
    x, y, r = float(centre[0]), float(centre[1]), size / 2
    outline = max(1, round(size / 9))
    if symbol not in SHAPES:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill, outline="black", width=outline)
        return
    draw.polygon([(x + r * u, y + r * v) for u, v in SHAPES[symbol]], fill=fill, outline="black", width=outline)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


class _Painter:
    """Draws the frames of a race over the still background, each from the previous one.

    The plot box is drawn at ``SUPERSAMPLE`` × the export resolution (the background there upscaled by
    pixel repetition, so a box filter gives its pixels back unchanged) and averaged down per frame. Paths
    only grow, so the persistent layer gets each frame's new piece of path; the iterates θₖ, which move,
    go on a copy.
    """

    def __init__(self, background: Image.Image, box: static.PlotBox, scale: float, surface: Any,
                 trajectories: Mapping[str, Any]) -> None:
        self.background, self.scale = background, scale
        left, top = round(box.left * scale), round(box.top * scale)
        self.box = (left, top, left + round(box.width * scale), top + round(box.height * scale))
        size = (self.box[2] - left, self.box[3] - top)
        self.layer = background.crop(self.box).resize((size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE),
                                                      Image.Resampling.NEAREST)
        self.draw = ImageDraw.Draw(self.layer)
        (xmin, xmax), (ymin, ymax) = surface.bounds
        span = np.array([xmax - xmin, ymax - ymin])
        self.styles = [trace_style(index) for index in range(len(trajectories))]
        self.width = round(LINE_WIDTH * scale * SUPERSAMPLE)
        def to_pixels(points: np.ndarray) -> np.ndarray:
            pixel = (np.asarray(points, dtype=float) - [xmin, ymin]) / span * np.array(self.layer.size)
            pixel[..., 1] = self.layer.size[1] - pixel[..., 1]  # image rows grow downwards
            return pixel

        self.paths, self.heads, self.crosses = [], [], []
        for style, trajectory in zip(self.styles, trajectories.values()):
            points = clip_to_view(trajectory.points[0], surface.bounds)
            self.heads.append(to_pixels(points))
            self.paths.append(_Path(self.heads[-1], _dash_pattern(style.dash, self.width)))
            step = int(trajectory.diverged_at[0])  # the ✕ where the figure puts it: the last point in view
            self.crosses.append(to_pixels(last_visible(points[: step + 1], surface.bounds)) if step >= 0 else None)
        self.diverged = [int(t.diverged_at[0]) for t in trajectories.values()]
        self.names = list(trajectories)
        self.cross_font = _font(round(13 * scale * SUPERSAMPLE))
        self.crossed = [False] * len(self.diverged)
        self.drawn = 0  # the paths are on the layer up to this iterate
        self.font = _font(round(13 * scale))

    def _cross(self, index: int) -> None:
        """The ✕ of a diverged run and "NAME diverged at step k", as the figure draws them."""
        centre, colour, unit = self.crosses[index], self.styles[index].colour, self.scale * SUPERSAMPLE
        r = 8 * unit
        for sign in (1, -1):
            ends = [centre[0] - r, centre[1] - sign * r, centre[0] + r, centre[1] + sign * r]
            self.draw.line(ends, fill="black", width=round(5 * unit))
            self.draw.line(ends, fill=colour, width=round(3 * unit))
        below = centre[1] < self.layer.size[1] / 2  # y above the middle: text below the ✕, as in the figure
        across = "lmr"[min(max(int(3 * centre[0] / self.layer.size[0]), 0), 2)]  # the text stays in view
        self.draw.text((centre[0], centre[1] + (14 if below else -14) * unit),
                       f"{self.names[index]} diverged at step {self.diverged[index]}", fill=colour,
                       font=self.cross_font, anchor=across + ("t" if below else "d"), stroke_width=round(unit),
                       stroke_fill="white")

    def frame(self, k: int, steps: int) -> Image.Image:
        """Frame of iterate k (k never decreases from one call to the next)."""
        for index, (style, path, step) in enumerate(zip(self.styles, self.paths, self.diverged)):
            path.draw(self.draw, self.drawn, k, style.colour, self.width)
            if 0 <= step <= k and not self.crossed[index]:
                self._cross(index)
                self.crossed[index] = True
        self.drawn = k
        moving = self.layer.copy()
        draw = ImageDraw.Draw(moving)
        for style, head in zip(self.styles, self.heads):
            _marker(draw, style.marker, head[k], HEAD_SIZE * self.scale * SUPERSAMPLE, style.colour)
        image = self.background.copy()
        image.paste(moving.resize((self.box[2] - self.box[0], self.box[3] - self.box[1]), Image.Resampling.BOX),
                    self.box[:2])
        label = ImageDraw.Draw(image)
        text = f"step {k} / {steps}"
        where = (self.box[0] + round(8 * self.scale), self.box[1] + round(6 * self.scale))
        left, top, right, bottom = label.textbbox(where, text, font=self.font)
        pad = round(4 * self.scale)
        label.rectangle([left - pad, top - pad, right + pad, bottom + pad], fill=(255, 255, 255))
        label.text(where, text, fill=(30, 30, 30), font=self.font)
        return image


def _painter(surface: Any, trajectories: Mapping[str, Any], frames: int, preset: str, scale: float,
             layer: Any, gradient_field: bool) -> tuple[_Painter, int, np.ndarray]:
    """The painter over the once-rendered still figure, the race's step count and the steps shown."""
    _check_frames(frames, preset, scale)
    if not trajectories:
        raise ValueError("Invalid trajectories value: {} (give at least one trajectory)")
    still = _still_figure(surface, trajectories, preset, layer, gradient_field)
    background = Image.open(io.BytesIO(static.render(still, "png", scale))).convert("RGB")
    steps = next(iter(trajectories.values())).points.shape[1] - 1
    return _Painter(background, static.plot_box(still), scale, surface, trajectories), steps, frame_steps(steps, frames)


def race_frames(surface: Any, trajectories: Mapping[str, Any], *, frames: int = 60, preset: str = "slide",
                scale: float = 1.0, layer: Any = None, gradient_field: bool = False,
                progress: Progress | None = None) -> Iterator[Image.Image]:
    """The race as RGB images, one per shown step (``frame_steps``), the last showing the whole race; over the
    −∇f arrows of ``race_figure`` when ``gradient_field``."""
    return _painted(*_painter(surface, trajectories, frames, preset, scale, layer, gradient_field), progress)


def _painted(painter: _Painter, steps: int, shown: np.ndarray, progress: Progress | None) -> Iterator[Image.Image]:
    for index, k in enumerate(shown):
        yield painter.frame(int(k), steps)
        if progress is not None:
            progress((index + 1) / len(shown))


def gif_bytes(images: Iterator[Image.Image], fps: float, palette: Image.Image) -> bytes:
    """An endlessly looping GIF; every frame mapped, as it arrives, to one palette (``palette``: a quantized
    image, e.g. the complete race), so only 8-bit frames are held."""
    indexed = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    buffer = io.BytesIO()
    indexed[0].save(buffer, format="GIF", save_all=True, append_images=indexed[1:], duration=round(1000 / fps),
                    loop=0, optimize=False, disposal=1)
    return buffer.getvalue()


def mp4_bytes(images: Iterator[Image.Image], fps: float) -> bytes:
    """An H.264 MP4 (yuv420p, plays everywhere) through the ffmpeg that imageio-ffmpeg ships."""
    import imageio.v2 as imageio

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "race.mp4")
        writer = imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264", macro_block_size=2,
                                    pixelformat="yuv420p", quality=8, ffmpeg_log_level="error")
        try:
            for image in images:
                writer.append_data(np.asarray(image))
        finally:
            writer.close()
        with open(path, "rb") as handle:
            return handle.read()


def animation_bytes(surface: Any, trajectories: Mapping[str, Any], fmt: str, *, frames: int = 60, fps: float = 15,
                    preset: str = "slide", scale: float = 1.0, layer: Any = None, gradient_field: bool = False,
                    progress: Progress | None = None) -> bytes:
    """The race as a GIF or MP4 of ``frames`` frames at ``fps`` frames per second (``race_frames``)."""
    if fmt not in ANIMATION_FORMATS:
        raise ValueError(f"Invalid format value: {fmt!r} (must be one of {', '.join(ANIMATION_FORMATS)})")
    check_animation(frames, fps, preset, scale)
    if fmt == "mp4":
        return mp4_bytes(race_frames(surface, trajectories, frames=frames, preset=preset, scale=scale, layer=layer,
                                     gradient_field=gradient_field, progress=progress), fps)
    painter, steps, shown = _painter(surface, trajectories, frames, preset, scale, layer, gradient_field)
    palette = painter.frame(steps, steps).quantize(colors=255, method=Image.Quantize.MEDIANCUT)  # every colour
    return gif_bytes(_painted(painter, steps, shown, progress), fps, palette)
