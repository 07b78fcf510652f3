"""Time of each export of the default race, and the three ways to draw GIF/MP4 frames.

Prints two tables:
- each format (PNG, SVG, PDF, HTML, GIF and MP4 of 60 frames, CSV, JSON) for the default race, warm
  (kaleido's browser started once; the first export, which launches it, is reported separately), best of
  ``--repeats``;
- 60 animation frames (slide preset, 1280 × 720) drawn three ways, measured in this run:
  Pillow over one kaleido still (the route ``plots.animation`` takes), matplotlib redrawing each frame
  (landscape image, isolines, legend, paths), and kaleido rendering each frame as a whole figure (timed on
  ``--kaleido-frames`` frames and extrapolated to 60, which the table says).

Run:  python benchmarks/export.py [--repeats 3] [--kaleido-frames 5]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import plots  # noqa: E402
from losslab import exports, race  # noqa: E402
from plots import animation, static  # noqa: E402
from plots.landscape import colour_image, log_levels  # noqa: E402
from plots.race import frame_steps, landscape_layer  # noqa: E402
from plots.style import trace_style  # noqa: E402

FRAMES = 60
TARGETS = {"png": 1.0, "gif": 10.0}


def best(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def matplotlib_frames(surface, trajectories, shown) -> list[np.ndarray]:
    """The race redrawn by matplotlib (Agg) per frame at 1280 × 720: image, isolines, legend, paths, heads."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layer = landscape_layer(surface)
    grid = layer.grid
    (xmin, xmax), (ymin, ymax) = surface.bounds
    figure, axes = plt.subplots(figsize=(12.8, 7.2), dpi=100)
    axes.imshow(colour_image(grid), extent=(xmin, xmax, ymin, ymax), aspect="equal")
    axes.contour(grid.x, grid.y, grid.z, levels=log_levels(grid), colors="white", linewidths=0.8, alpha=0.45)
    dashes = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-."}
    lines, heads = [], []
    for index, name in enumerate(trajectories):
        style = trace_style(index)
        (line,) = axes.plot([], [], dashes.get(style.dash, "-"), color=style.colour, lw=2.5, label=name)
        (head,) = axes.plot([], [], "o", color=style.colour, mec="black", ms=9)
        lines.append(line)
        heads.append(head)
    axes.set(xlim=(xmin, xmax), ylim=(ymin, ymax), xlabel="θ₁", ylabel="θ₂", title=plots.style.surface_title(surface))
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    images = []
    for k in shown:
        for line, head, trajectory in zip(lines, heads, trajectories.values()):
            points = trajectory.points[0, : k + 1]
            line.set_data(points[:, 0], points[:, 1])
            head.set_data(points[-1:, 0], points[-1:, 1])
        figure.canvas.draw()
        images.append(np.asarray(figure.canvas.buffer_rgba())[..., :3].copy())
    plt.close(figure)
    return images


def kaleido_frames(surface, trajectories, shown) -> list[bytes]:
    """Each frame as a whole static figure rendered by kaleido (the race cut at step k)."""
    images = []
    for k in shown:
        cut = {name: type(t)(t.optimizer, t.hyperparameters, t.points[:, : k + 1], t.losses[:, : k + 1],
                             t.lrs[:, :k], t.diverged_at, t.diverged_reason) for name, t in trajectories.items()}
        images.append(static.image_bytes(plots.race_figure(surface, cut, frames=1), "png", "slide"))
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="repeats per export (best is reported)")
    parser.add_argument("--kaleido-frames", type=int, default=5, help="frames timed for the kaleido-per-frame route")
    args = parser.parse_args()

    config = race.RaceConfig()
    trajectories = race.run_race(config)
    surface = config.landscape()
    settings = exports.ExportSettings(frames=FRAMES)

    started = time.perf_counter()
    static.ensure_server()
    server = time.perf_counter() - started
    started = time.perf_counter()
    exports.export_race(config, "png", settings, trajectories=trajectories)
    first = time.perf_counter() - started

    print(f"default race: {surface.name}, {len(trajectories)} optimizers × {config.steps} steps; "
          f"exports at preset {settings.preset!r} ({static.PRESETS[settings.preset].width} × "
          f"{static.PRESETS[settings.preset].height}), best of {args.repeats}")
    print(f"{'export':28s} {'time':>9s} {'size':>10s}  target")
    print(f"{'first PNG (launches chromium)':28s} {server + first:8.3f}s {'':>10s}")
    for fmt in ("png", "svg", "pdf", "html", "gif", "mp4", "csv", "json"):
        seconds, data = best(lambda f=fmt: exports.export_race(config, f, settings, trajectories=trajectories),
                             args.repeats)
        label = f"{fmt.upper()} ({FRAMES} frames)" if fmt in ("gif", "mp4") else fmt.upper()
        target = TARGETS.get(fmt)
        verdict = f"< {target:g} s: {'yes' if seconds < target else 'NO'}" if target else ""
        print(f"{label:28s} {seconds:8.3f}s {len(data) / 1e3:8.0f}kB  {verdict}")

    shown = frame_steps(config.steps, FRAMES)
    print(f"\n{FRAMES} animation frames at 1280 × 720, three routes (frames only, no encoding)")
    print(f"{'route':44s} {'60 frames':>10s} {'per frame':>10s}")
    pillow, _ = best(lambda: list(animation.race_frames(surface, trajectories, frames=FRAMES)), args.repeats)
    print(f"{'Pillow over one kaleido still (used)':44s} {pillow:9.3f}s {pillow / len(shown) * 1e3:8.1f}ms")
    mpl, _ = best(lambda: matplotlib_frames(surface, trajectories, shown), args.repeats)
    print(f"{'matplotlib redrawing each frame':44s} {mpl:9.3f}s {mpl / len(shown) * 1e3:8.1f}ms")
    sample = shown[np.linspace(0, len(shown) - 1, args.kaleido_frames).round().astype(int)]
    timed, _ = best(lambda: kaleido_frames(surface, trajectories, sample), 1)
    per = timed / len(sample)
    print(f"{f'kaleido per frame ({len(sample)} timed, × {len(shown)} extrapolated)':44s} {per * len(shown):9.3f}s "
          f"{per * 1e3:8.1f}ms")


if __name__ == "__main__":
    main()
