"""The pages' cache over the one race pipeline (``losslab.race``): surfaces, their drawn landscapes, each
optimizer's trajectory and the figures drawn from them.

Everything is keyed on the typed ``RaceConfig`` itself (``hash_funcs``: its ``repr``, which names every setting in
order: distinct settings never share a key), never on a JSON round trip. A trajectory is cached per optimizer
(``config.only(name)``), so moving one optimizer's slider recomputes that optimizer alone. Figures are cached as
objects (``cache_resource``: no copy per rerun) and frozen (their dict computed once); each is keyed on what it
depends on, so a view toggle rebuilds only its own figure.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, NamedTuple

import plotly.graph_objects as go
import plotly.utils
import streamlit as st

import landscapes
import optimizers
import plots
from losslab import budget, live, race
from losslab.app import heavy
from losslab.app.frozen import freeze

BY_SETTINGS = {race.RaceConfig: repr}  # a config's repr names every setting: distinct settings, distinct keys


class Race(NamedTuple):
    """A computed race: its surface, each optimizer's trajectory and each failing optimizer's error."""

    surface: Any
    trajectories: dict[str, optimizers.Trajectory]
    failures: dict[str, str]


@st.cache_resource(max_entries=64, show_spinner=False)
def surface(name: str, params: dict[str, Any]) -> Any:
    """The surface ``name`` with ``params`` (raises ``ValueError`` for a bad combination); a network is trained in
    one of the server's heavy slots (``heavy``)."""
    return heavy.run(lambda: landscapes.get(name, **params), f"Building the {name} surface",
                     budget.build_cost(name, params).seconds)


@st.cache_resource(max_entries=16, show_spinner=False)
def layer(name: str, params: dict[str, Any], grid: int | None = None) -> Any:
    """The landscape's grid, isolines and colour image (``grid`` points per axis; the default without)."""
    built = surface(name, params)
    draw = (lambda: plots.race.landscape_layer(built)) if grid is None else (
        lambda: plots.race.landscape_layer(built, grid))
    return heavy.run(draw, "Drawing the landscape", budget.grid_cost(name, params, grid or budget.VIEW_GRID).seconds)


@st.cache_data(max_entries=256, show_spinner=False, hash_funcs=BY_SETTINGS)
def trajectory(config: race.RaceConfig) -> optimizers.Trajectory:
    """The trajectory of ``config``'s one optimizer (in a heavy slot when it takes long: a network's)."""
    (name,) = config.optimizers
    built = surface(config.surface, config.surface_params)
    return heavy.run(lambda: race.run_one(config, name, built), f"Racing {name}",
                     budget.race_cost(config, built=True).seconds)


def run(config: race.RaceConfig) -> Race:
    """Every optimizer of the race, each from its own cache entry; an optimizer the library refuses is a failure
    with its message, and the others still run."""
    built = surface(config.surface, config.surface_params)
    trajectories, failures = {}, {}
    for name in config.optimizers:
        try:
            trajectories[name] = trajectory(config.only(name))
        except ValueError as error:
            failures[name] = str(error)
    return Race(built, trajectories, failures)


@st.cache_resource(max_entries=16, show_spinner=False, hash_funcs=BY_SETTINGS)
def race_figure(config: race.RaceConfig, gradient_field: bool = False, grid: int | None = None,
                title: str | None = None, _layer: Any = None) -> go.Figure:
    """The race over its landscape; ``_layer``: the landscape already drawn at ``grid`` (the Networks page draws
    its slice under a progress bar), left out of the key."""
    computed = run(config)
    drawn = _layer if _layer is not None else layer(config.surface, config.surface_params, grid)
    return freeze(plots.race_figure(computed.surface, computed.trajectories, gradient_field=gradient_field,
                                    layer=drawn, title=title))


@st.cache_resource(max_entries=16, show_spinner=False, hash_funcs=BY_SETTINGS)
def curves(config: race.RaceConfig) -> dict[str, Any]:
    """The loss (and distance-to-minimum, where a minimum is known) figure and the summary rows."""
    computed = run(config)
    return {"curves": freeze(plots.curves_figure(computed.surface, computed.trajectories)),
            "rows": plots.summary_rows(computed.surface, computed.trajectories)}


@st.cache_resource(max_entries=8, show_spinner=False, hash_funcs=BY_SETTINGS)
def surface_figure(config: race.RaceConfig, grid: Any = None) -> go.Figure:
    computed = run(config)
    return freeze(plots.surface_figure(computed.surface, computed.trajectories, grid=grid))


@st.cache_data(max_entries=64, show_spinner=False, hash_funcs=BY_SETTINGS)
def step_at(config: race.RaceConfig, name: str, step: int) -> Any:
    """Step k of optimizer ``name`` in the race, replayed (``losslab.race.step_at``)."""
    return race.step_at(config, name, step, surface(config.surface, config.surface_params))


@st.cache_data(max_entries=64, show_spinner=False, hash_funcs=BY_SETTINGS)
def families(config: race.RaceConfig, chosen: tuple[live.LiveSlider, ...], max_bytes: int) -> list[live.Packed]:
    """The live sliders ``chosen`` (``losslab.live.sliders`` of the whole race) of ``config``'s one optimizer with
    their families, each packed within ``max_bytes`` (``losslab.live.packed``)."""
    (name,) = config.optimizers
    built = surface(config.surface, config.surface_params)
    cost = budget.live_cost(config, [(slider.optimizer, len(slider.values)) for slider in chosen]).seconds
    return heavy.run(lambda: live.packed(config, name, built, chosen, max_bytes), f"Computing {name}'s live sliders",
                     cost)


def all_families(config: race.RaceConfig, names: Any, seconds: float) -> dict[str, list[live.Packed]]:
    """The live families of the optimizers ``names`` that ran (a failed one takes no share), within ``seconds``
    (``families``: one cache entry per optimizer)."""
    ran = dataclasses.replace(config, optimizers={name: config.optimizers[name] for name in names})
    chosen = live.sliders(ran, seconds)
    share = live.bytes_each(chosen)
    return {name: families(config.only(name), tuple(s for s in chosen if s.optimizer == name), share)
            for name in names}


@st.cache_resource(max_entries=16, show_spinner=False, hash_funcs=BY_SETTINGS)
def live_spec(config: race.RaceConfig, seconds: float, gradient_field: bool = False, grid: int | None = None,
              title: str | None = None, _layer: Any = None, linked_lr: bool = False) -> str:
    """The race figure (``race_figure``, same arguments) with the live sliders of every optimizer that ran, their
    families within ``seconds`` (``live.sliders``), as the JSON text the component takes (encoded once per race)."""
    figure = race_figure(config, gradient_field, grid, title, _layer).to_dict()
    computed = run(config)
    shown = all_families(config, computed.trajectories, seconds)
    ran = dataclasses.replace(config, optimizers={name: config.optimizers[name] for name in shown})
    identity = f"{config!r}/{seconds}/{gradient_field}/{grid}/{title}/{linked_lr}"
    spec = live.live_spec(ran, figure, computed.surface, shown, figure_id=identity, compact=True, linked_lr=linked_lr)
    return json.dumps(spec, separators=(",", ":"), ensure_ascii=False, cls=plotly.utils.PlotlyJSONEncoder)
