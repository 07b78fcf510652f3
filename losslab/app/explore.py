"""Explore: optimizers race across one loss surface.

Thin page: sidebar widgets -> ``losslab.race.RaceConfig`` -> cached library calls -> ``plots`` figures.
Every setting lives in the URL: on the first run of a session (or when the URL was changed from
outside) the widgets are initialised from ``race.from_query``; every run writes the widgets' config
back with ``race.to_query``. Widget values are never passed as ``value=``: they live in
``st.session_state`` under the widget keys, filled in before each widget is created.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import landscapes
import optimizers
import plots
from landscapes.curvature import curvature
from losslab import config_io, exports, lessons, race, theory
from losslab.app import export_panel
from losslab.app.frozen import freeze
from losslab.app.grids import EPS_GRID, FINE, LR_BOUNDS, LR_GRID, log_grid, sci
from optimizers import schedules
from optimizers.inspect import step_view
from plots.inspect import step_figure, step_rows

# --- constants ---------------------------------------------------------------------------------

DEFAULT_CONFIG = race.RaceConfig()
MAX_REMEMBERED_URLS = 64
MAX_TEXT = 200  # characters of a typed surface parameter (a formula, a window): what a URL value holds
MAX_SEED = 2**53 - 1  # what a browser's number input holds exactly
UNIT_MAX = 0.999  # α, β₁, dampening sliders: [0, 0.999]
SLIDER_RANGES = {  # what the page's sliders hold; the library accepts more (lr ≥ 0, eps ≥ 0, α < 1)
    "lr": LR_BOUNDS, "eps": (EPS_GRID[0], EPS_GRID[-1]), "momentum": (0.0, UNIT_MAX),
    "dampening": (0.0, UNIT_MAX), "alpha": (0.0, 1.0), "beta1": (0.0, UNIT_MAX), "beta2": (0.0, 0.9999),
}
FLAG_LABELS = {"nesterov": "Nesterov", "amsgrad": "AMSGrad", "centered": "centered",
               "decoupled_weight_decay": "decoupled weight decay (AdamW)"}
SCHEDULE_NAMES = [name for name in schedules.names() if name != "SequentialLR"]  # needs nested schedules
SCHEDULE_UI_DEFAULTS = {  # values for the parameters torch requires (no default there)
    ("StepLR", "step_size"): 100, ("MultiStepLR", "milestones"): [100, 200], ("ExponentialLR", "gamma"): 0.99,
    ("CosineAnnealingLR", "T_max"): 300, ("OneCycleLR", "max_lr"): 0.1, ("OneCycleLR", "total_steps"): 300,
}
SCHEDULE_CHOICES = {"anneal_strategy": ("cos", "linear")}
UI_FLAGS = {"view3d": "3-D surface view", "field": "negative-gradient field", "same_lr": "same lr for all",
            "inspect": "inspect a step"}
SYMBOLS = {  # keyword -> symbol in the lecture's notation
    "lr": r"\rho", "momentum": r"\alpha", "dampening": r"\tau", "weight_decay": r"\lambda", "eps": r"\epsilon",
    "lr_decay": r"\eta", "initial_accumulator_value": r"r_0",
}
HINTS = {
    "sgd": "On an ill-conditioned bowl SGD zig-zags across the steep axis and crawls along the flat one; "
           "past ρ = 2/λ_max the zig-zag grows and the run diverges.",
    "momentum": "Momentum overshoots along the steep axis when α is large, but keeps its speed along the flat "
                "valley floor: watch it spiral into the minimum ahead of SGD.",
    "nesterov": "Nesterov takes the gradient after the momentum step, so its overshoots across the steep axis "
                "die out faster than plain momentum's at the same ρ and α.",
    "rmsprop": "RMSProp rescales x and y separately, not the bowl's eigen-axes: on a rotated quadratic its path "
               "bends, and with a constant ρ it ends rattling in a band around the minimum.",
    "adam": "Adam's first steps have length ≈ ρ per coordinate whatever the gradient's size (a diagonal start); "
            "near the minimum it circles unless ρ decays (try a schedule).",
    "adam_nobc": "Without bias correction Adam's first step is (1 − β₁)/√(1 − β₂) ≈ 3.2 times Adam's (β₂ = 0.999): "
                 "s and r start at 0, and r forgets that start a hundred times more slowly than s "
                 "(1/(1 − β₂) = 1000 steps against 10). Race it against adam and watch the first steps.",
    "adagrad": "AdaGrad's steps shrink as squared gradients pile up, so it stalls on long flat valleys; "
               "a larger ρ buys back speed.",
    "adamw": "AdamW pulls θ toward the origin by ρλ every step independently of the gradient: where the "
             "minimum is away from 0 it settles slightly short of it.",
}


# --- number formatting ---------------------------------------------------------------------------


def plain(value: float) -> str:
    """Shortest decimal form that reads back as ``value`` (50, 0.35, 1e-08)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def nice_step(low: float, high: float) -> float:
    return 10.0 ** math.floor(math.log10((high - low) / 100.0))


# --- session state <-> config --------------------------------------------------------------------

state = st.session_state


def _surface_defaults(surface: str) -> dict[str, float]:
    return {**{p.name: p.default for p in landscapes.parameters(surface)}, **race.surface_defaults(surface)}


