"""The Networks page: a real MLP, its data and decision regions, its loss slice with an optimizer race, the
full-space training on the PCA plane, and the exact two-parameter network next to it.

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
from landscapes.network_config import MAX_PARAMETERS
from losslab import exports, networks, overrides, race
from losslab.app import export_panel, race_cache
from losslab.app.frozen import freeze
from losslab.app.url_state import UrlState
from optimizers import catalogue
from plots import networks as network_plots

state = st.session_state
SPECS = {spec.name: spec for spec in landscapes.parameters("network")}
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adagrad", "adamw")  # fullspace.TORCH_OPTIMIZERS
DEFAULT_OPTIMIZERS = ("sgd", "momentum", "adam")
LR_CHOICES = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)
MAX_LR = catalogue.spec("lr").ui[1]  # the ρ sliders' upper end
MAX_STEPS = 2_000  # ≤ race.MAX_RACE_STEPS and fullspace.MAX_STEPS: a page's run stays interactive
DEFAULT_STEPS = 200
MAX_BATCH = 2_048  # the minibatch size widget's cap (every data set has fewer training examples)
GRIDS = (41, 61, 81, 101, 151, 201)
DEFAULT_GRID = 101
PCA_GRID = 61
SURFACE_3D_GRID = 81  # at most this many grid lines per axis in the 3-D view (every k-th line of the slice's grid)
PREFIX = "net."
URL = UrlState(PREFIX)


# --- URL <-> widget state ------------------------------------------------------------------------------


def _defaults() -> dict[str, Any]:
    values = {name: spec.default for name, spec in SPECS.items()}
    values.update(opt=DEFAULT_OPTIMIZERS, steps=DEFAULT_STEPS, batch=0, grid=DEFAULT_GRID, fullspace=False)
    values.update({f"{name}.lr": catalogue.race_lr(name, "network") for name in OPTIMIZERS})
    return values


def _parse(key: str, text: str) -> Any:
    """A URL value (a string) through the same validation as the widgets; ``ValueError`` names it and its range."""
    try:
        if key in SPECS:
            return overrides.surface_value(SPECS[key], text)
        if key == "fullspace":
            return overrides.flag(text)
        value = text.split(",") if key == "opt" else overrides.number(text)
    except ValueError as error:
        message = str(error)
        raise ValueError(message if message.startswith("Invalid") else f"Invalid {key} value: {text!r} ({message})") \
            from None
    if key == "opt":
        names = tuple(n for n in value if n)
        if any(n not in OPTIMIZERS for n in names) or len(set(names)) != len(names):
            raise ValueError(f"Invalid opt value: {text!r} (must be distinct names among {', '.join(OPTIMIZERS)})")
        return names
    if key.endswith(".lr"):
        if not 0 < value <= MAX_LR:
            raise ValueError(f"Invalid {key} value: {text!r} (must be in (0, {MAX_LR:g}])")
        return value
    low, high = {"steps": (1, MAX_STEPS), "batch": (0, MAX_BATCH), "grid": (min(GRIDS), max(GRIDS))}[key]
    if not value.is_integer() or not low <= value <= high or (key == "grid" and int(value) not in GRIDS):
        rule = f"one of {', '.join(map(str, GRIDS))}" if key == "grid" else f"an integer in [{low}, {high}]"
        raise ValueError(f"Invalid {key} value: {text!r} (must be {rule})")
    return int(value)


def _load_url() -> None:
    """Set the widgets from the URL when it is not one this page wrote (``url_state``); a link without a dataset
    (another page's) brings back this page's last settings."""
    query = URL.incoming(drawn_key=PREFIX + "dataset", owns=lambda query: "dataset" in query)
    if query is None:
        return
    values, messages = _defaults(), []
    for key, text in query.items():
        if key not in values:  # another page's setting (a link from Explore): not this page's to judge
            continue
        if len(text) > race.MAX_QUERY_VALUE:
            messages.append(f"{key}: value longer than {race.MAX_QUERY_VALUE} characters")
            continue
        try:
            values[key] = _parse(key, text)
        except ValueError as error:
            messages.append(str(error))
    for key, value in values.items():
        state[PREFIX + key] = value
    URL.loaded(messages)


def _query(values: dict[str, Any]) -> dict[str, str]:
    """The settings that differ from their defaults, as URL strings (the dataset always)."""
    defaults = _defaults()
    query = {"dataset": values["dataset"]}
    for key, value in values.items():
        if key == "dataset" or value == defaults.get(key):
            continue
        if key == "hidden":
            query[key] = SPECS["hidden"].format(value)
        elif key == "opt":
            query[key] = ",".join(value)
        elif key == "fullspace":
            query[key] = "true"
        else:
            query[key] = repr(value) if isinstance(value, float) else str(value)
    return query


# --- cached computations -------------------------------------------------------------------------------


def _config(values: dict[str, Any]) -> Any:
    from landscapes.network_config import Config

    return Config(values["dataset"], tuple(values["hidden"]), values["activation"], int(values["seed"]),
                  float(values["l2"]))


@st.cache_resource(max_entries=8, show_spinner=False)
def _network(config: tuple) -> Any:
    from landscapes import network as nets

    return nets.trained(nets.Config(*config))


@st.cache_resource(max_entries=8, show_spinner=False)
def _plane(config: tuple) -> Any:
    from landscapes import network as nets

    return nets.slice_plane(nets.Config(*config))


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
    return _with_progress("layer", (config, grid),
                          lambda report: plots.race.landscape_layer(_plane(config), grid, progress=report), 8,
                          "Evaluating the loss on the slice…")


@st.cache_resource(max_entries=8, show_spinner=False)
def _model_figure(config: tuple) -> go.Figure:
    return freeze(network_plots.model_figure(networks.model_view(_network(config))))


def _race_config(values: dict[str, Any], batch: int) -> race.RaceConfig:
    """The slice race the settings describe: minibatches (and the network itself) drawn by the network's seed."""
    chosen = {name: {**race.optimizer_defaults(name, "network"), "lr": float(values[f"{name}.lr"])}
              for name in values["opt"]}
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
    from landscapes import fullspace
    from landscapes import network as nets

    chosen = {name: {"lr": hyper["lr"]} for name, hyper in race_config.optimizers.items()}
    return fullspace.full_space(nets.Config(*config), chosen, race_config.steps, race_config.batch_size)


def _full_space_figures(config: tuple, race_config: race.RaceConfig) -> dict[str, go.Figure]:
    def compute(report: Any) -> dict[str, go.Figure]:
        full = _full_space(config, race_config)
        grid = plots.race.landscape_layer(full.surface, PCA_GRID, progress=report).grid
        labels = {name: catalogue.legend_label(name, run.hyperparameters) for name, run in full.runs.items()}
        return {"pca": freeze(network_plots.pca_figure(full, grid)),
                "curves": freeze(network_plots.fullspace_curves_figure(full, labels)),
                "projection": freeze(network_plots.projection_error_figure(full))}

    return _with_progress("fullspace", (config, repr(race_config)), compute, 4,
                          "Evaluating the loss on the PCA plane…")


def _logistic_race(race_config: race.RaceConfig) -> race.RaceConfig:
    """The same optimizers and minibatches on the two-parameter network (full batch above its data's size)."""
    batch = race_config.batch_size if (race_config.batch_size or 0) <= LOGISTIC_POINTS else None
    return race.RaceConfig(surface="logistic2", surface_params={}, optimizers=race_config.optimizers,
                           steps=race_config.steps, batch_size=batch)


def _producers(config: tuple, grid: int, race_config: race.RaceConfig) -> dict[str, Any]:
    """Each export format's bytes from the race the page shows (losslab.exports on its trajectories and figure);
    the race JSON holds the minibatch size and seed, so it re-runs to the same paths."""
    trajectories = race_cache.run(race_config).trajectories
    figure = _race_figures(config, grid, race_config)["race"]
    layer = _layer(config, grid)

    def produce(fmt: str) -> Any:
        def run(settings: exports.ExportSettings, progress: Any) -> bytes:
            return exports.export_race(race_config, fmt, settings, trajectories=trajectories, figure=figure,
                                       layer=layer, progress=progress)
        return run

    return {fmt: produce(fmt) for fmt in exports.FORMATS}


# --- widgets -------------------------------------------------------------------------------------------


def _widths_label(widths: tuple[int, ...]) -> str:
    return "–".join(map(str, widths))


def sidebar() -> dict[str, Any]:
    """The page's settings from its sidebar widgets (initialized from the URL by ``_load_url``)."""
    bar = st.sidebar
    bar.header("Network")
    bar.selectbox("dataset", SPECS["dataset"].choices, key=PREFIX + "dataset",
                  help="generated or bundled data, standardized, fixed train/test split")
    suggestions = list(SPECS["hidden"].suggestions)
    if tuple(state[PREFIX + "hidden"]) not in suggestions:  # a valid width list from the URL
        suggestions.append(tuple(state[PREFIX + "hidden"]))
    bar.selectbox("hidden widths", suggestions, key=PREFIX + "hidden", format_func=_widths_label,
                  help=f"hidden-layer widths h₁ … h_L (≤ {MAX_PARAMETERS:,} parameters)")
    bar.selectbox("activation", SPECS["activation"].choices, key=PREFIX + "activation")
    bar.number_input("seed", int(SPECS["seed"].low), int(SPECS["seed"].high), step=1, key=PREFIX + "seed",
                     help="initialization, plane directions and minibatches")
    bar.number_input("L2 penalty λ", float(SPECS["l2"].low), float(SPECS["l2"].high), step=0.001, format="%g",
                     key=PREFIX + "l2", help="the loss is L(θ) + λ/2 ‖θ‖²")
    bar.select_slider("slice grid", GRIDS, key=PREFIX + "grid", help="points per axis of the loss slice")
    bar.header("Race")
    bar.multiselect("optimizers", OPTIMIZERS, key=PREFIX + "opt")
    for name in state[PREFIX + "opt"]:
        key = f"{PREFIX}{name}.lr"
        state.setdefault(key, catalogue.race_lr(name, "network"))  # Streamlit drops an unshown widget's state
        choices = sorted({*LR_CHOICES, float(state[key])})
        bar.select_slider(f"{name}: learning rate ρ", choices, key=key, format_func=lambda v: f"{v:g}")
    bar.slider("steps", 1, MAX_STEPS, key=PREFIX + "steps")
    bar.number_input("minibatch size (0: full batch)", 0, MAX_BATCH, step=8, key=PREFIX + "batch",
                     help="each step's gradient on this many random training examples (Algorithm 8.1)")
    return {key[len(PREFIX):]: state[key] for key in list(state.keys())
            if isinstance(key, str) and key.startswith(PREFIX) and key[len(PREFIX):] in _defaults()}


def _progress(text: str) -> tuple[Any, Any]:
    bar = st.progress(0.0, text=text)
    return bar, lambda fraction: bar.progress(min(float(fraction), 1.0), text=text)


def main() -> None:
    _load_url()
    values = sidebar()
    URL.write(_query(values))
    URL.warn()

    config = tuple(_config(values))
    try:
        from landscapes import network as nets

        nets.check_config(nets.Config(*config))
    except ValueError as error:
        st.error(f"{error}. Pick fewer or narrower hidden layers.")
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

    st.header(f"{_widths_label((data.features, *values['hidden'], data.outputs))} {values['activation']} MLP "
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
        st.plotly_chart(figures["race"], theme=None, key="net.race")
        for name, trajectory in race_cache.run(race_config).trajectories.items():
            if trajectory.diverged_at[0] >= 0:
                st.warning(f"{name} diverged at step {int(trajectory.diverged_at[0])}: lower its ρ.")
        st.plotly_chart(figures["curves"], theme=None, key="net.curves")
    else:
        st.info("Select at least one optimizer in the sidebar to race in the slice.")
    st.plotly_chart(figures["surface"], theme=None, key="net.surface3d")
    if "race" in figures:
        stem = f"network-{values['dataset']}-race-{values['steps']}-steps"
        export_panel.download_section("net.export", f"{config}{race_config!r}", stem,
                                      _producers(config, values["grid"], race_config))

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
    bar, report = _progress("Training every optimizer in the full parameter space…")
    try:
        full = _full_space(config, race_config)
    except ValueError as error:
        bar.empty()
        st.error(str(error))
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
