"""The Networks page: a real MLP, its data and decision regions, its loss slice with an optimizer race, the
full-space training on the PCA plane, and the exact two-parameter network next to it; below them, a slice of your
own model computed by ``losslab slice``, uploaded as a .zip of its store (``slice_upload``).

Thin page: sidebar widgets -> a typed ``RaceConfig`` (surface ``network``, minibatches by ``batch_size``) through the
one race pipeline (``race_cache``), and cached library calls (landscapes.network, landscapes.fullspace,
losslab.networks) -> ``plots`` figures. Every setting is in the URL (``url_state``; validated on load by
``losslab.overrides`` and the library: a bad value is reported and replaced by its default).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import plotly.graph_objects as go
import streamlit as st

import landscapes
import plots
from landscapes.logistic2 import POINTS as LOGISTIC_POINTS
from losslab import budget, exports, live, networks, race
from losslab.app import export_panel, heavy, race_cache, slice_upload
from losslab.app.frozen import freeze
from losslab.app.live_race import live_race
from losslab.app.markdown import escape
from losslab.app.networks_state import (
    PCA_GRID,
    PREFIX,
    SECOND,
    SPECS,
    SURFACE_3D_GRID,
    URL,
    load_url,
    query,
    sidebar,
    state,
    widths_label,
)
from optimizers import catalogue
from plots import networks as network_plots

# --- cached computations -------------------------------------------------------------------------------


def _config(values: dict[str, Any]) -> Any:
    from landscapes.network_config import Config

    return Config(values["dataset"], tuple(values["hidden"]), values["activation"], int(values["seed"]),
                  float(values["l2"]))


@st.cache_resource(max_entries=8, show_spinner=False)
def _network(config: tuple) -> Any:
    return heavy.run(lambda: networks.trained(config), "Training the network")


@st.cache_resource(max_entries=8, show_spinner=False)
def _plane(config: tuple) -> Any:
    return heavy.run(lambda: networks.slice_plane(config), "Training the network")


@st.cache_resource(show_spinner=False)
def _progress_cache() -> dict[str, OrderedDict]:
    """Results computed under a progress bar, kept per process like ``st.cache_resource`` (which cannot hold a
    function that draws into a bar made outside it): name -> least recently used first."""
    return {}


def _with_progress(name: str, key: Any, compute: Any, max_entries: int, text: str) -> Any:
    """``compute(report)`` cached under (name, key) with at most ``max_entries`` kept; a miss shows a progress bar
    that ``report(fraction)`` moves."""
    store = _progress_cache().setdefault(name, OrderedDict())
    if key in store:
        store.move_to_end(key)
        return store[key]
    bar = st.progress(0.0, text=text)
    try:
        result = compute(lambda fraction: bar.progress(min(float(fraction), 1.0), text=text))
    finally:
        bar.empty()
    store[key] = result
    while len(store) > max_entries:
        store.popitem(last=False)
    return result


def _layer(config: tuple, grid: int) -> Any:
    """The slice's grid, isolines and colour image, evaluated under a progress bar once per network and grid."""
    def compute(report: Any) -> Any:
        return heavy.run(lambda: networks.slice_layer(config, grid, progress=report), "Evaluating the slice")

    return _with_progress("layer", (config, grid), compute, 8, "Evaluating the loss on the slice…")


@st.cache_resource(max_entries=8, show_spinner=False)
def _model_figure(config: tuple) -> go.Figure:
    return freeze(network_plots.model_figure(networks.model_view(_network(config))))


def _race_config(values: dict[str, Any], batch: int) -> race.RaceConfig:
    """The slice race the settings describe: minibatches (and the network itself) drawn by the network's seed."""
    chosen = {}
    for name in values["opt"]:
        hyper = {**race.optimizer_defaults(name, "network"), "lr": float(values[f"{name}.lr"])}
        chosen[name] = live.with_value(hyper, SECOND[name], float(values[f"{name}.{SECOND[name]}"]), name) \
            if name in SECOND else hyper
    return race.RaceConfig(surface="network", surface_params={name: values[name] for name in SPECS},
                           optimizers=chosen, steps=int(values["steps"]), seed=int(values["seed"]),
                           batch_size=batch or None)


