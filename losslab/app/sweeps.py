"""Sweeps: where each optimizer converges, how fast, and where it diverges, over thousands of configurations.

Thin page: sidebar widgets -> ``losslab.maps.MapConfig`` -> cached library calls (``losslab.maps``,
``losslab.tuning``, ``losslab.schedule_presets``, ``losslab.theory``) -> ``plots.sweeps`` figures. One view
is computed at a time. A click on a map cell, a curve point or a tried configuration (Plotly selection
events on invisible markers: a heatmap does not select) opens that configuration on Explore through
Explore's URL query parameters (``losslab.maps.explore_query``). Caches are keyed on the typed configs. Every
setting is in the URL (``sweeps_state``: ``maps.to_query``/``from_query``, Explore's keys where the meaning is the
same).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import streamlit as st

import landscapes
import optimizers
import plots
import plots.sweeps as sweep_plots
from losslab import budget as compute_budget
from losslab import maps, race, schedule_presets, theory, tuning
from losslab.app import export_panel, heavy, race_cache
from losslab.app import sweeps_state as url
from losslab.app.explore_sidebar import MAX_SEED
from losslab.app.frozen import freeze
from losslab.app.markdown import escape
from losslab.app.sweeps_state import BUDGETS, CELL_OPTIONS, LR_OPTIONS, MAX_NOISE, TOL_OPTIONS
from losslab.grids import COARSE, log_grid
from optimizers import catalogue
from plots.export import rows_csv

EXPLORE = Path(__file__).resolve().parent / "explore.py"
VIEWS = tuple(url.VIEWS.values())
METRIC_NAMES = {"final_loss": "final loss", "best_loss": "best loss", "steps_to_tol": "steps to tolerance"}

state = st.session_state


# --- cached computations ------------------------------------------------------------------------


BY_SETTINGS = {maps.MapConfig: repr, **race_cache.BY_SETTINGS}  # a config's repr names every setting


@st.cache_data(max_entries=16, show_spinner=False, hash_funcs=BY_SETTINGS)
def _map(config: maps.MapConfig) -> maps.HyperMap:
    return heavy.run(lambda: maps.hyper_map(config), "Computing the map", compute_budget.map_cost(config).seconds)


@st.cache_resource(max_entries=16, show_spinner=False, hash_funcs=BY_SETTINGS)
def _map_figure(config: maps.MapConfig, metric: str) -> Any:
    hmap = _map(config)
    overlays = theory.map_overlays(hmap.config, hmap.y)
    return freeze(sweep_plots.map_figure(hmap, metric, maps.divergence_boundary(hmap), overlays))


@st.cache_data(max_entries=8, show_spinner=False, hash_funcs=BY_SETTINGS)
def _curves(config: maps.MapConfig, names: tuple[str, ...], points: int) -> dict[str, maps.Curve]:
    return heavy.run(lambda: maps.lr_curves(config, names, points), "Computing the curves",
                     compute_budget.curves_cost(config, names, points).seconds)


@st.cache_data(max_entries=8, show_spinner=False, hash_funcs=BY_SETTINGS)
def _searches(config: maps.MapConfig, budget: int, seed: int) -> dict[str, tuning.Search]:
    return heavy.run(lambda: tuning.tune(config, budget, seed), "Running the searches",
                     compute_budget.tune_cost(config, budget).seconds)


@st.cache_resource(max_entries=8, show_spinner=False, hash_funcs=BY_SETTINGS)
def _scheduled_figures(config: race.RaceConfig, schedule: dict[str, Any], label: str) -> tuple[Any, Any]:
    """The race with and without the schedule, and its loss curves (built once per race and schedule)."""
    trajectories = schedule_presets.scheduled_race(config, schedule, label)
    surface = race_cache.surface(config.surface, config.surface_params)
    layer = race_cache.layer(config.surface, config.surface_params)
    return (freeze(plots.race_figure(surface, trajectories, frames=30, layer=layer)),
            freeze(plots.curves_figure(surface, trajectories)))


# --- widgets ---------------------------------------------------------------------------------


def _surface_widgets(sidebar: Any) -> tuple[str, dict[str, float]]:
    state.setdefault("sweeps.surface", "rosenbrock")
    surface = sidebar.selectbox("surface", maps.surfaces(), key="sweeps.surface", persist_state="page")
    params = {}
    for spec in landscapes.parameters(surface):
        key = url.param_key(surface, spec.name)
        state.setdefault(key, float(maps.surface_defaults(surface)[spec.name]))
        if spec.log:
            options = sorted({*log_grid(spec.low, spec.high, COARSE), float(state[key])})
            params[spec.name] = float(sidebar.select_slider(f"{spec.name}: {spec.doc}", options=options, key=key,
                                                            persist_state="page"))
        else:
            params[spec.name] = float(sidebar.slider(f"{spec.name}: {spec.doc}", float(spec.low), float(spec.high),
                                                     key=key, persist_state="page"))
    return surface, params


def _log_range(sidebar: Any, label: str, key: str, options: list[float] | tuple[float, ...],
               default: tuple[float, float]) -> tuple[float, float]:
    """A log range as two select sliders, "from" and "to" (nearest options to ``default`` at first)."""
    ends = []
    for end, value in zip(("from", "to"), default):
        wkey = f"{key}.{end}"
        state.setdefault(wkey, url.nearest(options, value))
        ends.append(float(sidebar.select_slider(f"{label}: {end}", options=options, key=wkey,
                                                format_func=lambda v: f"{v:g}", persist_state="page")))
    return ends[0], ends[1]


def _y_widgets(sidebar: Any, config: maps.MapConfig) -> tuple[float, float]:
    """The y range of the map (its own widget per axis and surface, so each keeps its value)."""
    axis = maps.AXES[config.y]
    low, high = maps.default_y_range(config)
    key, options = url.y_range_key(config), url.y_options(config)
    if axis.log:
        return _log_range(sidebar, axis.label, key, options, (low, high))
    else:
        floor, limit = options
        state.setdefault(key, (round(low, 3), round(high, 3)))
        chosen = sidebar.slider(f"{axis.label} range", floor, limit, step=0.001, key=key, persist_state="page")
    return float(chosen[0]), float(chosen[1])


def sidebar_config() -> maps.MapConfig:
    """Draw the sidebar; the map configuration it describes."""
    sidebar = st.sidebar
    sidebar.header("Problem")
    surface, params = _surface_widgets(sidebar)
    state.setdefault("sweeps.optimizer", "momentum")
    optimizer = sidebar.selectbox("optimizer", optimizers.names(), key="sweeps.optimizer", persist_state="page")
    base = _base_widget(sidebar, optimizer)
    state.setdefault("sweeps.steps", 1000)
    steps = sidebar.slider("steps", 10, maps.MAX_STEPS, step=10, key="sweeps.steps", persist_state="page")
    state.setdefault("sweeps.noise", 0.0)
    noise = sidebar.number_input("gradient noise σ", min_value=0.0, max_value=MAX_NOISE, step=0.1, format="%g",
                                 key="sweeps.noise", persist_state="page", help="g = ∇f(θ) + σξ, ξ ~ N(0, I)")
    seeds = 1
    if noise > 0:
        state.setdefault("sweeps.seeds", 3)
        seeds = sidebar.slider("repeats per cell (mean over seeds)", 1, maps.MAX_SEEDS, key="sweeps.seeds",
                               persist_state="page")
    state.setdefault("sweeps.seed", 0)
    seed = sidebar.number_input("seed", min_value=0, max_value=MAX_SEED, step=1, key="sweeps.seed",
                                persist_state="page", help="the gradient noise's stream (σ > 0)")
    start = _start_widgets(sidebar, surface, params)

    sidebar.header("Map")
    axes = maps.y_axes(optimizer, surface)
    state.setdefault("sweeps.y", axes[0])
    if state["sweeps.y"] not in axes:
        state["sweeps.y"] = axes[0]
    y = sidebar.selectbox("y axis", axes, key="sweeps.y", format_func=lambda k: maps.AXES[k].label,
                          persist_state="page")
    lr_range = _log_range(sidebar, "learning rate ρ", "sweeps.lr_range", LR_OPTIONS, url.DEFAULT_LR_RANGE)
    state.setdefault("sweeps.cells", 64)
    cells = sidebar.select_slider("cells per axis", options=CELL_OPTIONS, key="sweeps.cells", persist_state="page")
    state.setdefault("sweeps.tol", maps.MapConfig.tol)
    tol = sidebar.select_slider("tolerance (steps to f* + tol)", options=TOL_OPTIONS, key="sweeps.tol",
                                format_func=lambda v: f"{v:g}", persist_state="page")
    config = maps.MapConfig(surface=surface, surface_params=params, optimizer=optimizer, y=y,
                            lr_range=lr_range, cells=int(cells), steps=int(steps), start=start, noise=float(noise),
                            seeds=int(seeds), seed=int(seed), tol=float(tol),
                            hyper={**base, **_fixed_widgets(sidebar, optimizer, y)})
    return dataclasses.replace(config, y_range=_y_widgets(sidebar, config))


def _start_widgets(sidebar: Any, surface: str, params: dict[str, float]) -> tuple[float, float] | None:
    """The start (each surface keeps its own); None while it is the surface's default start."""
    default = tuple(float(v) for v in landscapes.get(surface, **params).default_start)
    left, right = sidebar.columns(2)
    chosen = []
    for column, key, value, label in zip((left, right), url.start_keys(surface), default, ("start x", "start y")):
        state.setdefault(key, value)
        chosen.append(float(column.number_input(label, step=0.1, format="%.4g", key=key, persist_state="page")))
    return None if tuple(chosen) == default else (chosen[0], chosen[1])