def _schedule_defaults(name: str) -> dict[str, Any]:
    return {key: SCHEDULE_UI_DEFAULTS.get((name, key), default) for key, default, _ in schedules.PARAMETERS[name]}


def _default_start(surface: str, params: dict[str, float]) -> tuple[float, float]:
    return tuple(float(v) for v in _surface(surface, params).default_start)


def _set_optimizer_state(name: str, hyper: dict[str, Any]) -> None:
    for key, value in hyper.items():
        if key == "betas":
            state[f"{name}.beta1"], state[f"{name}.beta2"] = float(value[0]), float(value[1])
        elif isinstance(value, bool):
            state[f"{name}.{key}"] = value
        else:
            state[f"{name}.{key}"] = float(value)


def _apply(config: race.RaceConfig, flags: dict[str, bool]) -> None:
    """Write a configuration into the widgets' session-state keys (before any widget is drawn)."""
    state["surface"] = config.surface
    values = {**_surface_defaults(config.surface), **config.surface_params}
    for spec in landscapes.parameters(config.surface):
        state[f"{config.surface}.{spec.name}"] = _widget_value(spec, values[spec.name])
    state["opt"] = list(config.optimizers)
    for name, hyper in config.optimizers.items():
        _set_optimizer_state(name, hyper)
    state["steps"] = int(config.steps)
    state["schedule"] = config.schedule["name"] if config.schedule else "none"
    if config.schedule and config.schedule["name"] in SCHEDULE_NAMES:
        name = config.schedule["name"]
        for key, value in {**_schedule_defaults(name), **config.schedule}.items():
            if key != "name":
                state[f"schedule.{name}.{key}"] = _schedule_widget_value(key, value)
    state["noise"], state["seed"] = float(config.noise), int(config.seed)
    start = config.start_point()
    state["start_x"], state["start_y"] = float(start[0]), float(start[1])
    state["_start_surface"] = config.surface
    state["_start_default"] = _default_start(config.surface, values)
    state["_lr_surface"] = config.surface
    for key, value in flags.items():
        state[key] = value
    if flags.get("same_lr") and config.optimizers:
        state["lr_all"] = float(next(iter(config.optimizers.values()))["lr"])


def _widget_value(spec: Any, value: Any) -> Any:
    """A surface parameter as its widget holds it: a number, a choice, or widths as text ("16,16")."""
    if isinstance(spec, landscapes.Param):
        return int(value) if spec.integer else float(value)
    return spec.format(value)


def _schedule_widget_value(key: str, value: Any) -> Any:
    if key == "milestones":
        return ", ".join(str(int(v)) for v in value)
    return value


def _parse_flags(query: dict[str, str]) -> tuple[dict[str, bool], list[str]]:
    flags, messages = {key: False for key in UI_FLAGS}, []
    for key in UI_FLAGS:
        if key in query:
            text = str(query[key]).lower()
            if text in ("1", "true", "0", "false"):
                flags[key] = text in ("1", "true")
            else:
                messages.append(f"Ignored URL parameter {key}={query[key][:60]!r} (must be true or false); "
                                "using the default.")
    return flags, messages


def _load_inspected(query: dict[str, str], config: race.RaceConfig) -> list[str]:
    """The inspected optimizer and step from the URL (``inspect.opt``, ``inspect.step``) into their widgets."""
    messages = []
    if query.get("inspect.opt") is not None:
        if query["inspect.opt"] in config.optimizers:
            state["inspect.opt"] = query["inspect.opt"]
        else:
            messages.append(f"Ignored URL parameter inspect.opt={query['inspect.opt'][:60]!r} (not one of the "
                            f"race's optimizers: {', '.join(config.optimizers)}).")
    if query.get("inspect.step") is not None:
        text = query["inspect.step"]
        if text.isdigit() and int(text) < max(config.steps, 1):
            state["inspect.step"] = int(text)
        else:
            messages.append(f"Ignored URL parameter inspect.step={text[:60]!r} (must be an integer in "
                            f"[0, {max(config.steps - 1, 0)}]).")
    return messages


def _inspected_query() -> dict[str, str]:
    """The inspect view's optimizer and step for the URL (only while the view is open)."""
    if not state.get("inspect"):
        return {}
    return {key: str(state[key]) for key in ("inspect.opt", "inspect.step") if state.get(key) is not None}


def _query_id(query: dict[str, str]) -> str:
    return json.dumps(query, sort_keys=True)


def _fit_sliders(config: race.RaceConfig) -> tuple[race.RaceConfig, list[str]]:
    """Values the library accepts but the page's sliders cannot show (lr = 0, ε = 0, α = 0.9999) -> defaults."""
    messages, chosen = [], {}
    for name, hyper in config.optimizers.items():
        defaults, fitted = race.optimizer_defaults(name, config.surface), dict(hyper)
        for key, value in hyper.items():
            pairs = zip(("beta1", "beta2"), value, strict=True) if key == "betas" else [(key, value)]
            for slider, number in pairs:
                low, high = SLIDER_RANGES.get(slider, (-math.inf, math.inf))
                if not isinstance(number, bool) and not low <= number <= high:
                    messages.append(f"Ignored URL parameter {name}.{key}={plain(number)} (the page's slider holds "
                                    f"[{plain(low)}, {plain(high)}]); using the default.")
                    fitted[key] = defaults[key]
        chosen[name] = fitted
    return dataclasses.replace(config, optimizers=chosen), messages


