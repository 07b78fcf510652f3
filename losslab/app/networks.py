"""The Networks page: a real MLP, its data and decision regions, its loss slice with an optimizer race, the
full-space training on the PCA plane, and the exact two-parameter network next to it.

Thin page: sidebar widgets -> cached library calls (landscapes.network, landscapes.fullspace, losslab.networks)
-> ``plots`` figures. Every setting is in the URL (validated on load: a bad value is reported and replaced by
its default).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from typing import Any

import plotly.graph_objects as go
import streamlit as st

import landscapes
import plots
from landscapes.logistic2 import POINTS as LOGISTIC_POINTS
from landscapes.network_entry import MAX_PARAMETERS
from losslab import exports, networks, race
from losslab.app import export_panel
from plots import networks as network_plots

state = st.session_state
SPECS = {spec.name: spec for spec in landscapes.parameters("network")}
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adagrad", "adamw")  # fullspace.TORCH_OPTIMIZERS
DEFAULT_OPTIMIZERS = ("sgd", "momentum", "adam")
NETWORK_LR = {"sgd": 0.3, "momentum": 0.03, "nesterov": 0.03, "rmsprop": 0.01, "adam": 0.05, "adagrad": 0.3,
              "adamw": 0.05}  # ρ that make progress in a network's plane (and its full space) in a few hundred steps
LR_CHOICES = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)
MAX_LR = 10.0
MAX_STEPS = 2_000  # ≤ race.MAX_RACE_STEPS and fullspace.MAX_STEPS: a page's run stays interactive
DEFAULT_STEPS = 200
MAX_BATCH = 2_048  # the minibatch size widget's cap (every data set has fewer training examples)
GRIDS = (41, 61, 81, 101, 151, 201)
DEFAULT_GRID = 101
PCA_GRID = 61
SURFACE_3D_GRID = 81  # at most this many grid lines per axis in the 3-D view (every k-th line of the slice's grid)
PREFIX = "net."


# --- URL <-> widget state ------------------------------------------------------------------------------


def _defaults() -> dict[str, Any]:
    values = {name: spec.default for name, spec in SPECS.items()}
    values.update(opt=DEFAULT_OPTIMIZERS, steps=DEFAULT_STEPS, batch=0, grid=DEFAULT_GRID, fullspace=False)
    values.update({f"{name}.lr": NETWORK_LR[name] for name in OPTIMIZERS})
    return values


def _parse(key: str, text: str) -> Any:
    """A URL value (a string) through the same validation as the widgets; ``ValueError`` names it and its range."""
    if key in SPECS:
        return SPECS[key].validate(text if key in ("dataset", "activation", "hidden") else _number(key, text))
    if key == "opt":
        names = tuple(n for n in text.split(",") if n)
        unknown = [n for n in names if n not in OPTIMIZERS]
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"Invalid opt value: {text!r} (must be distinct names among {', '.join(OPTIMIZERS)})")
        return names
    if key.endswith(".lr"):
        lr = _number(key, text)
        if not 0 < lr <= MAX_LR:
            raise ValueError(f"Invalid {key} value: {text!r} (must be in (0, {MAX_LR:g}])")
        return lr
    bounds = {"steps": (1, MAX_STEPS), "batch": (0, MAX_BATCH), "grid": (min(GRIDS), max(GRIDS))}
    if key in bounds:
        low, high = bounds[key]
        value = _number(key, text)
        if not value.is_integer() or not low <= value <= high or (key == "grid" and int(value) not in GRIDS):
            rule = f"one of {', '.join(map(str, GRIDS))}" if key == "grid" else f"an integer in [{low}, {high}]"
            raise ValueError(f"Invalid {key} value: {text!r} (must be {rule})")
        return int(value)
    if text not in ("true", "false"):  # the one flag, fullspace
        raise ValueError(f"Invalid {key} value: {text!r} (must be true or false)")
    return text == "true"


def _number(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"Invalid {key} value: {text!r} (must be a number)") from None
    if not math.isfinite(value):
        raise ValueError(f"Invalid {key} value: {text!r} (must be finite)")
    return value


def _load_url() -> None:
    """Set the widgets from the URL once per distinct URL (a rerun keeps the widgets' own state).

    Streamlit drops a widget's state on a run that does not draw it: back from another page, the widgets take
    this page's last settings again (the URL it last wrote), not the defaults.
    """
    query = st.query_params.to_dict()
    settled = state.get(f"{PREFIX}loaded") is not None and (state[f"{PREFIX}loaded"] == query or
                                                            query == state.get(f"{PREFIX}written"))
    drawn_always = [key for key in _defaults() if not key.endswith(".lr")]  # ρ sliders: the chosen optimizers'
    if settled and all(PREFIX + key in state for key in drawn_always):
        return
    if settled or "dataset" not in query:  # this page's URLs always name the dataset; else take its last own one
        query = state.get(f"{PREFIX}written") or query
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
    state[f"{PREFIX}loaded"], state[f"{PREFIX}messages"] = query, messages
    state[f"{PREFIX}messages_for"] = None  # the page's own URL once drawn: the messages stay until it changes


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
    from landscapes.network import Config

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
    return _freeze(network_plots.model_figure(networks.model_view(_network(config))))


@st.cache_data(max_entries=256, show_spinner=False)
def _trajectory(config: tuple, name: str, lr: float, steps: int, batch: int) -> Any:
    plane = _plane(config)
    return networks.slice_race(plane, {name: {"lr": lr}}, steps, tuple(map(float, plane.default_start)),
                               batch_size=batch or None, seed=config[3])[name]


@st.cache_resource(max_entries=16, show_spinner=False)
def _race_figures(config: tuple, grid: int, key: str) -> dict[str, go.Figure]:
    plane, trajectories = _plane(config), _race(config, key)
    layer = _layer(config, grid)
    stride = -(-grid // SURFACE_3D_GRID)
    coarse = layer.grid._replace(x=layer.grid.x[::stride], y=layer.grid.y[::stride],
                                 z=layer.grid.z[::stride, ::stride])
    figures = {"surface": _freeze(plots.surface_figure(plane, trajectories, grid=coarse))}
    if trajectories:
        figures["race"] = _freeze(plots.race_figure(plane, trajectories, layer=layer))
        figures["curves"] = _freeze(plots.curves_figure(plane, trajectories))
    return figures


def _race(config: tuple, key: str) -> dict[str, Any]:
    chosen = json.loads(key)
    return {name: _trajectory(config, name, setting["lr"], chosen["steps"], chosen["batch"])
            for name, setting in chosen["optimizers"].items()}


@st.cache_resource(max_entries=4, show_spinner=False)
def _full_space(config: tuple, key: str) -> Any:
    from landscapes import fullspace
    from landscapes import network as nets

    chosen = json.loads(key)
    return fullspace.full_space(nets.Config(*config), chosen["optimizers"], chosen["steps"], chosen["batch"] or None)


def _full_space_figures(config: tuple, key: str) -> dict[str, go.Figure]:
    def compute(report: Any) -> dict[str, go.Figure]:
        full = _full_space(config, key)
        grid = plots.race.landscape_layer(full.surface, PCA_GRID, progress=report).grid
        return {"pca": _freeze(network_plots.pca_figure(full, grid)),
                "curves": _freeze(network_plots.fullspace_curves_figure(full)),
                "projection": _freeze(network_plots.projection_error_figure(full))}

    return _with_progress("fullspace", (config, key), compute, 4, "Evaluating the loss on the PCA plane…")


@st.cache_resource(max_entries=2, show_spinner=False)
def _logistic_layer() -> Any:
    return plots.race.landscape_layer(landscapes.get("logistic2"))


@st.cache_resource(max_entries=16, show_spinner=False)
def _logistic_figure(key: str) -> go.Figure:
    """The race of the page's optimizers on the two-parameter network (its whole parameter space)."""
    surface, chosen = landscapes.get("logistic2"), json.loads(key)
    batch = chosen["batch"] if chosen["batch"] <= LOGISTIC_POINTS else 0
    trajectories = networks.slice_race(surface, {name: dict(setting) for name, setting in chosen["optimizers"].items()},
                                       chosen["steps"], surface.default_start, batch_size=batch or None)
    return _freeze(plots.race_figure(surface, trajectories, layer=_logistic_layer(),
                                     title="logistic regression σ(w·x + b): the whole (w, b) space"))


def _freeze(figure: go.Figure) -> go.Figure:
    """The figure's dict computed once (``st.plotly_chart`` calls ``to_dict()`` on every rerun)."""
    plain_dict = figure.to_dict()
    figure.to_dict = lambda: plain_dict
    return figure


def _producers(values: dict[str, Any], config: tuple, key: str) -> dict[str, Any]:
    """Each export format's bytes from the race the page shows (losslab.exports on its trajectories and figure)."""
    chosen = json.loads(key)
    race_config = race.RaceConfig(surface="network", surface_params={name: values[name] for name in SPECS},
                                  optimizers=chosen["optimizers"], steps=chosen["steps"])
    trajectories = _race(config, key)
    figure = _race_figures(config, values["grid"], key)["race"]
    layer = _layer(config, values["grid"])

    def produce(fmt: str) -> Any:
        def run(settings: exports.ExportSettings, progress: Any) -> bytes:
            return exports.export_race(race_config, fmt, settings, trajectories=trajectories, figure=figure,
                                       layer=layer, progress=progress)
        return run

    # the race JSON re-runs full-batch races: with minibatches it would not reproduce what is shown
    formats = [fmt for fmt in exports.FORMATS if not (fmt == "json" and chosen["batch"])]
    return {fmt: produce(fmt) for fmt in formats}


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
        state.setdefault(key, NETWORK_LR[name])  # Streamlit drops an unshown widget's state
        choices = sorted({*LR_CHOICES, float(state[key])})
        bar.select_slider(f"{name}: learning rate ρ", choices, key=key, format_func=lambda v: f"{v:g}")
    bar.slider("steps", 1, MAX_STEPS, key=PREFIX + "steps")
    bar.number_input("minibatch size (0: full batch)", 0, MAX_BATCH, step=8, key=PREFIX + "batch",
                     help="each step's gradient on this many random training examples (Algorithm 8.1)")
    return {key[len(PREFIX):]: state[key] for key in list(state.keys())
            if isinstance(key, str) and key.startswith(PREFIX) and key[len(PREFIX):] in _defaults()}


def _race_key(values: dict[str, Any], batch: int) -> str:
    """The race's settings as JSON (optimizer order kept): the cache key of everything drawn from them."""
    chosen = {name: {"lr": float(values[f"{name}.lr"])} for name in values["opt"]}
    return json.dumps({"optimizers": chosen, "steps": int(values["steps"]), "batch": batch})


def _progress(text: str) -> tuple[Any, Any]:
    bar = st.progress(0.0, text=text)
    return bar, lambda fraction: bar.progress(min(float(fraction), 1.0), text=text)


def main() -> None:
    _load_url()
    values = sidebar()
    query = _query(values)
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    state[f"{PREFIX}written"] = query
    if state.get(f"{PREFIX}messages_for") is None:
        state[f"{PREFIX}messages_for"] = query
    messages = state.get(f"{PREFIX}messages") or []
    if messages and state[f"{PREFIX}messages_for"] == query:
        st.warning("Some URL settings were not valid and fell back to their defaults:\n\n"
                   + "\n".join(f"- {m}" for m in messages))

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
    key = _race_key(values, batch)
    figures = _race_figures(config, values["grid"], key)
    if "race" in figures:
        st.plotly_chart(figures["race"], theme=None, key="net.race")
        for name, trajectory in _race(config, key).items():
            if trajectory.diverged_at[0] >= 0:
                st.warning(f"{name} diverged at step {int(trajectory.diverged_at[0])}: lower its ρ.")
        st.plotly_chart(figures["curves"], theme=None, key="net.curves")
    else:
        st.info("Select at least one optimizer in the sidebar to race in the slice.")
    st.plotly_chart(figures["surface"], theme=None, key="net.surface3d")
    if "race" in figures:
        stem = f"network-{values['dataset']}-race-{values['steps']}-steps"
        export_panel.download_section("net.export", f"{config}{key}", stem, _producers(values, config, key))

    st.subheader("Full-space training")
    st.toggle("train in the full parameter space (PCA plane, train/test loss)", key=PREFIX + "fullspace")
    projection = None
    if state[PREFIX + "fullspace"] and values["opt"]:
        projection = _full_space_section(config, key, values)
    elif state[PREFIX + "fullspace"]:
        st.info("Select at least one optimizer in the sidebar.")
    if values["opt"]:
        _two_parameter_section(key, projection)


def _full_space_section(config: tuple, key: str, values: dict[str, Any]) -> go.Figure | None:
    """The PCA plane and the loss curves; returns the projection-error figure (None when training failed)."""
    bar, report = _progress("Training every optimizer in the full parameter space…")
    try:
        full = _full_space(config, key)
    except ValueError as error:
        bar.empty()
        st.error(str(error))
        return None
    report(1.0)
    bar.empty()
    figures = _full_space_figures(config, key)
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


def _two_parameter_section(key: str, projection: go.Figure | None) -> None:
    st.subheader("The exact two-parameter network")
    st.caption(f"A single sigmoid neuron p(x) = σ(w·x + b) on {LOGISTIC_POINTS} 1-D points has exactly two "
               "parameters: its (w, b) plane is the whole parameter space, so this contour is the real landscape "
               "and every step of the race lies in it. A bigger network's plane is a 2-D window into thousands of "
               "dimensions: its real iterates leave the plane, by the distance on the right.")
    left, right = st.columns(2)
    left.plotly_chart(_logistic_figure(key), theme=None, key="net.logistic2")
    if projection is not None:
        right.plotly_chart(projection, theme=None, key="net.projection")
    else:
        right.info("Switch on the full-space view above to see how far the big network's real trajectory is from "
                   "its PCA plane.")


main()