def _base_widget(sidebar: Any, optimizer: str) -> dict[str, Any]:
    """A wrapper's (SAM's, Lookahead's) base optimizer: ``{"base_optimizer": name}`` where it is not the default."""
    rule = optimizers.RULES[optimizer]
    if not rule.wraps:
        return {}
    default = rule.defaults["base_optimizer"]
    state.setdefault("sweeps.base", default)
    spec = catalogue.spec("base_optimizer")
    base = sidebar.selectbox(spec.label, spec.choices, key="sweeps.base", help=spec.doc, persist_state="page")
    return {} if base == default else {"base_optimizer": base}


def _fixed_widgets(sidebar: Any, optimizer: str, y: str) -> dict[str, Any]:
    """The optimizer's own swept quantity (α, β₁, ρ_r) held fixed when the map's y axis is another one."""
    own = maps.OWN_AXIS.get(optimizer)
    if own is None or own == y:
        return {}
    defaults = race.optimizer_defaults(optimizer)
    default = defaults["betas"][0] if own == "beta1" else defaults[own]
    key = url.fixed_key(optimizer, own)
    state.setdefault(key, float(default))
    value = float(sidebar.slider(f"{maps.AXES[own].label} (fixed)", *url.fixed_range(optimizer, own), step=0.001,
                                 key=key, persist_state="page"))
    if value == default:  # the optimizer's own default: nothing to hold
        return {}
    return {"betas": (value, defaults["betas"][1])} if own == "beta1" else {own: value}


