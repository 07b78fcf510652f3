"""The gallery: every optimizer (or a chosen few) on one surface, each at its best learning rate ρ.

>>> from losslab import gallery
>>> shown = gallery.gallery(gallery.GalleryConfig(surface="rastrigin", optimizers=("sgd", "adam")))
>>> png = gallery.export(shown, "png")

Tuning is the project's own: per optimizer one batched ``optimizers.sweep`` of ``points`` log-spaced ρ over the
catalogue's ρ slider range (``optimizers.catalogue.spec("lr").ui``), through ``maps.lr_curves``; the best ρ has the
lowest final loss among the rows that did not diverge, ties broken by fewer steps to tolerance
(``maps.best_index``). Each optimizer then runs at its best ρ through the one race pipeline (``race.run_one``)
for its path, and ``plots.gallery`` draws the small multiples. Every other hyper-parameter is the race's default
on the surface (``race.optimizer_defaults``).

Every optimizer gets the same budget of gradient evaluations, ``steps``: one per step for most, so ``steps`` steps;
SAM's step takes two, so half as many; an LBFGS step up to ``max_eval`` (25), so ⌊steps/25⌋ steps
(:meth:`GalleryConfig.steps_of`). Its panel says so.

An optimizer that diverged at every ρ has no path and its panel says so. An optimizer that fails (one being
written while the gallery runs) is skipped with its reason (``Gallery.skipped``), never fatal unless every one
fails. The compute budget (``losslab.budget``) is checked on the whole gallery before any work.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

import landscapes
import optimizers
import plots.gallery as gallery_plots
from optimizers import catalogue
from plots.export import rows_csv
from plots.style import surface_title

from . import budget as compute_budget
from . import exports, maps, overrides, race

DEFAULT_SURFACE = "rosenbrock"
DEFAULT_STEPS = 1000
DEFAULT_POINTS = 64
MIN_STEPS, MAX_STEPS = 1, maps.MAX_STEPS
MIN_POINTS, MAX_POINTS = maps.MIN_CELLS, maps.MAX_CURVE_POINTS
LR_RANGE = tuple(float(v) for v in catalogue.spec("lr").ui)  # the ρ sliders' range: every best ρ opens on Explore
FORMATS = (*exports.FIGURE_FORMATS, "csv")  # the figure, and the table as CSV
FUSED_SETUP_S = 1.0  # numba's import and the first loads of the tuning's cached fused kernels, once per process


@dataclass(frozen=True)
class GalleryConfig:
    """What determines a gallery. ``surface_params``: the surface's parameters (missing ones: the Sweeps page's
    defaults, ``maps.surface_defaults``); ``optimizers``: the chosen ones in order, () every optimizer;
    ``start`` None: the surface's default start."""

    surface: str = DEFAULT_SURFACE
    surface_params: dict[str, float] = field(default_factory=dict)
    steps: int = DEFAULT_STEPS
    points: int = DEFAULT_POINTS
    start: tuple[float, float] | None = None
    optimizers: tuple[str, ...] = ()

    def names(self) -> list[str]:
        """The optimizers shown, in order (every one of ``optimizers.names()`` when none is chosen)."""
        return list(self.optimizers) if self.optimizers else optimizers.names()

    def params(self) -> dict[str, float]:
        return {**maps.surface_defaults(self.surface), **self.surface_params}

    def landscape(self) -> Any:
        return landscapes.get(self.surface, **self.params())

    def steps_of(self, name: str) -> int:
        """Optimizer ``name``'s steps: ``steps`` gradient evaluations' worth, the most its steps take (1 a step;
        SAM's 2; LBFGS's ``max_eval``), at least one step."""
        hyper = race.optimizer_defaults(name, self.surface)
        return max(1, int(self.steps) // compute_budget.evaluations_per_step(name, hyper))

    def map_config(self, name: str | None = None) -> maps.MapConfig:
        """The learning-rate curves' configuration (``maps.lr_curves``): this surface, start and steps (optimizer
        ``name``'s, :meth:`steps_of`), ρ over LR_RANGE."""
        steps = int(self.steps) if name is None else self.steps_of(name)
        return maps.MapConfig(surface=self.surface, surface_params=self.params(), steps=steps,
                              start=self.start, lr_range=LR_RANGE, cells=maps.MIN_CELLS)

    def validate(self) -> GalleryConfig:
        """Raise ``ValueError`` naming the first bad setting and its range (no work)."""
        valid = maps.surfaces()
        if self.surface not in valid:
            raise ValueError(f"Invalid surface value: {self.surface!r} (valid: {', '.join(valid)})")
        _check_int("steps", self.steps, MIN_STEPS, MAX_STEPS)
        _check_int("points", self.points, MIN_POINTS, MAX_POINTS)
        names = list(self.optimizers)
        unknown = [name for name in names if name not in optimizers.names()]
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"Invalid optimizers value: {names!r} (distinct names from: "
                             f"{', '.join(optimizers.names())}; none: every optimizer)")
        if self.start is not None:
            try:
                x, y = (float(v) for v in self.start)
            except (TypeError, ValueError):
                x = y = math.nan
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"Invalid start value: {self.start!r} (must be two finite numbers x, y)")
        self.landscape()  # the surface's parameters, each checked against its range
        return self


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"Invalid {name} value: {value!r} (must be an integer in [{low}, {high}])")