def _load_url() -> None:
    """URL -> widgets, on a session's first run or when the URL changed from outside.

    A URL this page wrote itself in this session is never loaded back: a rerun the browser requested before
    it received the page's latest URL carries an older one, and loading that would undo the user's last change.
    Back from another page (Streamlit dropped the widgets' values; the sidebar's link has no query), the
    widgets take this session's last race again, not the defaults.
    """
    query = st.query_params.to_dict()
    if _query_id(query) in state.get("_written_queries", ()):
        if "steps" in state:  # an always-drawn widget still holds its value: so do the others
            return
        query = dict(state.get("_last_query", query))
    elif not query and "_last_query" in state:  # the sidebar's link to this page carries no query
        query = dict(state["_last_query"])
    lesson = query.pop("lesson", None)
    config, messages = race.from_query(query)
    if lesson is not None:  # ?lesson=NAME opens a lecture preset
        try:
            config = lessons.get(lesson).config
        except ValueError as error:
            messages.insert(0, f"Ignored URL parameter lesson={lesson[:60]!r} ({error}).")
    config, range_messages = _fit_page(config)
    flags, flag_messages = _parse_flags(query)
    _apply(config, flags)
    flag_messages += _load_inspected(query, config)
    state["_url_messages"] = messages + range_messages + flag_messages
    state["_url_messages_for"] = None  # filled in with the first query written after this load


def _open_lesson() -> None:
    """The Lesson picker's callback: the chosen preset's race into the widgets (before any widget is drawn)."""
    if state.get("lesson"):
        config, _ = _fit_page(lessons.get(state["lesson"]).config)
        _apply(config, {key: False for key in UI_FLAGS})


def _lesson_picker(slot: Any, config: race.RaceConfig) -> lessons.Lesson | None:
    """The picker shows the lesson the current race is (none once a setting changes); returns that lesson."""
    shown = lessons.matching(config)
    state["lesson"] = shown.name if shown else ""
    slot.selectbox("Lesson", ["", *lessons.names()], key="lesson", on_change=_open_lesson,
                   format_func=lambda name: lessons.get(name).title if name else "— a lecture preset —",
                   help="a complete race with a caption of what to look for; change anything to explore from it")
    return shown


def _fit_page(config: race.RaceConfig) -> tuple[race.RaceConfig, list[str]]:
    """A valid configuration as the page's widgets can hold it: out-of-widget values -> defaults, with messages."""
    messages = []
    if config.seed > MAX_SEED:
        messages.append(f"Ignored URL parameter seed={config.seed} (the page holds seeds up to {MAX_SEED}); "
                        "using the default.")
        config = dataclasses.replace(config, seed=0)
    config, range_messages = _fit_sliders(config)
    return config, messages + range_messages


def _restore_json(data: bytes) -> str:
    """An uploaded race JSON -> the widgets (the uploader's callback, before any widget is drawn)."""
    config, _ = config_io.read_race_json(data)
    config, messages = _fit_page(config)
    _apply(config, {key: bool(state.get(key, False)) for key in UI_FLAGS})
    note = " Adjusted to fit the page's sliders: " + " ".join(messages) if messages else ""
    return f"Restored the race: {config.surface}, {', '.join(config.optimizers)}, {config.steps} steps.{note}"


# --- cached computations -----------------------------------------------------------------------------


def _surface(name: str, params: dict[str, Any]) -> Any:
    """The surface ``name`` with ``params``, built once per name and parameters."""
    return _cached_surface(name, json.dumps(params, sort_keys=True))


def _layer(name: str, params: dict[str, Any]) -> Any:
    """The landscape's grid, isolines and colour image, drawn once per surface and parameters."""
    return _cached_layer(name, json.dumps(params, sort_keys=True))


@st.cache_resource(max_entries=64, show_spinner=False)
def _cached_surface(name: str, params_json: str) -> Any:
    return landscapes.get(name, **json.loads(params_json))


@st.cache_resource(max_entries=16, show_spinner=False)
def _cached_layer(name: str, params_json: str) -> Any:
    return plots.race.landscape_layer(_cached_surface(name, params_json))


@st.cache_data(max_entries=256, show_spinner=False)
def _trajectory(surface: str, params_json: str, name: str, hyper_json: str, steps: int,
                start: tuple[float, float], schedule_json: str, noise: float, seed: int) -> optimizers.Trajectory:
    hyper = json.loads(hyper_json)
    if "betas" in hyper:
        hyper["betas"] = tuple(hyper["betas"])
    schedule_config = json.loads(schedule_json)
    schedule = schedules.from_config(schedule_config) if schedule_config else None
    return optimizers.run(_cached_surface(surface, params_json), name, start=start, steps=steps, schedule=schedule,
                          noise=noise, seed=seed, **hyper)


def config_key(config: race.RaceConfig) -> str:
    """The configuration as JSON (optimizer order kept): the cache key of everything drawn from it."""
    return json.dumps(dataclasses.asdict(config))