# --- click-through to Explore ----------------------------------------------------------------------


def _on_select(view: str) -> Any:
    """A selection callback: remember the clicked point's ``customdata`` for the next run."""

    def remember() -> None:
        points = ((state.get(f"sweeps.chart.{view}") or {}).get("selection") or {}).get("points") or []
        if points and points[0].get("customdata") is not None:
            state["sweeps.click"] = {"view": view, "point": list(points[0]["customdata"])}

    return remember


def open_clicked(config: maps.MapConfig) -> None:
    """Switch to Explore with the query parameters of the clicked configuration, if a click is pending."""
    click = state.pop("sweeps.click", None)
    if not click:
        return
    try:
        if click["view"] == "curves":  # (optimizer, ρ): the optimizer's own other hyper-parameters
            name, lr = click["point"]
            query = maps.explore_query(config, float(lr), None, optimizer=str(name))
        else:
            lr, y = (float(v) for v in click["point"])
            query = maps.explore_query(config, lr, y)
    except (TypeError, ValueError, KeyError):
        query = None
    if query is not None:
        st.switch_page(EXPLORE, query_params=query)


# --- the views ------------------------------------------------------------------------------------


def map_view(config: maps.MapConfig) -> None:
    metric = st.radio("colour by", maps.METRICS, key="sweeps.metric", horizontal=True,
                      format_func=METRIC_NAMES.get, persist_state="page")
    try:
        figure = _map_figure(config, metric)
    except ValueError as error:  # over the compute budget: say what to reduce, keep the page
        st.error(escape(error))
        return
    st.plotly_chart(figure, key="sweeps.chart.map", on_select=_on_select("map"), selection_mode="points",
                    theme=None)
    hmap = _map(config)
    caption = (f"{len(hmap.lr)} × {len(hmap.y)} = {hmap.lr.size * hmap.y.size} configurations in one batched sweep. "
               "Hatched: diverged (not a value of the colour scale); black line: the measured divergence boundary. "
               "Click a cell to open it on Explore (α, β₁ and ρ_r rounded to 0.001).")
    if config.noise > 0:
        caption += (f" With σ > 0 each cell is the mean of {config.seeds} repeats with different noise; it counts "
                    "as diverged if any repeat diverged. Explore replays one run with its own noise stream.")
    if theory.map_overlays(config, hmap.y):
        caption += " Theory (quadratic): λ_min = 1, λ_max = κ."
    st.caption(caption)
    export_panel.download_section("sweeps.export", f"{config!r}/{metric}", f"map-{config.surface}-{config.optimizer}",
                                  _map_producers(figure, hmap))


