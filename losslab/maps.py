"""Hyper-parameter maps and learning-rate curves, each one batched ``optimizers.sweep`` call.

A map crosses the learning rate ρ (log-spaced, x) with a second quantity (y): the optimizer's own
hyper-parameter (momentum α; Adam's β₁ with β₂ fixed; RMSProp's decay ρ_r, torch's ``alpha``), the
distance d of the start from the minimum (along the line from the minimum through the start), or, on the
quadratic, its condition number κ (each row its own surface). The cells are passed to ``sweep`` as the
raveled meshgrid, so a 128 × 128 map is one call of 16 384 rows.

Gradient noise σ > 0: every cell runs ``seeds`` times in the same call, as rows r = s·cells + c
(s = 0 … seeds − 1). Row r's noise stream is fixed by (seed, r) (``optimizers.noise``), so the repeats of
a cell draw different noise; the map shows the mean over repeats. A cell counts as diverged when any of
its repeats diverged (the boundary is where every repeat still survives).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import contourpy
import numpy as np

import landscapes
import optimizers
from optimizers import catalogue

from . import budget as compute_budget
from . import overrides, race, schedule_presets

MAX_CELLS = 128  # per axis
MIN_CELLS = 2
MAX_CURVE_POINTS = 256
MAX_SEEDS = 16
MAX_STEPS = race.MAX_RACE_STEPS  # a cell opens on Explore with the same steps
MAX_WORK = 100_000_000  # rows × steps of one call (128² cells × 1000 steps × 6 seeds)
METRICS = ("final_loss", "best_loss", "steps_to_tol")


class Axis(NamedTuple):
    """A swept quantity: its key, symbol and label, the closed range it may take, and its spacing."""

    key: str
    symbol: str
    label: str
    low: float
    high: float
    log: bool

    def values(self, span: tuple[float, float], count: int) -> np.ndarray:
        """``count`` values from span[0] to span[1]: log-spaced on a log axis, else evenly spaced."""
        return np.geomspace(*span, count) if self.log else np.linspace(*span, count)


def _hyper_axis(key: str, label: str) -> Axis:
    """A hyper-parameter's axis: its symbol, slider range and spacing from the catalogue, so every cell opens on
    Explore with a value its slider holds."""
    entry = catalogue.spec(key)
    return Axis(key, entry.symbol, label, *entry.ui, entry.log)


AXES = {
    "lr": _hyper_axis("lr", "learning rate ρ"),
    "momentum": _hyper_axis("momentum", "momentum α"),
    "beta1": _hyper_axis("beta1", "Adam's β₁ (first-moment decay)"),
    "alpha": _hyper_axis("alpha", "RMSProp's decay ρ_r (torch's alpha)"),
    "distance": Axis("distance", "d", "distance d of the start from the minimum", 0.0, math.inf, False),
    "condition": Axis("condition", "κ", "condition number κ", 1.0, 1e4, True),
}
OWN_AXIS = {"sgd": "momentum", "momentum": "momentum", "nesterov": "momentum", "rmsprop": "alpha",
            "adam": "beta1", "adamw": "beta1"}
DISTANCE_REACH = 2.0  # the distance axis reaches this many window diagonals


def y_axes(optimizer: str, surface: str) -> list[str]:
    """The quantities a map of ``optimizer`` on ``surface`` can put on its y axis."""
    own = [OWN_AXIS[optimizer]] if optimizer in OWN_AXIS else []
    return [*own, "distance", *(["condition"] if surface == "quadratic" else [])]


@dataclass(frozen=True)
class MapConfig:
    """Everything that determines a map: the problem, the swept ranges, the resolution and the repeats.

    ``hyper`` overrides the optimizer's other hyper-parameters (torch.optim's names; the rest are
    ``race.optimizer_defaults``); the swept ones are replaced per cell. ``y_range`` None: the axis' default.
    """

    surface: str = "rosenbrock"
    surface_params: dict[str, float] = field(default_factory=dict)
    optimizer: str = "momentum"
    y: str = "momentum"
    lr_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    cells: int = 64
    steps: int = 1000
    start: tuple[float, float] | None = None
    hyper: dict[str, Any] = field(default_factory=dict)
    noise: float = 0.0
    seeds: int = 1
    seed: int = 0
    tol: float = 1e-6

    def landscape(self) -> Any:
        return landscapes.get(self.surface, **self.surface_params)

    def start_point(self) -> np.ndarray:
        return np.asarray(self.start if self.start is not None else self.landscape().default_start, dtype=float)

    def hyperparameters(self, optimizer: str | None = None) -> dict[str, Any]:
        """The optimizer's keywords: race defaults for this surface, then ``hyper`` (for the map's optimizer)."""
        name = optimizer or self.optimizer
        own = self.hyper if name == self.optimizer else {}
        return {**race.optimizer_defaults(name, self.surface, own.get("base_optimizer")), **own}

    def lrs(self, count: int | None = None) -> np.ndarray:
        return AXES["lr"].values(self.lr_span(), count or self.cells)

    def ys(self) -> np.ndarray:
        return AXES[self.y].values(self.y_span(), self.cells)

    def lr_span(self) -> tuple[float, float]:
        """``lr_range``, or two decades either side of the race's default ρ (within the axis)."""
        if self.lr_range is not None:
            return self.lr_range
        lr = self.hyperparameters()["lr"]
        axis = AXES["lr"]
        return max(lr / 100.0, axis.low), min(lr * 100.0, axis.high)

    def y_span(self) -> tuple[float, float]:
        return self.y_range if self.y_range is not None else default_y_range(self)

    def validate(self) -> MapConfig:
        """Raise ``ValueError`` naming the first bad setting (every check of the library; no work)."""
        if self.optimizer not in optimizers.names():
            raise ValueError(f"Invalid optimizer value: {self.optimizer!r} (valid: {', '.join(optimizers.names())})")
        surface = self.landscape()
        valid = y_axes(self.optimizer, self.surface)
        if self.y not in valid:
            raise ValueError(f"Invalid y value: {self.y!r} (valid for {self.optimizer} on {self.surface}: "
                             f"{', '.join(valid)})")
        optimizers.run(surface, self.optimizer, steps=0, **self.hyperparameters())  # a swept one's own value too
        _check_int("cells", self.cells, MIN_CELLS, MAX_CELLS)
        _check_int("steps", self.steps, 0, MAX_STEPS)
        _check_int("seeds", self.seeds, 1, MAX_SEEDS)
        _check_span("lr_range", self.lr_span(), AXES["lr"])
        _check_span("y_range", self.y_span(), axis_for(self.y, surface))
        work = self.cells**2 * self.seeds * max(self.steps, 1)
        if work > MAX_WORK:
            raise ValueError(f"Invalid map size: cells² × seeds × steps = {work} (must be <= {MAX_WORK})")
        corners = np.array([self.lr_span()[0], self.lr_span()[1]]), np.array(self.y_span())
        surface_rows, start, hyper = sweep_inputs(self, *corners)
        optimizers.sweep(surface_rows, self.optimizer, start=start, steps=0, noise=self.noise, seed=self.seed,
                         tol=self.tol, **hyper)
        return self


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"Invalid {name} value: {value!r} (must be an integer in [{low}, {high}])")