def _race(key: str) -> tuple[Any, dict[str, optimizers.Trajectory], dict[str, str]]:
    """The surface, each optimizer's trajectory and each failing optimizer's error (per-optimizer cache)."""
    config = json.loads(key)
    params_json = json.dumps(config["surface_params"], sort_keys=True)
    surface = _cached_surface(config["surface"], params_json)
    start = tuple(config["start"]) if config["start"] is not None else tuple(map(float, surface.default_start))
    schedule_json = json.dumps(config["schedule"], sort_keys=True)
    trajectories, errors = {}, {}
    for name, hyper in config["optimizers"].items():
        try:
            trajectories[name] = _trajectory(config["surface"], params_json, name, json.dumps(hyper, sort_keys=True),
                                             config["steps"], start, schedule_json, config["noise"], config["seed"])
        except ValueError as error:
            errors[name] = str(error)
    return surface, trajectories, errors


# Figures are cached as objects (cache_resource: no copy per rerun) and only read afterwards. Each piece is
# keyed on what it depends on, so a view toggle rebuilds only its own figure.


@st.cache_resource(max_entries=16, show_spinner=False)
def _race_figure(key: str, gradient_field: bool) -> go.Figure:
    surface, trajectories, _ = _race(key)
    config = json.loads(key)
    layer = _layer(config["surface"], config["surface_params"])
    return freeze(plots.race_figure(surface, trajectories, gradient_field=gradient_field, layer=layer))


@st.cache_resource(max_entries=16, show_spinner=False)
def _curves(key: str) -> dict[str, Any]:
    """The loss (and distance-to-minimum, where a minimum is known) figure and the summary rows."""
    surface, trajectories, _ = _race(key)
    return {"curves": freeze(plots.curves_figure(surface, trajectories)),
            "rows": plots.summary_rows(surface, trajectories)}


@st.cache_resource(max_entries=8, show_spinner=False)
def _surface_figure(key: str) -> go.Figure:
    surface, trajectories, _ = _race(key)
    return freeze(plots.surface_figure(surface, trajectories))