@st.cache_resource(max_entries=16, show_spinner=False, hash_funcs=race_cache.BY_SETTINGS)
def _race_figures(config: tuple, grid: int, race_config: race.RaceConfig) -> dict[str, go.Figure]:
    plane, trajectories = _plane(config), race_cache.run(race_config).trajectories
    layer = _layer(config, grid)
    stride = -(-grid // SURFACE_3D_GRID)
    coarse = layer.grid._replace(x=layer.grid.x[::stride], y=layer.grid.y[::stride],
                                 z=layer.grid.z[::stride, ::stride])
    figures = {"surface": freeze(plots.surface_figure(plane, trajectories, grid=coarse))}
    if trajectories:
        figures["race"] = race_cache.race_figure(race_config, grid=grid, _layer=layer)
        figures["curves"] = race_cache.curves(race_config)["curves"]
    return figures


@st.cache_resource(max_entries=4, show_spinner=False, hash_funcs=race_cache.BY_SETTINGS)
def _full_space(config: tuple, race_config: race.RaceConfig) -> Any:
    def set_here(name: str, key: str) -> bool:  # ρ and the live second (or the pair holding it): this page's
        second = SECOND.get(name)
        return key in ("lr", second) or second in catalogue.spec(key, name).parts

    chosen = {name: {key: value for key, value in hyper.items() if set_here(name, key)}
              for name, hyper in race_config.optimizers.items()}
    return heavy.run(lambda: networks.full_space(config, chosen, race_config.steps, race_config.batch_size),
                     "Training every optimizer in the full parameter space")


def _full_space_figures(config: tuple, race_config: race.RaceConfig) -> dict[str, go.Figure]:
    def compute(report: Any) -> dict[str, go.Figure]:
        full = _full_space(config, race_config)
        grid = heavy.run(lambda: plots.race.landscape_layer(full.surface, PCA_GRID, progress=report).grid,
                         "Evaluating the loss on the PCA plane")
        labels = {name: catalogue.legend_label(name, run.hyperparameters) for name, run in full.runs.items()}
        return {"pca": freeze(network_plots.pca_figure(full, grid)),
                "curves": freeze(network_plots.fullspace_curves_figure(full, labels)),
                "projection": freeze(network_plots.projection_error_figure(full))}

    return _with_progress("fullspace", (config, repr(race_config)), compute, 4,
                          "Evaluating the loss on the PCA plane…")


def request_cost(config: tuple, grid: int, race_config: race.RaceConfig, full_space: bool = False) -> budget.Cost:
    """What a run of the page computes: the training, the slice on its grid, the race in it and on the
    two-parameter network, and with ``full_space`` every optimizer in the full space and its PCA plane."""
    logistic = _logistic_race(race_config)
    cost = budget.slice_cost(config, grid) + budget.race_cost(race_config, built=True)
    cost += budget.view_cost(logistic.surface) + budget.race_cost(logistic, built=True)
    if full_space:
        cost += budget.full_space_cost(config, race_config.optimizers, race_config.steps, race_config.batch_size,
                                       PCA_GRID)
    return cost


def _logistic_race(race_config: race.RaceConfig) -> race.RaceConfig:
    """The same optimizers and minibatches on the two-parameter network (full batch above its data's size)."""
    batch = race_config.batch_size if (race_config.batch_size or 0) <= LOGISTIC_POINTS else None
    return race.RaceConfig(surface="logistic2", surface_params={}, optimizers=race_config.optimizers,
                           steps=race_config.steps, batch_size=batch)


def _producers(config: tuple, grid: int, race_config: race.RaceConfig, seconds: float) -> dict[str, Any]:
    """Each export format's bytes from the race the page shows (losslab.exports on its trajectories and figure);
    the race JSON holds the minibatch size and seed, so it re-runs to the same paths."""
    trajectories = race_cache.run(race_config).trajectories
    figure = _race_figures(config, grid, race_config)["race"]
    layer = _layer(config, grid)
    families = race_cache.all_families(race_config, trajectories, seconds)

    def produce(fmt: str) -> Any:
        def run(settings: exports.ExportSettings, progress: Any) -> bytes:
            return exports.export_race(race_config, fmt, settings, trajectories=trajectories, figure=figure,
                                       layer=layer, progress=progress, families=families)
        return run

    return {fmt: produce(fmt) for fmt in exports.FORMATS}


def _on_live_change() -> None:
    """A released live slider's value goes to its sidebar widget (``losslab.live.commit`` checks the message);
    anything else the component sends (a click on the slice) is ignored on this page."""
    offered = {name: ("lr", SECOND[name]) if name in SECOND else ("lr",) for name in state.get(PREFIX + "opt", ())}
    committed = live.commit(state.get("net.race"), offered)
    if committed is not None:
        name, key, value = committed
        state[f"{PREFIX}{name}.{key}"] = value


def _progress(text: str) -> tuple[Any, Any]:
    bar = st.progress(0.0, text=text)
    return bar, lambda fraction: bar.progress(min(float(fraction), 1.0), text=text)


def main() -> None:
    """The trained network's sections, then the slice of your own model (drawn even when the network's settings
    are refused)."""
    _network_sections()
    slice_upload.section()


def _network_sections() -> None:
    load_url()
    values = sidebar()
    URL.write(query(values))
    URL.warn()

    config = tuple(_config(values))
    try:
        from landscapes import network as nets

        nets.check_config(nets.Config(*config))
    except ValueError as error:
        st.error(escape(f"{error}. Pick fewer or narrower hidden layers."))
        return
    examples = len(landscapes.datasets.load(values["dataset"]).y_train)
    race_config = _race_config(values, int(values["batch"]) if int(values["batch"]) <= examples else 0)
    try:  # the page's request within the compute budget, before any training
        spent = budget.check(request_cost(config, values["grid"], race_config), what="This page").seconds
    except ValueError as error:
        st.error(escape(error))
        return
    bar, report = _progress("Training the network (500 full-batch Adam steps)…")
    network = _network(config)
    report(1.0)
    bar.empty()
    data = network.data
    batch = int(values["batch"])
    if batch > len(data.y_train):
        st.error(f"Invalid minibatch size: {batch} (must be at most {len(data.y_train)}, the number of training "
                 "examples). Racing full-batch.")
        batch = 0

    st.header(f"{widths_label((data.features, *values['hidden'], data.outputs))} {values['activation']} MLP "
              f"on {values['dataset']}")
    st.caption(f"{data.description}; {len(data.y_train)} training and {len(data.y_test)} test examples. "
               f"Trained loss L(θ*) = {network.loss:.4g}.")
    st.plotly_chart(_model_figure(config), theme=None, key="net.model")

    plane = _plane(config)
    st.subheader("The loss slice θ* + a·d₁ + b·d₂")
    st.caption(plane.description + ". d₁, d₂ are random directions, each neuron's incoming weights scaled to the "
               "norm of θ*'s (filter normalization).")
    race_config = _race_config(values, batch)
    figures = _race_figures(config, values["grid"], race_config)
    if "race" in figures:
        race_column, curves_column = st.columns([3, 2])
        with race_column:
            seconds = live.seconds_left(spent)  # the live sliders take what the budget leaves
            live_race(race_cache.live_spec(race_config, seconds, grid=values["grid"],
                                           _layer=_layer(config, values["grid"])), key="net.race",
                      on_change=_on_live_change)
            if message := live.limited(race_config, seconds):
                st.caption(message)
        curves_column.plotly_chart(figures["curves"], theme=None, key="net.curves")
        computed = race_cache.run(race_config)
        for name, message in computed.failures.items():
            st.error(escape(f"{name}: {message}"))
        for name, trajectory in computed.trajectories.items():
            if trajectory.diverged_at[0] >= 0:
                st.warning(f"{name} diverged at step {int(trajectory.diverged_at[0])}: lower its ρ.")
    else:
        st.info("Select at least one optimizer in the sidebar to race in the slice.")
    st.plotly_chart(figures["surface"], theme=None, key="net.surface3d")
    if "race" in figures:
        stem = f"network-{values['dataset']}-race-{values['steps']}-steps"
        export_panel.download_section("net.export", f"{config}{race_config!r}", stem,
                                      _producers(config, values["grid"], race_config, seconds))

    st.subheader("Full-space training")
    st.toggle("train in the full parameter space (PCA plane, train/test loss)", key=PREFIX + "fullspace")
    projection = None
    if state[PREFIX + "fullspace"] and values["opt"]:
        projection = _full_space_section(config, race_config, values)
    elif state[PREFIX + "fullspace"]:
        st.info("Select at least one optimizer in the sidebar.")
    if values["opt"]:
        _two_parameter_section(race_config, projection)


def _full_space_section(config: tuple, race_config: race.RaceConfig, values: dict[str, Any]) -> go.Figure | None:
    """The PCA plane and the loss curves; returns the projection-error figure (None when training failed)."""
    try:  # the page's request with the full-space view within the compute budget, before any training
        budget.check(request_cost(config, values["grid"], race_config, full_space=True),
                     what="This page with the full-space view")
    except ValueError as error:
        st.error(escape(f"{error} Or switch the full-space view off."))
        return None
    bar, report = _progress("Training every optimizer in the full parameter space…")
    try:
        full = _full_space(config, race_config)
    except ValueError as error:
        bar.empty()
        st.error(escape(error))
        return None
    report(1.0)
    bar.empty()
    figures = _full_space_figures(config, race_config)
    first, second = full.explained_variance
    st.caption(f"Each optimizer trains all {full.center.size:,} parameters from the same θ₀ with torch.optim "
               f"({values['steps']} steps). The plane through the mean iterate spanned by the first two principal "
               f"directions of all iterates keeps {100 * first:.1f}% + {100 * second:.1f}% of their variance.")
    st.plotly_chart(figures["pca"], theme=None, key="net.pca")
    st.plotly_chart(figures["curves"], theme=None, key="net.fullcurves")
    for name, run in full.runs.items():
        if run.diverged_at >= 0:
            st.warning(f"{name} diverged in full space at step {run.diverged_at}: lower its ρ.")
    return figures["projection"]


def _two_parameter_section(race_config: race.RaceConfig, projection: go.Figure | None) -> None:
    st.subheader("The exact two-parameter network")
    st.caption(f"A single sigmoid neuron p(x) = σ(w·x + b) on {LOGISTIC_POINTS} 1-D points has exactly two "
               "parameters: its (w, b) plane is the whole parameter space, so this contour is the real landscape "
               "and every step of the race lies in it. A bigger network's plane is a 2-D window into thousands of "
               "dimensions: its real iterates leave the plane, by the distance on the right.")
    left, right = st.columns(2)
    logistic = _logistic_race(race_config)
    left.plotly_chart(race_cache.race_figure(logistic, title="logistic regression σ(w·x + b): the whole (w, b) space"),
                      theme=None, key="net.logistic2")
    if projection is not None:
        right.plotly_chart(projection, theme=None, key="net.projection")
    else:
        right.info("Switch on the full-space view above to see how far the big network's real trajectory is from "
                   "its PCA plane.")


main()
