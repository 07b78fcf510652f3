"""Sweeps' settings in the URL: the query (``losslab.maps.from_query``: Explore's keys wherever the meaning is the same)
into the page's widget state, on a session's first run or when a link brings one (``url_state``), after fitting what
the widgets can hold; and the view widgets' settings back for ``maps.to_query``. Bad values become messages (the
default is used), never errors. The widget keys and their option grids live here, shared with the page.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import streamlit as st

import optimizers
from losslab import maps, race, schedule_presets
from losslab.app.explore_sidebar import MAX_SEED, plain
from losslab.app.url_state import UrlState
from losslab.grids import COARSE, LR_BOUNDS, log_grid

URL = UrlState("sweeps.")
state = st.session_state

LR_OPTIONS = tuple(log_grid(*LR_BOUNDS, COARSE))
DEFAULT_LR_RANGE = (1e-5, 1.0)
CELL_OPTIONS = (16, 24, 32, 48, 64, 96, maps.MAX_CELLS)
TOL_OPTIONS = tuple(log_grid(1e-12, 0.1, (1,)))
BUDGETS = (16, 25, 36, 49, 64, 100, 144, 256, 400, 1024)
STEPS_STEP = 10  # the steps slider's step, from STEPS_STEP to maps.MAX_STEPS
MAX_NOISE = 10.0
MIN_POINTS = 8
MAX_SEARCH_SEED = 2**31 - 1
VIEWS = {"map": "Map", "curves": "Learning-rate curves", "schedules": "Schedules", "tuning": "Tuning"}  # URL -> label
VIEW_KEYS = {"metric": "sweeps.metric", "curve_opt": "sweeps.curve_optimizers", "points": "sweeps.points",
             maps.PRESET_KEY: "sweeps.schedule", "budget": "sweeps.budget", "search_seed": "sweeps.search_seed"}


# --- widget keys and what they hold ------------------------------------------------------------------


def param_key(surface: str, name: str) -> str:
    return f"sweeps.{surface}.{name}"


def start_keys(surface: str) -> tuple[str, str]:
    return f"sweeps.start.{surface}.x", f"sweeps.start.{surface}.y"


def fixed_key(optimizer: str, own: str) -> str:
    return f"sweeps.fixed.{optimizer}.{own}"


def knob_key(preset: str, knob: str) -> str:
    return f"sweeps.schedule.{preset}.{knob}"


def y_range_key(config: maps.MapConfig) -> str:
    """The y range's widget: one per axis, surface and Nesterov or not, so that each keeps its value."""
    return f"sweeps.y_range.{config.y}.{config.surface}.{config.optimizer == 'nesterov'}"


def nearest(options: Sequence[float], value: float) -> float:
    """The option nearest to ``value`` on a log scale."""
    return min(options, key=lambda option: abs(math.log(option / value)))


def y_options(config: maps.MapConfig) -> tuple[float, float] | list[float]:
    """What the y range's widget holds: a log axis' option grid, or a linear axis' (floor, limit) in steps of 0.001."""
    axis = maps.AXES[config.y]
    if axis.log:
        return log_grid(axis.low, axis.high, COARSE)
    floor = 0.01 if config.optimizer == "nesterov" and config.y == "momentum" else axis.low
    return floor, math.floor(maps.axis_for(config.y, config.landscape()).high * 1000) / 1000


def fixed_range(optimizer: str, own: str) -> tuple[float, float]:
    """The slider range of the optimizer's own quantity held fixed (α, β₁, ρ_r; in steps of 0.001)."""
    return (0.01 if optimizer == "nesterov" else maps.AXES[own].low), maps.AXES[own].high


def base_lr_default(config: maps.MapConfig) -> float:
    return nearest(LR_OPTIONS, config.hyperparameters()["lr"])


def view_defaults(config: maps.MapConfig) -> None:
    """The view widgets' first values (before any of them is drawn)."""
    for key, wkey in VIEW_KEYS.items():
        default = maps.VIEW_DEFAULTS[key]
        state.setdefault(wkey, list(default) if isinstance(default, tuple) else default)
    state.setdefault("sweeps.view", VIEWS[maps.VIEW_DEFAULTS["view"]])
    default, previous = base_lr_default(config), state.get("sweeps._base_lr_default")
    if state.get("sweeps.base_lr", previous) == previous:  # untouched: it follows the optimizer's default ρ
        state["sweeps.base_lr"] = default
    state["sweeps._base_lr_default"] = default
    for knob in schedule_presets.PRESETS[state["sweeps.schedule"]].knobs:
        state.setdefault(knob_key(state["sweeps.schedule"], knob.key), float(knob.default))