def _figures(key: str, has_trajectories: bool, gradient_field: bool, view3d: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    if has_trajectories:
        figures = {"race": _race_figure(key, gradient_field), **_curves(key)}
    if view3d:
        figures["surface"] = _surface_figure(key)
    return figures


def _producers(config: race.RaceConfig, key: str, trajectories: dict[str, optimizers.Trajectory],
               gradient_field: bool) -> dict[str, Any]:
    """Each format's bytes from what the page already computed (the race, its cached figure and landscape)."""
    figure = _race_figure(key, gradient_field)
    layer = _layer(config.surface, config.surface_params)

    def produce(fmt: str) -> Any:
        def run(settings: exports.ExportSettings, progress: Any) -> bytes:
            return exports.export_race(config, fmt, settings, trajectories=trajectories, figure=figure, layer=layer,
                                       gradient_field=gradient_field, progress=progress)
        return run

    return {fmt: produce(fmt) for fmt in exports.FORMATS}


@st.cache_data(max_entries=64, show_spinner=False)
def _step_view(key: str, name: str, step: int) -> Any:
    """Step k of optimizer ``name`` in the race ``key``, replayed (optimizers.inspect.step_view)."""
    config = json.loads(key)
    surface = _surface(config["surface"], config["surface_params"])
    hyper = config["optimizers"][name]
    if "betas" in hyper:
        hyper["betas"] = tuple(hyper["betas"])
    schedule = schedules.from_config(config["schedule"]) if config["schedule"] else None
    start = tuple(config["start"]) if config["start"] is not None else tuple(map(float, surface.default_start))
    return step_view(surface, name, step, start=start, schedule=schedule, noise=config["noise"],
                     seed=config["seed"], **hyper)


def _quadratic_rates(config: race.RaceConfig, name: str, trajectory: optimizers.Trajectory) -> dict[str, Any]:
    """On the quadratic, heavy ball's (or GD's) theoretical contraction per step next to the measured one."""
    hyper = config.optimizers[name]
    if not theory.applies(config.surface, name, hyper) or config.schedule or config.noise:
        return {}
    kappa = float(config.surface_params.get("condition", 10.0))
    rates = theory.contraction_rates(float(hyper["lr"]), float(hyper.get("momentum", 0.0)), [1.0, kappa])
    distances = np.linalg.norm(trajectory.points[0], axis=1)
    return {"contraction per step, theory (spectral radius, λ = 1 and κ)": float(rates.max()),
            "contraction per step, measured": theory.measured_rate(distances)}


def _inspect_section(config: race.RaceConfig, key: str, surface: Any,
                     trajectories: dict[str, optimizers.Trajectory]) -> None:
    """One optimizer at one step: the zoomed figure (−ρg, its step, Hessian eigen-directions, per-coordinate
    reach) and the numbers (Hessian eigenvalues, local κ, Adam's moments with and without bias correction)."""
    st.subheader("Inspect a step")
    names = list(trajectories)
    if state.get("inspect.opt") not in names:
        state["inspect.opt"] = names[0]
    left, right = st.columns([2, 3])
    name = left.selectbox("optimizer", names, key="inspect.opt")
    diverged_at = int(trajectories[name].diverged_at[0])
    last = config.steps - 1 if diverged_at < 0 else diverged_at - 1  # a diverged run's last step that moved
    state["inspect.step"] = min(max(int(state.get("inspect.step", 0)), 0), last)
    step = left.slider("step k", 0, max(last, 1), key="inspect.step") if last > 0 else 0
    if diverged_at >= 0:
        left.caption(f"{name} diverged at step {diverged_at}: its steps up to {last} can be inspected.")
    view = _step_view(key, name, int(step))
    try:
        local = curvature(surface, view.theta)
    except ValueError:
        local = None
    rows = step_rows(view, local, _quadratic_rates(config, name, trajectories[name]))
    left.markdown("| quantity | value |\n| --- | --- |\n" + "\n".join(f"| {q} | {v} |" for q, v in rows))
    right.plotly_chart(step_figure(surface, view, local, name, names.index(name),
                                                 trajectories[name].points[0]), theme=None, key="inspect.figure")


# --- widgets ---------------------------------------------------------------------------------------


def _log_select(container: Any, label: str, key: str, low: float, high: float, default: float,
                grid: tuple[float, ...] | None = None, fmt: Any = sci, help: str | None = None) -> float:
    state.setdefault(key, float(default))
    current = min(max(float(state[key]), low), high)
    state[key] = current
    options = sorted({*(grid or ()), current}) if grid else log_grid(low, high, FINE, (current,))
    options = [v for v in options if low <= v <= high]
    return container.select_slider(label, options=options, format_func=fmt, key=key, help=help,
                                   persist_state="page")


def _slider(container: Any, label: str, key: str, low: float, high: float, default: float, step: float,
            fmt: str = "%.3f", help: str | None = None) -> float:
    state.setdefault(key, float(default))
    state[key] = min(max(float(state[key]), low), high)
    return container.slider(label, min_value=low, max_value=high, step=step, format=fmt, key=key, help=help,
                            persist_state="page")


def _number(container: Any, label: str, key: str, default: float, help: str | None = None) -> float:
    state.setdefault(key, float(default))
    return container.number_input(label, min_value=0.0, step=1e-3, format="%g", key=key, help=help,
                                  persist_state="page")


def _flag(container: Any, label: str, key: str, default: bool, help: str | None = None) -> bool:
    state.setdefault(key, bool(default))
    return container.toggle(label, key=key, help=help, persist_state="page")


def _surface_widgets(sidebar: Any) -> tuple[str, dict[str, Any]]:
    state.setdefault("surface", race.DEFAULT_SURFACE)
    surface = sidebar.selectbox("surface", landscapes.names(), key="surface", persist_state="page",
                                help=_surface(state["surface"], {}).description or None)
    defaults = _surface_defaults(surface)
    params = {}
    for spec in landscapes.parameters(surface):
        key, label = f"{surface}.{spec.name}", f"{spec.name}: {spec.doc}"
        if isinstance(spec, (landscapes.Text, landscapes.Box)):  # a formula or a window, typed
            state.setdefault(key, spec.format(defaults[spec.name]))
            params[spec.name] = sidebar.text_input(label, key=key, persist_state="page", max_chars=MAX_TEXT)
        elif not isinstance(spec, landscapes.Param):  # a choice, or widths picked from suggestions (or the URL's)
            state.setdefault(key, _widget_value(spec, defaults[spec.name]))
            options = spec.choices if isinstance(spec, landscapes.Choice) else list(dict.fromkeys(
                [spec.format(v) for v in spec.suggestions] + [state[key]]))
            params[spec.name] = spec.validate(sidebar.selectbox(label, options, key=key, persist_state="page"))
        elif spec.integer:
            state.setdefault(key, int(defaults[spec.name]))
            params[spec.name] = int(sidebar.number_input(label, int(spec.low), int(spec.high), step=1, key=key,
                                                         persist_state="page"))
        elif spec.log:
            params[spec.name] = _log_select(sidebar, label, key, spec.low, spec.high, defaults[spec.name], fmt=plain)
        else:
            params[spec.name] = _slider(sidebar, label, key, float(spec.low), float(spec.high),
                                        defaults[spec.name], nice_step(spec.low, spec.high), fmt="%g")
    try:  # typed text is checked by building the surface: a mistake is shown here and the default is raced
        params = {spec.name: spec.validate(params[spec.name]) for spec in landscapes.parameters(surface)}
        _surface(surface, params)
    except ValueError as error:
        sidebar.error(str(error))
        params = {key: value for key, value in defaults.items() if key in params}
    return surface, params


def _optimizer_widgets(container: Any, name: str, same_lr: bool, surface: str) -> dict[str, Any]:
    defaults = race.optimizer_defaults(name, surface)
    hyper: dict[str, Any] = {}
    for key, default in defaults.items():
        wkey = f"{name}.{key}"
        if key == "lr":
            if same_lr:
                continue
            hyper[key] = _log_select(container, "ρ  learning rate", wkey, *SLIDER_RANGES["lr"], default,
                                     grid=LR_GRID)
        elif key == "betas":
            b1 = _slider(container, "β₁", f"{name}.beta1", *SLIDER_RANGES["beta1"], default[0], 0.001)
            b2 = _slider(container, "β₂", f"{name}.beta2", *SLIDER_RANGES["beta2"], default[1], 0.0001, fmt="%.4f")
            hyper[key] = (b1, b2)
        elif isinstance(default, bool):
            hyper[key] = _flag(container, FLAG_LABELS.get(key, key), wkey, default)
        elif key == "momentum":
            hyper[key] = _slider(container, "α  momentum", wkey, *SLIDER_RANGES["momentum"], default, 0.001)
        elif key == "dampening":
            hyper[key] = _slider(container, "τ  dampening", wkey, *SLIDER_RANGES["dampening"], default, 0.001)
        elif key == "alpha":  # RMSprop's smoothing constant
            hyper[key] = _slider(container, "ρ_r  smoothing (torch alpha)", wkey, *SLIDER_RANGES["alpha"], default,
                                 0.001)
        elif key == "eps":
            hyper[key] = _log_select(container, "ε", wkey, *SLIDER_RANGES["eps"], default, grid=EPS_GRID)
        else:  # weight_decay, lr_decay, initial_accumulator_value
            label = {"weight_decay": "λ  weight decay", "lr_decay": "η  lr decay",
                     "initial_accumulator_value": "r₀  initial accumulator"}.get(key, key)
            hyper[key] = _number(container, label, wkey, default)
    return hyper


def _schedule_widgets(sidebar: Any) -> dict[str, Any] | None:
    state.setdefault("schedule", "none")
    name = sidebar.selectbox("learning-rate schedule", ["none", *SCHEDULE_NAMES], key="schedule",
                             persist_state="page", help="torch.optim.lr_scheduler, stepped once per step")
    if name == "none":
        return None
    config: dict[str, Any] = {"name": name}
    for key, default in _schedule_defaults(name).items():
        doc = next(d for k, _, d in schedules.PARAMETERS[name] if k == key)
        wkey = f"schedule.{name}.{key}"
        state.setdefault(wkey, _schedule_widget_value(key, default))
        if key in SCHEDULE_CHOICES:
            config[key] = sidebar.selectbox(key, SCHEDULE_CHOICES[key], key=wkey, help=doc, persist_state="page")
        elif isinstance(default, bool):
            config[key] = sidebar.toggle(key, key=wkey, help=doc, persist_state="page")
        elif key == "milestones":
            text = sidebar.text_input(key, key=wkey, help=doc, persist_state="page", max_chars=MAX_TEXT)
            try:
                config[key] = [int(part) for part in text.replace(" ", "").split(",") if part]
            except ValueError:
                config[key] = text  # the schedule's own validation names it
        elif isinstance(default, int):
            state[wkey] = int(state[wkey])
            config[key] = int(sidebar.number_input(key, min_value=1, step=1, key=wkey, help=doc,
                                                   persist_state="page"))
        else:
            state[wkey] = float(state[wkey])
            config[key] = sidebar.number_input(key, min_value=0.0, step=0.01, format="%g", key=wkey, help=doc,
                                               persist_state="page")
    return config


def _on_chart_select() -> None:
    """A click on the race figure (on its invisible click grid) sets the start."""
    event = state.get("race") or {}
    points = (event.get("selection") or {}).get("points") or []
    if points and "x" in points[0] and "y" in points[0]:
        state["start_click"] = (points[0]["x"], points[0]["y"])


def _start_widgets(sidebar: Any, surface: str, surface_params: dict[str, float]) -> tuple[float, float] | None:
    default = _default_start(surface, surface_params)
    inputs = (state.get("start_x"), state.get("start_y"))
    moved_default = state.get("_start_default") != default and inputs == state.get("_start_default")
    if state.get("_start_surface") != surface or moved_default:  # a new surface starts from its default start
        state["start_x"], state["start_y"] = default
    state["_start_surface"], state["_start_default"] = surface, default
    click = state.pop("start_click", None)
    if click is not None:
        try:
            x, y = (float(v) for v in click)
            if math.isfinite(x) and math.isfinite(y):
                state["start_x"], state["start_y"] = round(x, 4), round(y, 4)
        except (TypeError, ValueError):
            pass
    state.setdefault("start_x", default[0])
    state.setdefault("start_y", default[1])
    left, right = sidebar.columns(2)
    x = left.number_input("start x", step=0.1, format="%.4g", key="start_x", persist_state="page")
    y = right.number_input("start y", step=0.1, format="%.4g", key="start_y", persist_state="page")
    sidebar.caption("…or click on the contour plot to set the start.")
    return None if (float(x), float(y)) == default else (float(x), float(y))


def sidebar_config() -> tuple[race.RaceConfig, dict[str, bool]]:
    """Draw the sidebar; the configuration and the page's view flags it describes."""
    sidebar = st.sidebar
    sidebar.header("Surface")
    surface, surface_params = _surface_widgets(sidebar)
    if state.get("_lr_surface", surface) != surface:  # a new surface brings its own default learning rates
        for name in optimizers.names():
            state[f"{name}.lr"] = race.optimizer_defaults(name, surface)["lr"]
        state.pop("lr_all", None)
    state["_lr_surface"] = surface

    sidebar.header("Optimizers")
    state.setdefault("opt", list(race.DEFAULT_OPTIMIZERS))
    chosen = sidebar.multiselect("optimizers", optimizers.names(), key="opt", persist_state="page")
    same_lr = _flag(sidebar, UI_FLAGS["same_lr"], "same_lr", False, help="one learning rate drives every optimizer")
    if same_lr:
        first = chosen[0] if chosen else race.DEFAULT_OPTIMIZERS[0]
        lr_all = _log_select(sidebar, "ρ  learning rate (all optimizers)", "lr_all", LR_GRID[0], LR_GRID[-1],
                             state.get(f"{first}.lr", race.optimizer_defaults(first, surface)["lr"]), grid=LR_GRID)
    chosen_hyper = {}
    for name in chosen:
        with sidebar.expander(f"{name}: {optimizers.RULES[name].torch_name or 'ours, not in torch.optim'}"):
            hyper = _optimizer_widgets(st, name, same_lr, surface)
        if same_lr:
            hyper = {"lr": lr_all, **hyper}
        chosen_hyper[name] = {key: hyper[key] for key in race.optimizer_defaults(name)}

    sidebar.header("Run")
    state.setdefault("steps", DEFAULT_CONFIG.steps)
    state["steps"] = min(max(int(state["steps"]), 0), race.MAX_RACE_STEPS)
    steps = sidebar.slider("steps", 0, race.MAX_RACE_STEPS, step=10, key="steps", persist_state="page")
    schedule = _schedule_widgets(sidebar)
    state.setdefault("noise", 0.0)
    noise = sidebar.number_input("gradient noise σ", min_value=0.0, step=0.1, format="%g", key="noise",
                                 persist_state="page", help="g = ∇f(θ) + σξ, ξ ~ N(0, I)")
    state.setdefault("seed", 0)
    state["seed"] = min(max(int(state["seed"]), 0), MAX_SEED)
    seed = sidebar.number_input("seed", min_value=0, max_value=MAX_SEED, step=1, key="seed", persist_state="page")
    start = _start_widgets(sidebar, surface, surface_params)

    config = race.RaceConfig(surface=surface, surface_params=surface_params, optimizers=chosen_hyper,
                             steps=int(steps), start=start, schedule=schedule, noise=float(noise), seed=int(seed))
    flags = {"same_lr": same_lr, **{key: bool(state.get(key, False)) for key in ("view3d", "field", "inspect")}}
    return config, flags



# --- the math --------------------------------------------------------------------------------------


def update_rule(name: str, hyper: dict[str, Any], schedule: dict[str, Any] | None, noise: float) -> str:
    """The update of ``name`` in the lecture's notation (LaTeX), for the current settings, with its values."""
    rule = optimizers.RULES[name]
    equations = list(rule.equations)
    if name in ("sgd", "momentum", "nesterov"):
        if hyper.get("nesterov"):
            equations = list(optimizers.RULES["nesterov"].equations)
        elif hyper.get("momentum", 0.0) > 0:
            equations = list(optimizers.RULES["momentum"].equations)
        else:
            equations = list(optimizers.RULES["sgd"].equations)
        if hyper.get("momentum", 0.0) > 0 and hyper.get("dampening", 0.0) > 0:
            equations[0] = equations[0].replace(r"\rho", r"(1 - \tau)\rho", 1)
    if name == "adamw" or (name == "adam" and hyper.get("decoupled_weight_decay")):
        equations = [*optimizers.RULES["adam"].equations[:2], *optimizers.RULES["adamw"].equations]
    if name in ("adam", "adamw") and hyper.get("amsgrad"):
        equations.insert(-1, r"\hat r_{\max} \leftarrow \max(\hat r_{\max}, \hat r)"
                             r"\ \text{(AMSGrad: replaces } \hat r)")
    if name == "rmsprop":
        if hyper.get("centered"):
            equations.insert(1, r"\bar g \leftarrow \rho_r \bar g + (1 - \rho_r) g,\quad"
                                r"\ \text{centered: } r - \bar g^2 \text{ replaces } r \text{ below}")
        if hyper.get("momentum", 0.0) > 0:
            equations[-1] = (r"b \leftarrow \alpha b + \frac{g}{\sqrt{r} + \epsilon},"
                             r"\quad \theta \leftarrow \theta - \rho b")
    if name == "adagrad" and hyper.get("lr_decay", 0.0) > 0:
        equations.insert(0, r"\rho_t = \frac{\rho}{1 + (t - 1)\eta}")
    gradient = r"g = \nabla f(\theta)"
    if hyper.get("weight_decay", 0.0) > 0 and name != "adamw" and not hyper.get("decoupled_weight_decay"):
        gradient += r" + \lambda \theta"
    if noise > 0:
        gradient += r" + \sigma \xi,\ \ \xi \sim \mathcal{N}(0, I)"
    equations.insert(0, gradient)

    values = []
    lr_symbol = r"\rho_0" if schedule else r"\rho"
    for key, value in hyper.items():
        if key == "lr":
            values.append(f"{lr_symbol} = {_latex_number(value)}")
        elif key == "betas":
            values.append(rf"\beta_1 = {_latex_number(value[0])}")
            values.append(rf"\beta_2 = {_latex_number(value[1])}")
        elif key == "alpha":
            values.append(rf"\rho_r = {_latex_number(value)}")
        elif key in SYMBOLS and not isinstance(value, bool):
            relevant = (value != 0 or key in ("eps", "momentum")) and not (
                key == "momentum" and name in ("sgd", "rmsprop") and value == 0)
            if relevant:
                values.append(f"{SYMBOLS[key]} = {_latex_number(value)}")
    if noise > 0:
        values.append(rf"\sigma = {_latex_number(noise)}")
    if schedule:
        values.append(r"\rho_k = \text{" + schedule["name"] + r"}(k, \rho_0)")
    left = r"\begin{gathered}" + r" \\ ".join(equations) + r"\end{gathered}"
    right = r"\begin{aligned}" + r" \\ ".join(v.replace(" = ", " &= ", 1) for v in values) + r"\end{aligned}"
    return left + r"\qquad" + right


def _latex_number(value: float) -> str:
    text = plain(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        exponent = int(exponent)
        return (rf"{mantissa} \cdot " if mantissa != "1" else "") + f"10^{{{exponent}}}"
    return text


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The per-optimizer summary as a Markdown table (no pandas import, no data-grid widget in the browser)."""
    def cell(value: Any) -> str:
        if value is None:
            return "—"
        return f"{value:.4g}" if isinstance(value, float) else str(value).replace("|", "\\|")

    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(row[key]) for key in header) + " |" for row in rows]
    return "\n".join(lines)


# --- the page --------------------------------------------------------------------------------------


def write_query(query: dict[str, str]) -> None:
    """Write the page's settings to the URL (only when they changed) and remember what was written."""
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    written = state.setdefault("_written_queries", {})  # insertion-ordered: the oldest are dropped first
    written.pop(_query_id(query), None)
    written[_query_id(query)] = True
    state["_last_query"] = dict(query)
    while len(written) > MAX_REMEMBERED_URLS:
        del written[next(iter(written))]
    if state.get("_url_messages_for") is None:
        state["_url_messages_for"] = query


def main() -> None:
    _load_url()
    lesson_slot = st.sidebar.container()
    config, flags = sidebar_config()
    lesson = _lesson_picker(lesson_slot, config)

    query = race.to_query(config)
    query.update({key: "true" for key, on in flags.items() if on})
    query.update(_inspected_query())

    errors = []
    if config.schedule:
        try:
            schedule = schedules.from_config(config.schedule)
            if config.steps:
                schedule(config.steps - 1, 1.0)  # a schedule that cannot reach the last step fails here
        except (ValueError, TypeError) as error:
            errors.append(f"Schedule {config.schedule['name']}: {error}. Racing without a schedule.")
            config = dataclasses.replace(config, schedule=None)
            query = {k: v for k, v in query.items() if not k.startswith("schedule")}
    write_query(query)

    messages = state.get("_url_messages") or []
    if messages and state.get("_url_messages_for") == query:
        st.warning("Some URL settings were not valid and fell back to their defaults:\n\n"
                   + "\n".join(f"- {m}" for m in messages))

    if lesson is not None:
        st.info(f"**Lesson: {lesson.title}.** {lesson.caption}")
    try:
        surface = _surface(config.surface, config.surface_params)
    except ValueError as error:
        st.error(str(error))
        return
    if getattr(surface, "description", ""):
        st.caption(surface.description)

    view_columns = st.columns([1, 1, 1, 2])
    for column, key in zip(view_columns, ("field", "view3d", "inspect")):
        _flag(column, UI_FLAGS[key], key, False)
        flags[key] = bool(state[key])

    for message in errors:
        st.error(message)
    if not config.optimizers:
        st.info("Select at least one optimizer in the sidebar.")

    key = config_key(config)
    _, trajectories, failures = _race(key)
    for name, message in failures.items():
        st.error(f"{name}: {message}")
    for name, trajectory in trajectories.items():
        if trajectory.diverged_at[0] >= 0:
            st.warning(f"{name} diverged at step {int(trajectory.diverged_at[0])} "
                       f"({trajectory.diverged_reason[0]})")

    try:
        figures = _figures(key, bool(trajectories), flags["field"], flags["view3d"])
    except ValueError as error:
        st.error(str(error))
        return

    if "race" in figures:
        st.plotly_chart(figures["race"], key="race", on_select=_on_chart_select, selection_mode="points", theme=None)
    if "curves" in figures:
        st.plotly_chart(figures["curves"], theme=None, key="curves")
        if not getattr(surface, "minima", ()):
            st.caption("This surface has no known minimum: no distance-to-minimum curve.")
    if figures.get("rows"):
        st.markdown(summary_table(figures["rows"]))
    if "surface" in figures:
        st.plotly_chart(figures["surface"], theme=None, key="surface3d")
    if flags["inspect"] and trajectories and config.steps:
        _inspect_section(config, key, surface, trajectories)

    if "race" in figures and not failures:
        shown = {"race": "the race", "curves": "loss and distance", "surface": "the 3-D view"}
        shown = {name: label for name, label in shown.items() if name in figures}
        if state.get("export.figure") not in shown:
            state["export.figure"] = "race"
        chosen = st.selectbox("figure for PNG, SVG, PDF and HTML", list(shown), format_func=shown.get,
                              key="export.figure")
        producers = _producers(config, key, trajectories, flags["field"])
        if chosen != "race":
            producers.update(export_panel.figure_producers(figures[chosen]))
        export_panel.download_section("export", f"{key}/field={flags['field']}/{chosen}",
                                      exports.file_stem(config) + ("" if chosen == "race" else f"-{chosen}"),
                                      producers, on_upload=_restore_json)
    else:
        export_panel.download_section("export", key, "race", {}, on_upload=_restore_json)

    if config.optimizers:
        st.subheader("The update rules")
        st.caption("Lecture notation: ρ learning rate, α momentum, θ parameters, g gradient. torch.optim keeps "
                   "b ← αb + g and steps θ ← θ − ρb for momentum: the same iterates until ρ changes under a "
                   "schedule.")
        for name, hyper in config.optimizers.items():
            st.markdown(f"**{name}** — {optimizers.RULES[name].summary}")
            st.latex(update_rule(name, hyper, config.schedule, config.noise))
            st.caption(HINTS.get(name, ""))


main()