def _map_producers(figure: Any, hmap: maps.HyperMap) -> dict[str, Any]:
    """The map as an image or interactive HTML (the figure) and its cells as CSV."""
    return {**export_panel.figure_producers(figure),
            "csv": lambda _settings, _progress: rows_csv(maps.map_rows(hmap)).encode("utf-8")}


def curves_view(config: maps.MapConfig) -> None:
    names = st.multiselect("optimizers", optimizers.names(), key="sweeps.curve_optimizers", persist_state="page")
    points = st.slider("learning rates per optimizer", url.MIN_POINTS, maps.MAX_CURVE_POINTS, key="sweeps.points",
                       persist_state="page")
    if not names:
        st.info("Select at least one optimizer.")
        return
    try:
        curves = _curves(config, tuple(names), int(points))
    except ValueError as error:
        st.error(escape(error))
        return
    reference = config.landscape().minimum_value
    figure = sweep_plots.lr_curve_figure(curves, reference if reference is not None else _lowest(curves))
    st.plotly_chart(figure, key="sweeps.chart.curves", on_select=_on_select("curves"), selection_mode="points",
                    theme=None)
    st.caption("Final loss after the same steps from the same start, each optimizer with its own default "
               "hyper-parameters: a flat, wide valley means the optimizer is insensitive to ρ. Click a point to open "
               "it on Explore.")


def _lowest(curves: dict[str, maps.Curve]) -> float:
    values = [c.cells.final_loss[~c.cells.diverged].min() for c in curves.values() if (~c.cells.diverged).any()]
    return float(min(values)) if values else 0.0