def view_settings(config: maps.MapConfig) -> dict[str, Any]:
    """The view widgets' settings as ``maps.to_query`` takes them (a base ρ at its default: None)."""
    view = {key: state[wkey] for key, wkey in VIEW_KEYS.items()}
    view["view"] = {label: key for key, label in VIEWS.items()}.get(state.get("sweeps.view"), "map")
    view["curve_opt"] = tuple(view["curve_opt"])
    base_lr = state["sweeps.base_lr"]
    view["base_lr"] = None if base_lr == base_lr_default(config) else base_lr
    preset = view[maps.PRESET_KEY]
    for knob in schedule_presets.PRESETS[preset].knobs:
        view[f"{maps.PRESET_KEY}.{knob.key}"] = state.get(knob_key(preset, knob.key), knob.default)
    return view


# --- the URL into the widgets ------------------------------------------------------------------------


def load_url() -> None:
    """URL -> widgets, on a session's first run or when a link brings a query (``url_state``)."""
    query = URL.incoming(drawn_key="sweeps.surface")
    if query is None:
        return
    config, view, messages = maps.from_query(query)
    config, view, fitted = _fit_page(config, view)
    _apply(config, view)
    URL.loaded(messages + fitted)


def _fit_page(config: maps.MapConfig, view: dict[str, Any]) -> tuple[maps.MapConfig, dict[str, Any], list[str]]:
    """Valid settings as the page's widgets can hold them: the others -> defaults, with messages."""
    messages, default, changes = [], maps.MapConfig(), {}

    def holds(key: str, value: Any, ok: bool, rule: str) -> bool:
        if not ok:
            messages.append(f"Ignored URL parameter {key}={race.encode(value)} (the page's {rule}); using the "
                            "default.")
        return ok

    steps_ok = config.steps % STEPS_STEP == 0 and STEPS_STEP <= config.steps <= maps.MAX_STEPS
    rules = {  # field: (whether the page holds it, what it holds)
        "steps": (steps_ok, f"slider holds multiples of {STEPS_STEP} in [{STEPS_STEP}, {maps.MAX_STEPS}]"),
        "noise": (config.noise <= MAX_NOISE, f"σ holds [0, {plain(MAX_NOISE)}]"),
        "seeds": (config.seeds == 1 or config.noise > 0, "repeats come with gradient noise σ > 0"),
        "seed": (config.seed <= MAX_SEED, f"seed holds [0, {MAX_SEED}]"),
        "tol": (config.tol in TOL_OPTIONS, f"tolerance holds {', '.join(map(plain, TOL_OPTIONS))}"),
        "cells": (config.cells in CELL_OPTIONS, f"cells hold {', '.join(map(str, CELL_OPTIONS))}"),
        "lr_range": (config.lr_range is None or set(config.lr_range) <= set(LR_OPTIONS),
                     f"ρ range holds {', '.join(map(plain, LR_OPTIONS))}"),
    }
    for key, (ok, rule) in rules.items():
        if not holds(key, getattr(config, key), ok, rule):
            changes[key] = getattr(default, key)
    options = y_options(config)
    rule = (f"y range holds {', '.join(map(plain, options))}" if maps.AXES[config.y].log else
            f"y range slider holds [{plain(options[0])}, {plain(options[1])}] in steps of 0.001")
    if config.y_range is not None and not holds("y_range", config.y_range, _on_y_grid(config), rule):
        changes["y_range"] = None
    changes["hyper"] = _fit_fixed(config, holds)
    config = dataclasses.replace(config, **changes)
    fits = {"points": (view["points"] >= MIN_POINTS, f"slider holds [{MIN_POINTS}, {maps.MAX_CURVE_POINTS}]"),
            "base_lr": (view["base_lr"] in (None, *LR_OPTIONS), f"base ρ holds {', '.join(map(plain, LR_OPTIONS))}"),
            "budget": (view["budget"] in BUDGETS, f"budget holds {', '.join(map(str, BUDGETS))}"),
            "search_seed": (view["search_seed"] <= MAX_SEARCH_SEED, f"search seed holds [0, {MAX_SEARCH_SEED}]")}
    view = {**view, **{key: maps.VIEW_DEFAULTS[key] for key, (ok, rule) in fits.items()
                       if not holds(key, view[key], ok, rule)}}
    return config, view, messages