def _check_span(name: str, span: Any, axis: Axis) -> None:
    try:
        low, high = (float(v) for v in span)
    except (TypeError, ValueError):
        raise ValueError(f"Invalid {name} value: {span!r} (must be a pair (low, high))") from None
    if not (axis.low <= low < high <= axis.high and (low > 0 or not axis.log)):
        raise ValueError(f"Invalid {name} value: {span!r} (must be low < high within [{axis.low:g}, {axis.high:g}]"
                         f"{' and positive' if axis.log else ''})")


def axis_for(key: str, surface: Any) -> Axis:
    """The axis with its limits for this surface (the distance axis reaches DISTANCE_REACH window diagonals)."""
    axis = AXES[key]
    if key == "distance":
        (xmin, xmax), (ymin, ymax) = surface.bounds
        axis = axis._replace(high=DISTANCE_REACH * math.hypot(xmax - xmin, ymax - ymin))
    return axis


def default_y_range(config: MapConfig) -> tuple[float, float]:
    """The y axis' default span: α, β₁ in [0, 0.99] (Nesterov from 0.01), ρ_r in [0.5, 0.999],
    d from 5 % to 200 % of the start's distance (of half the window's diagonal for a start at the minimum), κ in
    [1, 1000]."""
    if config.y in ("momentum", "beta1"):
        return (0.01 if config.optimizer == "nesterov" else 0.0), 0.99
    if config.y == "alpha":
        return 0.5, 0.999
    if config.y == "condition":
        return 1.0, 1000.0
    anchor, _ = distance_line(config.landscape(), config.start_point())
    reach = float(np.linalg.norm(config.start_point() - anchor))
    limit = axis_for("distance", config.landscape()).high
    reach = reach if reach > 0 else limit / (2 * DISTANCE_REACH)  # a start at the anchor: half the window's diagonal
    return min(0.05 * reach, limit / 2), min(2.0 * reach, limit)


