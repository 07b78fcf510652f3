"""The slice's work: a grid cut into square tiles, each a pure function of (surface spec, tile).

``compute_tile(spec, tile)`` evaluates ``landscapes.from_module``'s surface (rebuilt from ``spec``, once per
process) on the tile's points in one ``value`` call. The surface pads every chunk of points to the same size and
never mixes the points of a chunk, so a tile's values are the same bits whichever process computes it, in
whatever order, alone or beside others: a resumed slice equals an uninterrupted one, and a worker on another
machine (a Ray task: ``compute_tile`` and a picklable ``SliceSpec`` are all it needs) equals this one.

``run_tiles`` takes the tiles to do, an ``executor`` (``local``: one after another in this process;
``slice_ray.RayExecutor``: Ray tasks, with the same signature) and a ``save(tile, values)`` called as each
finishes, in the driver.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, TextIO

import numpy as np


class TileFailed(RuntimeError):
    """A tile could not be computed by the executor (a Ray task that raised, or whose worker died too often)."""


class Tile(NamedTuple):
    """Tile (row, column) of the grid: rows b[r0:r1], columns a[c0:c1]."""

    row: int
    column: int
    r0: int
    r1: int
    c0: int
    c1: int


def tiles(grid: int, tile: int) -> list[Tile]:
    """Every tile of a grid × grid grid, row by row."""
    count = -(-grid // tile)
    return [Tile(i, j, i * tile, min(grid, (i + 1) * tile), j * tile, min(grid, (j + 1) * tile))
            for i in range(count) for j in range(count)]


@dataclass(frozen=True, eq=False)
class SliceSpec:
    """Everything that determines the surface, picklable: where the model, weights, data and loss come from,
    the directions (2, parameters) and the resolved evaluation settings (minibatch size, points per chunk,
    method), which must be the same in every process for the values to be the same bits."""

    model: str
    data: str
    weights: str | None
    loss: str | None
    directions: np.ndarray
    grid: int
    range: float
    batch_size: int
    points_per_chunk: int
    method: str
    key: str  # identifies the spec: the store's configuration digest

    @property
    def axis(self) -> np.ndarray:
        return np.linspace(-self.range, self.range, self.grid)

    def build(self, inputs: Any = None) -> Any:
        """The surface (``landscapes.from_module``); ``inputs`` (``slice_inputs.Inputs``) when already loaded."""
        import landscapes

        from . import slice_inputs

        if inputs is None:
            inputs = slice_inputs.load(self.model, self.data, self.weights, self.loss)
        bounds = ((-self.range, self.range), (-self.range, self.range))
        return landscapes.from_module(inputs.model, inputs.loss_fn, inputs.data,
                                      directions=(self.directions[0], self.directions[1]), bounds=bounds,
                                      start=default_start(self.range), batch_size=self.batch_size,
                                      points_per_chunk=self.points_per_chunk, method=self.method)


def default_start(extent: float) -> tuple[float, float]:
    """The races' default start: (−0.75, 0.75) × range, the module surface's own start scaled to the window."""
    return -0.75 * extent, 0.75 * extent


_SURFACES: dict[str, Any] = {}  # spec key -> surface: one per process (a worker reuses it across its tiles)
_SPECS: dict[str, SliceSpec] = {}  # spec key -> the spec of that surface


def surface(spec: SliceSpec) -> Any:
    """The spec's surface, built once per process."""
    if spec.key not in _SURFACES:
        prime(spec, spec.build())
    return _SURFACES[spec.key]


def prime(spec: SliceSpec, built: Any) -> None:
    """Use ``built`` (``spec.build(inputs)`` from inputs the caller loaded already) as the spec's surface here."""
    _SURFACES.clear()
    _SPECS.clear()
    _SURFACES[spec.key] = built
    _SPECS[spec.key] = spec


def has_surface(key: str) -> bool:
    """Whether this process has built the surface of the spec ``key``."""
    return key in _SURFACES


def ensure(spec: SliceSpec, inputs: Any) -> None:
    """The spec's surface built here from ``inputs`` (``slice_inputs.Inputs``: a Ray worker gets them from the
    object store, not by calling the user's functions again), unless it is already."""
    if spec.key not in _SURFACES:
        prime(spec, spec.build(inputs))


def current_spec(key: str) -> SliceSpec:
    """The spec whose surface this process holds under ``key``."""
    return _SPECS[key]


def tile_points(spec: SliceSpec, tile: Tile) -> np.ndarray:
    """The tile's points (rows, columns, 2), [..., 0] = a, [..., 1] = b."""
    axis = spec.axis
    return np.stack(np.meshgrid(axis[tile.c0:tile.c1], axis[tile.r0:tile.r1]), axis=-1)


def compute_tile(spec: SliceSpec, tile: Tile) -> np.ndarray:
    """The loss on the tile's points (rows b, columns a), float64: a pure function of (spec, tile)."""
    return np.asarray(surface(spec).value(tile_points(spec, tile)), dtype=np.float64)


Executor = Callable[[Callable[[SliceSpec, Tile], np.ndarray], SliceSpec, list[Tile]],
                    Iterable[tuple[Tile, np.ndarray]]]


def local(function: Callable[[SliceSpec, Tile], np.ndarray], spec: SliceSpec,
          todo: list[Tile]) -> Iterator[tuple[Tile, np.ndarray]]:
    """The executor that computes the tiles one after another in this process."""
    for tile in todo:
        yield tile, function(spec, tile)


class Progress:
    """A progress bar on stderr: tiles done of the total, elapsed time and time left (from this run's pace).

    On a terminal it redraws one line; elsewhere (a log, a pipe) it prints a line at most every ``interval``
    seconds and at the end.
    """

    def __init__(self, total: int, done: int = 0, stream: TextIO | None = None, interval: float = 2.0,
                 width: int = 24) -> None:
        self.total, self.done, self.start_done = total, done, done
        self.stream = stream if stream is not None else sys.stderr
        self.interval, self.width = interval, width
        self.started = self.shown = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    @staticmethod
    def _clock(seconds: float) -> str:
        seconds = int(round(seconds))
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(fraction * self.width)
        elapsed = time.monotonic() - self.started
        computed = self.done - self.start_done
        left = "?" if computed == 0 else self._clock(elapsed / computed * (self.total - self.done))
        return (f"slice [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} tiles "
                f"{fraction:4.0%} · {self._clock(elapsed)} elapsed · {left} left")

    def update(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + self.line())
        elif now - self.shown >= self.interval or self.done == self.total:
            self.stream.write(self.line() + "\n")
            self.shown = now
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def run_tiles(spec: SliceSpec, todo: list[Tile], save: Callable[[Tile, np.ndarray], None],
              executor: Executor = local, progress: Progress | None = None) -> int:
    """Compute ``todo`` with ``executor`` and ``save`` each tile as it comes back; returns the tiles saved."""
    saved = 0
    for tile, values in executor(compute_tile, spec, todo):
        save(tile, values)
        saved += 1
        if progress is not None:
            progress.update()
    return saved
