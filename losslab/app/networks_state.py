"""The Networks page's settings: its constants, the URL (through ``url_state``) into the widgets' state, the widgets,
and the widgets' values back to the URL. Every value from a URL passes ``losslab.overrides`` and the library's
validation; a bad one is reported and replaced by its default.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

import landscapes
from landscapes.fullspace import TORCH_OPTIMIZERS
from landscapes.network_config import MAX_PARAMETERS
from losslab import live, overrides, race
from losslab.app.url_state import UrlState
from losslab.grids import COARSE, log_grid
from optimizers import catalogue

state = st.session_state
SPECS = {spec.name: spec for spec in landscapes.parameters("network")}
OPTIMIZERS = tuple(TORCH_OPTIMIZERS)  # the full-space view trains with torch.optim: the optimizers it has
DEFAULT_OPTIMIZERS = ("sgd", "momentum", "adam")
SECOND = {name: keys[1] for name in OPTIMIZERS if len(keys := live.live_keys(name)) > 1}  # α, ρ_r, β₁: live too
LR_CHOICES = tuple(log_grid(1e-4, 5.0, COARSE, catalogue.SURFACE_LR["network"].values()))  # and each race ρ
MAX_LR = catalogue.spec("lr").ui[1]  # the ρ sliders' upper end
MAX_STEPS = 2_000  # ≤ race.MAX_RACE_STEPS and fullspace.MAX_STEPS: a page's run stays interactive
DEFAULT_STEPS = 200
GRIDS = (41, 61, 81, 101, 151, 201)
DEFAULT_GRID = 101
PCA_GRID = 61
SURFACE_3D_GRID = 81  # at most this many grid lines per axis in the 3-D view (every k-th line of the slice's grid)
PREFIX = "net."
URL = UrlState(PREFIX)


# --- URL <-> widget state ------------------------------------------------------------------------------


def defaults() -> dict[str, Any]:
    values = {name: spec.default for name, spec in SPECS.items()}
    values.update(opt=DEFAULT_OPTIMIZERS, steps=DEFAULT_STEPS, batch=0, grid=DEFAULT_GRID, fullspace=False)
    values.update({f"{name}.lr": catalogue.race_lr(name, "network") for name in OPTIMIZERS})
    values.update({f"{name}.{key}": live.current_value(race.optimizer_defaults(name, "network"), key, name)
                   for name, key in SECOND.items()})
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
    if "." in key:  # an optimizer's second live hyper-parameter: within its slider
        name, _, second = key.partition(".")
        low, high = catalogue.spec(second, name).ui
        if not low <= value <= high:
            raise ValueError(f"Invalid {key} value: {text!r} (must be in [{low:g}, {high:g}])")
        return value
    low, high = {"steps": (1, MAX_STEPS), "batch": (0, race.MAX_BATCH), "grid": (min(GRIDS), max(GRIDS))}[key]
    if not value.is_integer() or not low <= value <= high or (key == "grid" and int(value) not in GRIDS):
        rule = f"one of {', '.join(map(str, GRIDS))}" if key == "grid" else f"an integer in [{low}, {high}]"
        raise ValueError(f"Invalid {key} value: {text!r} (must be {rule})")
    return int(value)


def _url_keys() -> dict[str, str]:
    """Each setting's URL key, as on every page: a network parameter named like a race setting is written
    ``surface.<name>`` (``race.surface_key``: the network's seed is ``surface.seed``, ``seed`` is the noise and
    minibatch stream's on Explore)."""
    return {key: race.surface_key(key) if key in SPECS else key for key in defaults()}


def load_url() -> None:
    """Set the widgets from the URL when it is not one this page wrote (``url_state``); a link without a dataset
    (another page's) brings back this page's last settings."""
    query = URL.incoming(drawn_key=PREFIX + "dataset", owns=lambda query: "dataset" in query)
    if query is None:
        return
    if "seed" in query and "surface.seed" not in query:  # a link from before the shared keys: the network's seed
        query["surface.seed"] = query["seed"]  # (this page draws its minibatches from it too)
    settings = {url_key: key for key, url_key in _url_keys().items()}
    values, messages = defaults(), []
    for url_key, text in query.items():
        key = settings.get(url_key)
        if key is None:  # another page's setting (a link from Explore): not this page's to judge
            continue
        if race.oversized(url_key, text):
            messages.append(race.oversized(url_key, text))
            continue
        try:
            values[key] = _parse(key, text)
        except ValueError as error:
            messages.append(str(error) if url_key == key else f"URL parameter {url_key}: {error}")
    for key, value in values.items():
        state[PREFIX + key] = value
    URL.loaded(messages)


def query(values: dict[str, Any]) -> dict[str, str]:
    """The settings that differ from their defaults, as URL strings (the dataset always)."""
    default, url_keys = defaults(), _url_keys()
    written = {"dataset": values["dataset"]}
    for key, value in values.items():
        if key == "dataset" or value == default.get(key):
            continue
        if key == "hidden":
            written[key] = SPECS["hidden"].format(value)
        elif key == "opt":
            written[key] = ",".join(value)
        elif key == "fullspace":
            written[key] = "true"
        else:
            written[url_keys[key]] = repr(value) if isinstance(value, float) else str(value)
    return written


# --- widgets -------------------------------------------------------------------------------------------


def widths_label(widths: tuple[int, ...]) -> str:
    return "–".join(map(str, widths))


def sidebar() -> dict[str, Any]:
    """The page's settings from its sidebar widgets (initialized from the URL by ``load_url``)."""
    bar = st.sidebar
    bar.header("Network")
    bar.selectbox("dataset", SPECS["dataset"].choices, key=PREFIX + "dataset",
                  help="generated or bundled data, standardized, fixed train/test split")
    suggestions = list(SPECS["hidden"].suggestions)
    if tuple(state[PREFIX + "hidden"]) not in suggestions:  # a valid width list from the URL
        suggestions.append(tuple(state[PREFIX + "hidden"]))
    bar.selectbox("hidden widths", suggestions, key=PREFIX + "hidden", format_func=widths_label,
                  help=f"hidden-layer widths h₁ … h_L (≤ {MAX_PARAMETERS:,} parameters)")
    bar.selectbox("activation", SPECS["activation"].choices, key=PREFIX + "activation")
    bar.number_input("seed", int(SPECS["seed"].low), int(SPECS["seed"].high), step=1, key=PREFIX + "seed",
                     help="initialization, plane directions and minibatches")
    bar.number_input("L2 penalty λ", float(SPECS["l2"].low), float(SPECS["l2"].high), step=0.001, format="%g",
                     key=PREFIX + "l2", help="the loss is L(θ) + λ/2 ‖θ‖²")
    bar.select_slider("slice grid", GRIDS, key=PREFIX + "grid", help="points per axis of the loss slice")
    bar.header("Race")
    state.setdefault(PREFIX + "fullspace", False)  # drawn below the race, not on a run that stops early
    bar.multiselect("optimizers", OPTIMIZERS, key=PREFIX + "opt")
    for name in state[PREFIX + "opt"]:
        key = f"{PREFIX}{name}.lr"
        state.setdefault(key, catalogue.race_lr(name, "network"))  # Streamlit drops an unshown widget's state
        choices = sorted({*LR_CHOICES, float(state[key])})
        bar.select_slider(f"{name}: learning rate ρ", choices, key=key, format_func=lambda v: f"{v:g}")
        if name in SECOND:
            spec = catalogue.spec(SECOND[name], name)
            second = f"{PREFIX}{name}.{spec.key}"
            state.setdefault(second, defaults()[f"{name}.{spec.key}"])
            bar.slider(f"{name}: {spec.label}", *spec.ui, key=second, step=0.005, format="%.3f")
    bar.slider("steps", 1, MAX_STEPS, key=PREFIX + "steps")
    bar.number_input("minibatch size (0: full batch)", 0, race.MAX_BATCH, step=8, key=PREFIX + "batch",
                     help="each step's gradient on this many random training examples (Algorithm 8.1)")
    return {key[len(PREFIX):]: state[key] for key in list(state.keys())
            if isinstance(key, str) and key.startswith(PREFIX) and key[len(PREFIX):] in defaults()}