def distance_line(surface: Any, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The anchor (first known minimizer, else the window's centre) and the unit direction towards ``start``."""
    minima = getattr(surface, "minima", ()) or ()
    if minima:
        anchor = np.asarray(minima[0], dtype=float)
    else:
        anchor = np.array([sum(surface.bounds[0]) / 2, sum(surface.bounds[1]) / 2])
    offset = np.asarray(start, dtype=float) - anchor
    norm = float(np.linalg.norm(offset))
    return anchor, (offset / norm if norm > 0 else np.array([1.0, 0.0]))


class ConditionRows:
    """The quadratic with one condition number κᵢ per row: f(θᵢ) = ½ θᵢᵀ R diag(1, κᵢ) Rᵀ θᵢ.

    A surface for ``sweep`` whose rows are ``landscapes.get("quadratic", condition=κᵢ, angle=φ)``; it has
    no numba formula (its parameters are per row), so ``sweep`` runs the plain numpy kernels.
    """

    def __init__(self, conditions: np.ndarray, angle: float):
        base = landscapes.get("quadratic", condition=1.0, angle=angle)
        self._rows = dataclasses.replace(base, p=(np.asarray(conditions, dtype=float), *base.p[1:]))
        self.bounds, self.minima, self.minimum_value = base.bounds, base.minima, base.minimum_value
        self.default_start = base.default_start

    def value(self, xy: Any) -> Any:
        return self._rows.value(xy)

    def grad(self, xy: Any) -> Any:
        return self._rows.grad(xy)

    def value_and_grad(self, xy: Any) -> tuple[Any, Any]:
        return self._rows.value_and_grad(xy)


def sweep_inputs(config: MapConfig, lr: np.ndarray, y: np.ndarray | None) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """The surface, start and keyword arguments of ``sweep`` for configurations (lrᵢ, yᵢ), zipped per row
    (y None: the configuration's own value of the y quantity)."""
    surface = config.landscape()
    start = config.start_point()
    hyper = {**config.hyperparameters(), "lr": np.asarray(lr, dtype=float)}
    if y is None:
        return surface, start, hyper
    y = np.asarray(y, dtype=float)
    if config.y in ("momentum", "alpha"):
        hyper[config.y] = y
    elif config.y == "beta1":
        hyper["betas"] = (y, hyper["betas"][1])
    elif config.y == "distance":
        anchor, direction = distance_line(surface, start)
        start = anchor + y[:, None] * direction
    elif config.y == "condition":
        surface = ConditionRows(y, float(config.surface_params.get("angle", 0.0)))
    return surface, start, hyper


class Cells(NamedTuple):
    """Per-configuration results of a sweep, averaged over the repeats: each (n,)."""

    final_loss: np.ndarray  # mean over repeats
    best_loss: np.ndarray
    steps_to_tol: np.ndarray  # float: mean over repeats; -1 where some repeat never reached f* + tol
    diverged: np.ndarray  # bool: some repeat diverged
    diverged_fraction: np.ndarray
    diverged_at: np.ndarray  # int: the earliest divergence step among the repeats, -1 where none


def evaluate(config: MapConfig, lr: np.ndarray, y: np.ndarray | None) -> Cells:
    """Run configurations (lrᵢ, yᵢ) ``config.seeds`` times each in one ``sweep`` call (y None: only ρ varies)."""
    repeats = config.seeds
    lr = np.asarray(lr, dtype=float)
    count = len(lr)
    tiled_y = None if y is None else np.tile(np.asarray(y, dtype=float), repeats)
    surface, start, hyper = sweep_inputs(config, np.tile(lr, repeats), tiled_y)
    summary = optimizers.sweep(surface, config.optimizer, start=start, steps=config.steps, noise=config.noise,
                               seed=config.seed, tol=config.tol, **hyper)
    shaped = lambda values: np.asarray(values).reshape(repeats, count)  # noqa: E731
    diverged = shaped(summary.diverged)
    reached = shaped(summary.steps_to_tol)
    first = np.where(diverged, shaped(summary.diverged_at), np.iinfo(np.int64).max).min(axis=0)
    return Cells(
        final_loss=shaped(summary.final_loss).mean(axis=0),
        best_loss=shaped(summary.best_loss).mean(axis=0),
        steps_to_tol=np.where((reached >= 0).all(axis=0), reached.mean(axis=0), -1.0),
        diverged=diverged.any(axis=0),
        diverged_fraction=diverged.mean(axis=0),
        diverged_at=np.where(diverged.any(axis=0), first, -1),
    )


@dataclass(frozen=True)
class HyperMap:
    """A computed map: ``lr`` (nx,) and ``y`` (ny,) grids; each field of ``cells`` reshaped to (ny, nx)."""

    config: MapConfig
    lr: np.ndarray
    y: np.ndarray
    cells: Cells
    reference: float  # f*, or the best finite final loss of the map where f* is unknown

    @property
    def axis(self) -> Axis:
        """The y axis."""
        return AXES[self.config.y]

    def values(self, metric: str) -> np.ndarray:
        """(ny, nx) values of ``metric`` ("final_loss", "best_loss", "steps_to_tol")."""
        if metric not in METRICS:
            raise ValueError(f"Invalid metric value: {metric!r} (valid: {', '.join(METRICS)})")
        return getattr(self.cells, metric)


def hyper_map(config: MapConfig, budget: float | None = None) -> HyperMap:
    """The map of ``config``: every (ρ, y) cell of the cells × cells grid, one ``sweep`` call. Above the compute
    budget (``losslab.budget``: ``budget`` seconds, None the default, ``math.inf`` none) a ``BudgetExceeded`` names
    what to reduce, before any work."""
    compute_budget.check(compute_budget.build_cost(config.surface, config.surface_params), budget,
                         "Building this surface")
    config.validate()
    compute_budget.check(compute_budget.map_cost(config), budget, "This map")
    lr, y = config.lrs(), config.ys()
    grid_lr, grid_y = np.meshgrid(lr, y)
    cells = evaluate(config, grid_lr.ravel(), grid_y.ravel())
    shaped = Cells(*(np.asarray(values).reshape(len(y), len(lr)) for values in cells))
    return HyperMap(config, lr, y, shaped, _reference(config.landscape(), shaped))


def _reference(surface: Any, cells: Cells) -> float:
    """f* where known; else the lowest loss of a cell that did not diverge (0 if every cell diverged)."""
    minimum = getattr(surface, "minimum_value", None)
    if minimum is not None:
        return float(minimum)
    finite = np.concatenate([cells.best_loss[~cells.diverged], cells.final_loss[~cells.diverged]])
    return float(finite.min()) if finite.size else 0.0


def divergence_boundary(hmap: HyperMap) -> list[np.ndarray]:
    """The border of the diverged region as polylines of (ρ, y) points: contour ½ of the diverged mask,
    traced in the axes' own spacing (log₁₀ ρ; log₁₀ κ)."""
    x = np.log10(hmap.lr)
    log_y = AXES[hmap.config.y].log
    y = np.log10(hmap.y) if log_y else hmap.y
    mask = hmap.cells.diverged.astype(float)
    if mask.min() == mask.max():
        return []
    lines = contourpy.contour_generator(x, y, mask, line_type="Separate").lines(0.5)
    return [np.column_stack([10.0 ** line[:, 0], 10.0 ** line[:, 1] if log_y else line[:, 1]]) for line in lines]


def map_rows(hmap: HyperMap) -> list[dict[str, Any]]:
    """The map as table rows (one per cell, y outer, ρ inner), ready for a CSV writer or a dataframe."""
    key = hmap.config.y
    rows = []
    for i, y in enumerate(hmap.y):
        for j, lr in enumerate(hmap.lr):
            rows.append({
                "lr": float(lr), key: float(y),
                "final_loss": float(hmap.cells.final_loss[i, j]), "best_loss": float(hmap.cells.best_loss[i, j]),
                "steps_to_tol": float(hmap.cells.steps_to_tol[i, j]), "diverged": bool(hmap.cells.diverged[i, j]),
                "diverged_at": int(hmap.cells.diverged_at[i, j]),
                "diverged_fraction": float(hmap.cells.diverged_fraction[i, j]),
            })
    return rows


# --- learning-rate curves -------------------------------------------------------------------


class Curve(NamedTuple):
    """One optimizer's results against ρ: ``lr`` (n,), ``cells`` (each (n,)), and the best ρ's index (-1: none)."""

    optimizer: str
    lr: np.ndarray
    cells: Cells
    best: int


def best_index(cells: Cells) -> int:
    """The best configuration of ``cells``: the lowest final loss among those that did not diverge, ties broken by
    fewer steps to tolerance (never reached counts as the most), then by the first; -1 when every one diverged."""
    loss = np.where(cells.diverged, np.inf, cells.final_loss)
    if not np.isfinite(loss).any():
        return -1
    steps = np.where(np.asarray(cells.steps_to_tol) >= 0, cells.steps_to_tol, np.inf)
    return int(np.lexsort((np.arange(len(loss)), steps, loss))[0])


def lr_curves(config: MapConfig, names: Sequence[str], points: int = 96, budget: float | None = None
              ) -> dict[str, Curve]:
    """Final loss against ρ for each optimizer in ``names`` (one ``sweep`` call each), on ``config``'s
    surface, start, steps, noise and repeats; each optimizer's own hyper-parameters (``config.hyper`` for
    ``config.optimizer``). The best ρ is the one of the lowest final loss among those that did not diverge, ties
    broken by fewer steps to tolerance (:func:`best_index`). ``budget``: as :func:`hyper_map`'s."""
    _check_int("points", points, MIN_CELLS, MAX_CURVE_POINTS)
    if not names:
        raise ValueError("Invalid optimizers value: [] (select at least one optimizer)")
    work = points * config.seeds * max(config.steps, 1)
    if work > MAX_WORK:
        raise ValueError(f"Invalid curve size: points × seeds × steps = {work} (must be <= {MAX_WORK})")
    compute_budget.check(compute_budget.curves_cost(config, names, points), budget, "These learning-rate curves")
    curves = {}
    for name in names:
        single = dataclasses.replace(config, optimizer=name, y=y_axes(name, config.surface)[0], y_range=None,
                                     cells=MIN_CELLS).validate()
        lr = single.lrs(points)
        cells = evaluate(single, lr, None)
        curves[name] = Curve(name, lr, cells, best_index(cells))
    return curves


# --- a cell on Explore ----------------------------------------------------------------------


def race_config(config: MapConfig, lr: float, y: float | None, optimizer: str | None = None) -> race.RaceConfig:
    """The race that replays configuration (ρ, y) of the map (y None: the configuration's own value; a curve's
    point) for ``optimizer`` (default the map's): its hyper-parameters, the start, steps, noise and seed.
    α, β₁ and ρ_r are rounded to 0.001, Explore's slider step."""
    name = optimizer or config.optimizer
    hyper = {**config.hyperparameters(name), "lr": float(lr)}
    surface_params = dict(config.surface_params)
    start = config.start
    if y is None:
        pass
    elif config.y in ("momentum", "alpha"):
        hyper[config.y] = round(float(y), 3)
    elif config.y == "beta1":
        hyper["betas"] = (round(float(y), 3), float(hyper["betas"][1]))
    elif config.y == "distance":
        anchor, direction = distance_line(config.landscape(), config.start_point())
        start = tuple(float(v) for v in anchor + float(y) * direction)
    elif config.y == "condition":
        surface_params["condition"] = float(y)
    return race.RaceConfig(surface=config.surface, surface_params=surface_params, optimizers={name: hyper},
                           steps=min(int(config.steps), race.MAX_RACE_STEPS), start=start, noise=float(config.noise),
                           seed=int(config.seed))


def explore_query(config: MapConfig, lr: float, y: float | None, optimizer: str | None = None) -> dict[str, str]:
    """Explore's URL query parameters for configuration (ρ, y) (``race.to_query`` of :func:`race_config`)."""
    return race.to_query(race_config(config, lr, y, optimizer))


# --- URL query parameters ------------------------------------------------------------------


MIN_BUDGET, MAX_BUDGET = 4, 4096  # a search's runs N (``losslab.tuning``)
VIEWS = ("map", "curves", "schedules", "tuning")
PRESET_KEY = "schedule_preset"  # Explore's "schedule" is a torch.optim scheduler's name: a preset has its own key
VIEW_DEFAULTS: dict[str, Any] = {
    "view": "map", "metric": "final_loss", "curve_opt": race.DEFAULT_OPTIMIZERS, "points": 96,
    PRESET_KEY: "cosine", "base_lr": None, "budget": 64, "search_seed": 0,  # base_lr None: the page's default
}
_PAIR = (0.0, 0.0)
_SCALARS = {  # MapConfig field -> its reader (where values are not valid together, tried in this order)
    "steps": overrides.integer, "noise": overrides.number, "seed": overrides.integer, "tol": overrides.number,
    "cells": overrides.integer, "seeds": overrides.integer, "lr_range": lambda text: overrides.like(text, _PAIR),
    "y_range": lambda text: overrides.like(text, _PAIR), "start": lambda text: overrides.like(text, _PAIR),
}


def check_budget(budget: object) -> int:
    """N: a perfect square in [MIN_BUDGET, MAX_BUDGET], so the grid is √N × √N."""
    valid = isinstance(budget, (int, np.integer)) and not isinstance(budget, bool)
    if not (valid and MIN_BUDGET <= budget <= MAX_BUDGET and math.isqrt(budget) ** 2 == budget):
        raise ValueError(f"Invalid budget value: {budget!r} (must be a perfect square in [{MIN_BUDGET}, "
                         f"{MAX_BUDGET}], so that the grid is √N × √N)")
    return int(budget)


def surfaces() -> list[str]:
    """The surfaces a map can sweep: those whose parameters are all real numbers (a map runs thousands of rows)."""
    return [name for name in landscapes.names()
            if all(isinstance(spec, landscapes.Param) and not spec.integer for spec in landscapes.parameters(name))]


def surface_defaults(surface: str) -> dict[str, Any]:
    """Every parameter of ``surface`` as a map (and a race) takes it when the URL names none."""
    return {spec.name: race.surface_defaults(surface).get(spec.name, spec.default)
            for spec in landscapes.parameters(surface)}


def to_query(config: MapConfig, view: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The map and the Sweeps page's ``view`` settings (keys of ``VIEW_DEFAULTS`` and ``schedule_preset.{knob}``)
    as URL query parameters: only values that differ from their defaults, in Explore's keys where the meaning is
    the same (``race.to_query``). ``hyper`` and the ranges are written whenever set (None: the default)."""
    default = MapConfig()
    query = {} if config.surface == default.surface else {"surface": config.surface}
    query.update(race.surface_params_query(config.surface, config.surface_params, surface_defaults(config.surface)))
    if config.optimizer != default.optimizer:
        query["opt"] = config.optimizer
    if config.y != y_axes(config.optimizer, config.surface)[0]:
        query["y"] = config.y
    query.update({f"{config.optimizer}.{key}": race.encode(value) for key, value in config.hyper.items()})
    for key in _SCALARS:
        value = getattr(config, key)
        if value is not None and value != getattr(default, key):
            query[key] = race.encode(value)
    view = {**VIEW_DEFAULTS, **(view or {})}
    knobs = schedule_presets.PRESETS[view[PRESET_KEY]].knobs
    for key, fallback in [*VIEW_DEFAULTS.items(), *((f"{PRESET_KEY}.{k.key}", k.default) for k in knobs)]:
        value = view.get(key, fallback)
        value = tuple(value) if isinstance(value, list) else value
        if value is not None and value != fallback:
            query[key] = race.encode(value)
    return query


def from_query(query: Mapping[str, str]) -> tuple[MapConfig, dict[str, Any], list[str]]:
    """A map configuration and the Sweeps page's view settings from URL parameters (``to_query``'s keys), and one
    message per refused value: it falls back to its default and the rest of the URL still applies. Every value is
    read by ``losslab.overrides`` and checked by ``MapConfig.validate`` (or the view's own check). Never raises.

    Keys of other pages are not judged (an optimizer's keywords count for the map's optimizer only); ``opt`` names
    one optimizer here. ``surface_params`` come back complete, the view with every key of ``VIEW_DEFAULTS`` and the
    preset's knobs."""
    query = {str(key): str(text) for key, text in query.items()}
    messages = [race.oversized(key, text) for key, text in query.items() if race.oversized(key, text)]
    query = {key: text for key, text in query.items() if not race.oversized(key, text)}

    def refuse(key: str, error: str | Exception) -> None:
        messages.append(f"Ignored URL parameter {key}={query[key]!r} ({error}); using the default.")

    def choose(key: str, valid: Sequence[str], fallback: str, rule: str) -> str:
        if key in query and query[key] not in valid:
            refuse(key, f"{rule}: {', '.join(valid)}")
        return query[key] if query.get(key) in valid else fallback

    default = MapConfig()
    surface = choose("surface", surfaces(), default.surface, "valid for a map")
    params = {**surface_defaults(surface), **race.surface_params_from_query(surface, query, refuse)}
    optimizer = default.optimizer
    if len(query.get("opt", "").split(",")) > 1:
        refuse("opt", "a map has one optimizer")
    else:
        optimizer = choose("opt", optimizers.names(), optimizer, "valid")
    axes = y_axes(optimizer, surface)
    config = MapConfig(surface=surface, surface_params=params, optimizer=optimizer,
                       y=choose("y", axes, axes[0], f"valid for {optimizer} on {surface}"))
    try:  # each parameter is valid alone; together they may not be
        config.validate()
    except ValueError as error:
        messages.append(f"Ignored the URL's {surface} parameters ({error}); using the defaults.")
        config = dataclasses.replace(config, surface_params=surface_defaults(surface))

    try:  # a wrapper's base (SAM's, Lookahead's) decides its other keywords
        defaults = race.optimizer_defaults(optimizer, surface, query.get(f"{optimizer}.base_optimizer"))
    except ValueError as error:
        refuse(f"{optimizer}.base_optimizer", error)
        defaults = race.optimizer_defaults(optimizer, surface)
    hyper_keys = {f"{optimizer}.{key}": (key, fallback) for key, fallback in defaults.items()}
    values = {}  # query key -> its value, read
    for key in [*hyper_keys, *_SCALARS]:
        if key in query:
            try:
                values[key] = (overrides.like(query[key], hyper_keys[key][1]) if key in hyper_keys
                               else _SCALARS[key](query[key]))
            except ValueError as error:
                refuse(key, error)

    def using(config: MapConfig, chosen: dict[str, Any]) -> MapConfig:
        hyper = {**config.hyper, **{hyper_keys[key][0]: value for key, value in chosen.items() if key in hyper_keys}}
        fields = {key: value for key, value in chosen.items() if key in _SCALARS}
        return dataclasses.replace(config, hyper=hyper, **fields).validate()

    try:
        config = using(config, values)
    except ValueError:  # not valid together: each in turn, the first that breaks the configuration refused
        for key, value in values.items():
            try:
                config = using(config, {key: value})
            except ValueError as error:
                refuse(key, error)
    return config, _view_from_query(query, config, choose, refuse), messages


def _view_from_query(query: dict[str, str], config: MapConfig, choose: Any, refuse: Any) -> dict[str, Any]:
    """The Sweeps page's view settings (``from_query``'s second part)."""
    view = dict(VIEW_DEFAULTS)
    view["view"] = choose("view", VIEWS, view["view"], "valid")
    view["metric"] = choose("metric", METRICS, view["metric"], "valid")
    view[PRESET_KEY] = preset = choose(PRESET_KEY, list(schedule_presets.PRESETS), view[PRESET_KEY], "valid")
    knobs = {f"{PRESET_KEY}.{knob.key}": knob for knob in schedule_presets.PRESETS[preset].knobs}
    view.update({key: knob.default for key, knob in knobs.items()})

    def knob(key: str, text: str) -> float:
        value = overrides.integer(text) if knobs[key].integer else overrides.number(text)
        schedule_presets.schedule_config(preset, max(config.steps, 1), {knobs[key].key: value})  # its range
        return value

    readers = {"curve_opt": _optimizer_list, "points": _points, "base_lr": _base_lr, "search_seed": _search_seed,
               "budget": lambda text: check_budget(overrides.integer(text)),
               **{key: lambda text, key=key: knob(key, text) for key in knobs}}
    for key in query:
        if key.startswith(f"{PRESET_KEY}.") and key not in knobs:
            refuse(key, f"not a parameter of the {preset} schedule; valid: {', '.join(knobs) or 'none'}")
    for key, read in readers.items():
        if key in query:
            try:
                view[key] = read(query[key])
            except ValueError as error:
                refuse(key, error)
    return view


def _optimizer_list(text: str) -> tuple[str, ...]:
    names = tuple(text.split(",")) if text else ()
    if any(name not in optimizers.names() for name in names) or len(set(names)) != len(names):
        raise ValueError(f"must be distinct names among {', '.join(optimizers.names())}")
    return names


def _points(text: str) -> int:
    points = overrides.integer(text)
    _check_int("points", points, MIN_CELLS, MAX_CURVE_POINTS)
    return points


def _base_lr(text: str) -> float:
    value, axis = overrides.number(text), AXES["lr"]
    if not axis.low <= value <= axis.high:
        raise ValueError(f"must be in [{axis.low:g}, {axis.high:g}]")
    return value


def _search_seed(text: str) -> int:
    seed = overrides.integer(text)
    if not 0 <= seed < 2**63:
        raise ValueError("must be an integer in [0, 2**63)")
    return seed


__all__ = ["AXES", "MAX_CELLS", "METRICS", "Cells", "ConditionRows", "Curve", "HyperMap", "MapConfig", "axis_for",
           "check_budget", "divergence_boundary", "evaluate", "explore_query", "from_query", "hyper_map", "lr_curves",
           "map_rows", "race_config", "surfaces", "sweep_inputs", "to_query", "y_axes"]