def schedules_view(config: maps.MapConfig) -> None:
    left, right = st.columns([1, 2])
    preset = left.selectbox("schedule", list(schedule_presets.PRESETS), key="sweeps.schedule",
                            format_func=lambda p: schedule_presets.PRESETS[p].label, persist_state="page")
    values = {}
    for knob in schedule_presets.PRESETS[preset].knobs:
        wkey = url.knob_key(preset, knob.key)
        state.setdefault(wkey, float(knob.default))
        values[knob.key] = left.number_input(knob.label, min_value=knob.low, max_value=knob.high, key=wkey,
                                             format="%g", step=(knob.high - knob.low) / 100, persist_state="page")
    base_lr = left.select_slider("base learning rate ρ₀", options=LR_OPTIONS, key="sweeps.base_lr",
                                 format_func=lambda v: f"{v:g}", persist_state="page")
    steps = min(config.steps, race.MAX_RACE_STEPS)
    try:
        chosen = schedule_presets.schedule_config(preset, steps, values)
    except ValueError as error:
        st.error(escape(error))
        return
    rates = {schedule_presets.PRESETS[p].label: schedule_presets.learning_rates(
        chosen if p == preset else schedule_presets.schedule_config(p, steps), float(base_lr), steps)
        for p in schedule_presets.PRESETS}
    right.plotly_chart(sweep_plots.schedule_figure(rates), key="sweeps.chart.rates", theme=None)

    race_config = race.RaceConfig(surface=config.surface, surface_params=config.surface_params,
                                  optimizers={config.optimizer: {**config.hyperparameters(), "lr": float(base_lr)}},
                                  steps=steps, noise=config.noise, seed=config.seed)
    race_figure, curves_figure = _scheduled_figures(race_config, chosen, preset)
    st.plotly_chart(race_figure, key="sweeps.chart.schedule_race", theme=None)
    st.plotly_chart(curves_figure, key="sweeps.chart.schedule_loss", theme=None)
    if st.button("Open the scheduled race on Explore", key="sweeps.open_schedule"):
        st.switch_page(EXPLORE, query_params=race.to_query(dataclasses.replace(race_config, schedule=chosen)))


def tuning_view(config: maps.MapConfig) -> None:
    left, right = st.columns(2)
    budget = left.select_slider("budget N (runs per search)", options=BUDGETS, key="sweeps.budget",
                                persist_state="page")
    seed = right.number_input("search seed", min_value=0, max_value=url.MAX_SEARCH_SEED, step=1,
                              key="sweeps.search_seed", persist_state="page")
    try:
        searches = _searches(config, int(budget), int(seed))
    except ValueError as error:  # the budget × repeats × steps over the work cap: say so, keep the page
        st.error(escape(f"{error}. Lower the budget, the steps or the noise repeats."))
        return
    minimum = config.landscape().minimum_value
    finite = [s.best_so_far[-1] for s in searches.values() if math.isfinite(s.best_so_far[-1])]
    reference = minimum if minimum is not None else (min(finite) if finite else 0.0)
    axis = maps.AXES[config.y]
    curve, points = sweep_plots.search_figures(searches, reference, axis.label, axis.log)
    left, right = st.columns(2)
    left.plotly_chart(curve, key="sweeps.chart.search_curve", theme=None)
    right.plotly_chart(points, key="sweeps.chart.search_points", on_select=_on_select("tuning"),
                       selection_mode="points", theme=None)
    for column, (name, search) in zip(st.columns(len(searches)), searches.items()):
        if search.best < 0:
            column.warning(f"{name} search: every run diverged.")
            continue
        lr, y = float(search.lr[search.best]), float(search.y[search.best])
        column.metric(f"{name} search: best final loss", f"{search.final_loss[search.best]:.4g}",
                      help=f"ρ = {lr:.4g}, {axis.symbol} = {y:.4g}")
        if column.button(f"Open the {name} search's best on Explore", key=f"sweeps.open_{name}"):
            st.switch_page(EXPLORE, query_params=maps.explore_query(config, lr, y))
    st.caption(f"Grid search runs the √N × √N grid (in a random order), random search N configurations drawn "
               f"uniformly in (log ρ, {axis.symbol}); both are one batched sweep of 2N runs (Bergstra & Bengio 2012: "
               "when one hyper-parameter matters more, random search tries N of its values, the grid √N).")


def main() -> None:
    url.load_url()
    config = sidebar_config()
    url.view_defaults(config)
    url.URL.write(maps.to_query(config, url.view_settings(config)))
    url.URL.warn()
    try:
        config.validate()
    except ValueError as error:
        st.error(escape(error))
        return
    open_clicked(config)
    view = st.segmented_control("view", VIEWS, key="sweeps.view", persist_state="page", label_visibility="collapsed")
    view = view or VIEWS[0]
    {"Map": map_view, "Learning-rate curves": curves_view, "Schedules": schedules_view,
     "Tuning": tuning_view}[view](config)


main()