def race_config(config: GalleryConfig, name: str, lr: float) -> race.RaceConfig:
    """The race of optimizer ``name`` at ρ = ``lr`` on the gallery's surface (what its panel draws, and what
    opens on Explore)."""
    return maps.race_config(config.map_config(name), lr, None, optimizer=name)


def cost(config: GalleryConfig) -> compute_budget.Cost:
    """The gallery's estimate (``losslab.budget``): the surface, one sweep of ``points`` rows per optimizer, one
    race per optimizer, and the landscape drawn once.

    Every sweep is estimated at the numpy kernel's cost, an upper bound: the fused numba kernel takes ~1/40 of it
    where it runs (``budget.curves_cost`` counts it for sweeps of 256 rows or more only; a smaller sweep takes it
    where numba has it ready, :func:`_fused_tuning`, and the rules that evaluate f several times a step have none)."""
    names, params = config.names(), config.params()
    work = compute_budget.surface_work(config.surface, params)
    if work is None:  # invalid parameters: validate() refuses them
        return compute_budget.Cost()
    races = compute_budget.Cost()
    for name in names:
        paths = race.RaceConfig(surface=config.surface, surface_params=params, optimizers={name: {}},
                                steps=config.steps_of(name))
        races += compute_budget.race_cost(paths, built=True)
    return (compute_budget.build_cost(config.surface, params)
            + _tuning_cost(config, work)
            + races
            + compute_budget.grid_cost(config.surface, params, gallery_plots.PANEL_RESOLUTION, chosen=False))


def _tuning_cost(config: GalleryConfig, work: compute_budget.Work) -> compute_budget.Cost:
    """The tuning's sweeps, one of ``points`` rows per optimizer over its steps (:meth:`GalleryConfig.steps_of`), at
    the numpy kernel's cost (with an LBFGS step's inner iterations)."""
    names, points = config.names(), int(config.points)
    knobs = (f"points ({points})", f"steps ({max(int(config.steps), 0)})", f"optimizers ({len(names)})")
    unfused = work._replace(kind="other") if work.kind == "formula" else work  # the numpy kernel's estimate
    total = compute_budget.Cost()
    for name in names:
        total += compute_budget.sweep_cost(unfused, points, config.steps_of(name), False, knobs, optimizer=name)
    return total


def _fused_tuning(config: GalleryConfig) -> None:
    """Import the fused kernels (``optimizers.fast``: numba) where the tuning's numpy estimate exceeds what that import
    and the first loads of cached kernels cost (``FUSED_SETUP_S``, once per process; the default gallery's tuning:
    ~2 s). Its sweeps of ``points`` rows, below ``engine.FAST_PATH_MIN_ROWS``, then run in the fused kernel wherever
    numba has it compiled or cached on disk (a 64-row, 1000-step sweep: ~0.001 s against ~0.04 s), and in the numpy
    kernel elsewhere: a gallery never waits for a compile (~3 s a kernel)."""
    work = compute_budget.surface_work(config.surface, config.params())
    if work is not None and work.kind == "formula" and _tuning_cost(config, work).seconds > FUSED_SETUP_S:
        importlib.import_module("optimizers.fast")