def _on_y_grid(config: maps.MapConfig) -> bool:
    options = y_options(config)
    if maps.AXES[config.y].log:
        return set(config.y_range) <= set(options)
    return all(options[0] <= v <= options[1] and round(v, 3) == v for v in config.y_range)


def _fit_fixed(config: maps.MapConfig, holds: Any) -> dict[str, Any]:
    """The page holds one fixed hyper-parameter: the optimizer's own swept quantity when y is another (0.001 steps;
    Adam's β₂ at its default). The page sweeps ρ, so it holds no fixed ρ."""
    own = maps.OWN_AXIS.get(config.optimizer)
    key = "betas" if own == "beta1" else own
    low, high = fixed_range(config.optimizer, own) if own else (0.0, 0.0)
    kept = {}
    for name, value in config.hyper.items():
        if name == "base_optimizer" and optimizers.RULES[config.optimizer].wraps:  # the base select box holds it
            kept[name] = value
            continue
        if name != key or own == config.y:
            holds(f"{config.optimizer}.{name}", value, False, f"widgets hold no fixed {config.optimizer} {name} "
                  "with this y axis")
            continue
        first = value[0] if key == "betas" else value
        ok = low <= first <= high and round(first, 3) == first
        ok = ok and (key != "betas" or value[1] == race.optimizer_defaults(config.optimizer)["betas"][1])
        if holds(f"{config.optimizer}.{name}", value, ok, f"slider holds [{plain(low)}, {plain(high)}] in steps of "
                 f"0.001{' with β₂ at its default' if key == 'betas' else ''}"):
            kept[name] = value
    return kept


def _apply(config: maps.MapConfig, view: dict[str, Any]) -> None:
    """The settings into the widgets' state (before any widget is drawn): every widget shows the URL's value."""
    surface = config.surface
    values = {f"sweeps.{key}": getattr(config, key) for key in ("optimizer", "steps", "noise", "seed", "tol", "y",
                                                                "cells")}
    values["sweeps.surface"] = surface
    values.update({param_key(surface, name): float(value) for name, value in config.surface_params.items()})
    values.update(zip(start_keys(surface), map(float, config.start_point()), strict=True))
    lr_range = config.lr_range or tuple(nearest(LR_OPTIONS, v) for v in DEFAULT_LR_RANGE)
    values["sweeps.lr_range.from"], values["sweeps.lr_range.to"] = lr_range
    if optimizers.RULES[config.optimizer].wraps:
        values["sweeps.base"] = config.hyperparameters()["base_optimizer"]
    own = maps.OWN_AXIS.get(config.optimizer)
    if own and own != config.y:
        hyper = config.hyperparameters()
        values[fixed_key(config.optimizer, own)] = float(hyper["betas"][0] if own == "beta1" else hyper[own])
    key = y_range_key(config)
    for stale in (key, f"{key}.from", f"{key}.to", "sweeps.seeds", "sweeps.base_lr"):
        state.pop(stale, None)  # their defaults follow the other settings
    if config.y_range is not None and maps.AXES[config.y].log:
        values[f"{key}.from"], values[f"{key}.to"] = config.y_range
    elif config.y_range is not None:
        values[key] = tuple(config.y_range)
    if config.noise > 0:
        values["sweeps.seeds"] = config.seeds
    values.update({wkey: list(view[key]) if key == "curve_opt" else view[key] for key, wkey in VIEW_KEYS.items()})
    values["sweeps.view"] = VIEWS[view["view"]]
    values["sweeps._base_lr_default"] = base_lr_default(config)  # a base ρ the URL gives is the reader's choice
    if view["base_lr"] is not None:
        values["sweeps.base_lr"] = view["base_lr"]
    preset = view[maps.PRESET_KEY]
    values.update({knob_key(preset, knob.key): float(view[f"{maps.PRESET_KEY}.{knob.key}"])
                   for knob in schedule_presets.PRESETS[preset].knobs})
    for wkey, value in values.items():
        state[wkey] = value