class Result(NamedTuple):
    """One optimizer's part: its sweep over ρ (``curve``; ``curve.best`` -1: it diverged at every ρ) and its race
    at the best ρ (None when there is none)."""

    optimizer: str
    curve: maps.Curve
    trajectory: optimizers.Trajectory | None

    @property
    def lr(self) -> float | None:
        return float(self.curve.lr[self.curve.best]) if self.curve.best >= 0 else None

    @property
    def final_loss(self) -> float | None:
        return float(self.curve.cells.final_loss[self.curve.best]) if self.curve.best >= 0 else None

    @property
    def steps_to_tol(self) -> int | None:
        """Steps to f* + tol at the best ρ; None where it never got there (or diverged at every ρ)."""
        if self.curve.best < 0 or self.curve.cells.steps_to_tol[self.curve.best] < 0:
            return None
        return int(self.curve.cells.steps_to_tol[self.curve.best])

    @property
    def diverged(self) -> int:
        """How many of the ρ diverged."""
        return int(np.count_nonzero(self.curve.cells.diverged))


@dataclass(frozen=True)
class Gallery:
    """A computed gallery: the results in the order chosen, and the optimizers skipped with their reason."""

    config: GalleryConfig
    results: dict[str, Result]
    skipped: dict[str, str]


def gallery(config: GalleryConfig, budget: float | None = None) -> Gallery:
    """Tune every chosen optimizer on ``config``'s surface and race it at its best ρ.

    Bad settings: ``ValueError``; above the compute budget (``budget`` seconds, None the default, ``math.inf``
    none): ``BudgetExceeded``, both before any work. An optimizer that fails is skipped (``Gallery.skipped``);
    ``ValueError`` when every one does."""
    config.validate()
    compute_budget.check(cost(config), budget, "This gallery")
    surface = config.landscape()
    _fused_tuning(config)
    results: dict[str, Result] = {}
    skipped: dict[str, str] = {}
    for name in config.names():
        try:
            curve = maps.lr_curves(config.map_config(name), [name], int(config.points), budget=math.inf)[name]
            trajectory = None
            if curve.best >= 0:
                ran = race_config(config, name, float(curve.lr[curve.best]))
                trajectory = race.run_one(ran, name, surface, budget=math.inf)
        except Exception as error:  # an optimizer being written must not take the others down
            skipped[name] = f"{type(error).__name__}: {error}".strip()
            continue
        results[name] = Result(name, curve, trajectory)
    if not results:
        raise ValueError("Every selected optimizer failed on this gallery: "
                         + "; ".join(f"{name} ({why})" for name, why in skipped.items()))
    return Gallery(config, results, skipped)


# --- what it shows --------------------------------------------------------------------------------------------


def panel_title(result: Result, config: GalleryConfig) -> str:
    """``name · ρ=…`` (with its steps where a step takes several gradient evaluations: ``lbfgs · ρ=1 · 40 steps``),
    or that it diverged at every ρ."""
    if result.lr is None:
        return f"{result.optimizer} · diverged at every ρ"
    name = result.optimizer
    steps = "" if optimizers.RULES[name].evaluations == 1 else f" · {config.steps_of(name)} steps"
    return f"{name} · ρ={result.lr:.3g}{steps}"


def panel_caption(result: Result, config: GalleryConfig) -> str:
    if result.trajectory is None:
        return f"{config.points} ρ from {LR_RANGE[0]:g} to {LR_RANGE[1]:g}"
    return f"final loss {float(result.trajectory.losses[0, -1]):.3g}"


def figure(shown: Gallery, layer: Any = None) -> Any:
    """The small multiples (``plots.gallery.gallery_figure``): one panel per optimizer, titled with its best ρ and
    its final loss; ``layer`` (``plots.gallery.panel_layer``) when the caller has it."""
    config = shown.config
    surface = config.landscape()
    panels = [gallery_plots.Panel(
        panel_title(result, config), panel_caption(result, config),
        None if result.trajectory is None else result.trajectory.points[0],
        -1 if result.trajectory is None else int(result.trajectory.diverged_at[0]))
        for result in shown.results.values()]
    start = config.start if config.start is not None else surface.default_start
    title = (f"{surface_title(surface)} · {config.steps} steps (∇f evaluations) · each optimizer at its best ρ of "
             f"{config.points} in [{LR_RANGE[0]:g}, {LR_RANGE[1]:g}]")
    return gallery_plots.gallery_figure(surface, panels, start, title=title, layer=layer)


def rows(shown: Gallery) -> list[dict[str, Any]]:
    """The table: per optimizer its best ρ, final loss, steps to tolerance, how many ρ diverged, and a note (a
    skipped optimizer's reason)."""
    table = []
    for name, result in shown.results.items():
        note = "" if result.lr is not None else "diverged at every ρ"
        table.append({"optimizer": name, "best_lr": result.lr, "final_loss": result.final_loss,
                      "steps_to_tol": result.steps_to_tol, "diverged_lrs": result.diverged, "note": note,
                      "steps": shown.config.steps_of(name)})
    for name, why in shown.skipped.items():
        table.append({"optimizer": name, "best_lr": None, "final_loss": None, "steps_to_tol": None,
                      "diverged_lrs": None, "note": f"skipped: {why}", "steps": shown.config.steps_of(name)})
    return table


def file_stem(config: GalleryConfig) -> str:
    """A download name without its suffix, such as ``gallery-rastrigin-1000-steps``."""
    return f"gallery-{config.surface}-{config.steps}-steps"


def export(shown: Gallery, fmt: str, settings: exports.ExportSettings | None = None, drawn: Any = None) -> bytes:
    """The gallery as PNG, SVG, PDF or HTML (``exports.figure_bytes``, the one export path; ``drawn``: the figure,
    when the caller has it) or its table as CSV."""
    if fmt == "csv":
        return rows_csv(rows(shown)).encode("utf-8")
    if fmt not in FORMATS:
        raise ValueError(f"Invalid format value: {fmt!r} (a gallery exports to {', '.join(FORMATS)})")
    return exports.figure_bytes(drawn if drawn is not None else figure(shown), fmt,
                                settings or exports.ExportSettings())


# --- URL query parameters: the Gallery page's settings, in Explore's keys ---------------------------------------


def to_query(config: GalleryConfig) -> dict[str, str]:
    """The settings as URL query parameters: only values that differ from their defaults (``opt`` only for a
    chosen few; none is every optimizer, the ones added later included)."""
    query = {} if config.surface == DEFAULT_SURFACE else {"surface": config.surface}
    query.update(race.surface_params_query(config.surface, config.params(), maps.surface_defaults(config.surface)))
    if config.steps != DEFAULT_STEPS:
        query["steps"] = str(config.steps)
    if config.points != DEFAULT_POINTS:
        query["points"] = str(config.points)
    if config.optimizers:
        query["opt"] = ",".join(config.optimizers)
    return query


def from_query(query: Mapping[str, str]) -> tuple[GalleryConfig, list[str]]:
    """The settings from URL parameters (``to_query``'s keys), and one message per refused value: it falls back
    to its default and the rest of the URL still applies. Unknown optimizers are dropped (a link from before one
    was renamed still opens). Never raises."""
    query = {str(key): str(text) for key, text in query.items()}
    messages = [race.oversized(key, text) for key, text in query.items() if race.oversized(key, text)]
    query = {key: text for key, text in query.items() if not race.oversized(key, text)}

    def refuse(key: str, error: str | Exception) -> None:
        messages.append(f"Ignored URL parameter {key}={query[key]!r} ({error}); using the default.")

    surface = query.get("surface", DEFAULT_SURFACE)
    if surface not in maps.surfaces():
        refuse("surface", f"valid: {', '.join(maps.surfaces())}")
        surface = DEFAULT_SURFACE
    params = race.surface_params_from_query(surface, query, refuse)
    config = GalleryConfig(surface=surface, surface_params=params)
    try:
        config.validate()
    except ValueError as error:  # each value valid alone, not together
        messages.append(f"Ignored the URL's {surface} parameters ({error}); using the defaults.")
        config = GalleryConfig(surface=surface)
    for key in ("steps", "points"):
        if key in query:
            try:
                config = replace(config, **{key: overrides.integer(query[key])}).validate()
            except ValueError as error:
                refuse(key, error)
    if "opt" in query:
        chosen = list(dict.fromkeys(name.strip() for name in query["opt"].split(",") if name.strip()))
        known = [name for name in chosen if name in optimizers.names()]
        unknown = ", ".join(name for name in chosen if name not in known)
        if not known:
            refuse("opt", f"valid optimizers: {', '.join(optimizers.names())}")
        elif unknown:
            messages.append(f"Ignored unknown optimizers in URL parameter opt: {unknown} (valid: "
                            f"{', '.join(optimizers.names())}).")
        config = replace(config, optimizers=tuple(known))
    return config, messages
