"""Explore's sidebar: the widgets that describe a race, and the widget state a race is written into.

Widget values are never passed as ``value=``: they live in ``st.session_state`` under the widget keys
(``surface``, ``{surface}.{parameter}``, ``opt``, ``{optimizer}.{keyword}``, ``steps``, ``schedule``, ``noise``,
``seed``, ``start_x``/``start_y``), filled in by ``apply`` before any widget is drawn. ``sidebar_config`` draws them
and returns the typed ``RaceConfig`` they describe.
"""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

import landscapes
import optimizers
from losslab import budget, live, race
from losslab.app import race_cache
from losslab.app.markdown import escape
from losslab.grids import FINE, LOG_GRIDS, LR_GRID, log_grid, sci
from optimizers import catalogue, hyperparams, schedules

DEFAULT_CONFIG = race.RaceConfig()
MAX_TEXT = 200  # characters of a typed surface parameter (a formula, a window): a formula's own cap
MAX_SEED = 2**53 - 1  # what a browser's number input holds exactly
SCHEDULE_NAMES = [name for name in schedules.names() if name != "SequentialLR"]  # needs nested schedules
SCHEDULE_UI_DEFAULTS = {  # values for the parameters torch requires (no default there)
    ("StepLR", "step_size"): 100, ("MultiStepLR", "milestones"): [100, 200], ("ExponentialLR", "gamma"): 0.99,
    ("CosineAnnealingLR", "T_max"): 300, ("OneCycleLR", "max_lr"): 0.1, ("OneCycleLR", "total_steps"): 300,
}
SCHEDULE_CHOICES = {"anneal_strategy": ("cos", "linear")}
# An optimizer's sidebar expander's open state. Its widgets are drawn only while it is open: a closed expander's
# widgets would still be rendered by the browser on every rerun (a live commit's included).
EXPANDED = "_expanded.{}"
UI_FLAGS = {"view3d": "3-D surface view", "field": "negative-gradient field", "same_lr": "same lr for all",
            "inspect": "inspect a step"}


def plain(value: float) -> str:
    """Shortest decimal form that reads back as ``value`` (50, 0.35, 1e-08)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def nice_step(low: float, high: float) -> float:
    return 10.0 ** math.floor(math.log10((high - low) / 100.0))



# --- widget state <-> config ---------------------------------------------------------------------

state = st.session_state


def _surface_defaults(surface: str) -> dict[str, float]:
    return {**{p.name: p.default for p in landscapes.parameters(surface)}, **race.surface_defaults(surface)}


def _schedule_defaults(name: str) -> dict[str, Any]:
    return {key: SCHEDULE_UI_DEFAULTS.get((name, key), default) for key, default, _ in schedules.PARAMETERS[name]}


def _default_start(surface: str, params: dict[str, float]) -> tuple[float, float]:
    return tuple(float(v) for v in race_cache.surface(surface, params).default_start)


def _set_optimizer_state(name: str, hyper: dict[str, Any]) -> None:
    for key, value in hyper.items():
        spec = hyperparams.entry(name, key, hyper.get("base_optimizer"))
        if spec.kind == "pair":  # betas, etas, ...: a widget per half (None: Adafactor's default ε₁)
            for part, half in zip(spec.parts, value, strict=True):
                state[f"{name}.{part}"] = None if half is None else float(half)
        elif isinstance(value, bool) or spec.kind == "choice" or value is None:
            state[f"{name}.{key}"] = value
        else:
            state[f"{name}.{key}"] = int(value) if spec.valid.integer else float(value)


def apply(config: race.RaceConfig, flags: dict[str, bool]) -> None:
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
    state["constant_lr"] = list(config.constant_lr)
    if config.schedule and config.schedule["name"] in SCHEDULE_NAMES:
        name = config.schedule["name"]
        for key, value in {**_schedule_defaults(name), **config.schedule}.items():
            if key != "name":
                state[f"schedule.{name}.{key}"] = _schedule_widget_value(key, value)
    state["noise"], state["seed"] = float(config.noise), int(config.seed)
    state["batch"] = int(config.batch_size or 0)
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



# --- widgets ---------------------------------------------------------------------------------------


def _log_select(container: Any, label: str, key: str, low: float, high: float, default: float,
                grid: tuple[float, ...] | None = None, fmt: Any = sci, help: str | None = None) -> float:
    state.setdefault(key, float(default))
    current = min(max(float(state[key]), low), high)
    state[key] = current
    if container is None:  # not drawn (``_optimizer_widgets``): the value the widget would show
        return current
    options = sorted({*(grid or ()), current}) if grid else log_grid(low, high, FINE, (current,))
    options = [v for v in options if low <= v <= high]
    return container.select_slider(label, options=options, format_func=fmt, key=key, help=help,
                                   persist_state="page")


def _slider(container: Any, label: str, key: str, low: float, high: float, default: float, step: float,
            fmt: str = "%.3f", help: str | None = None) -> float:
    state.setdefault(key, float(default))
    state[key] = min(max(float(state[key]), low), high)
    if container is None:
        return state[key]
    return container.slider(label, min_value=low, max_value=high, step=step, format=fmt, key=key, help=help,
                            persist_state="page")


def _number(container: Any, label: str, key: str, default: float | None, valid: Any = None,
            help: str | None = None) -> float | None:
    """A number input over ``valid`` (a ``validation.Range``: whole numbers where it holds integers), empty for a None
    default (Adafactor's ε₁, the machine epsilon; LBFGS's max_eval, ⌊5I/4⌋)."""
    if valid is not None and valid.integer:
        low, high = int(valid.low), int(valid.high) if math.isfinite(valid.high) else None
        state.setdefault(key, None if default is None else int(default))
        if container is None:
            return state[key]
        return container.number_input(label, min_value=low, max_value=high, step=1, key=key, help=help,
                                      persist_state="page")
    state.setdefault(key, None if default is None else float(default))
    if container is None:
        return state[key]
    return container.number_input(label, min_value=0.0, step=1e-3, format="%g", key=key, help=help,
                                  persist_state="page")


def _choice(container: Any, label: str, key: str, default: Any, options: tuple, help: str | None = None) -> Any:
    """A select box over a choice's options (None shown as "none")."""
    state.setdefault(key, default)
    if container is None:
        return state[key]
    return container.selectbox(label, options, key=key, help=help, persist_state="page",
                               format_func=lambda option: "none" if option is None else str(option))


def flag(container: Any, label: str, key: str, default: bool, help: str | None = None) -> bool:
    state.setdefault(key, bool(default))
    if container is None:
        return state[key]
    return container.toggle(label, key=key, help=help, persist_state="page")


def _surface_widgets(sidebar: Any) -> tuple[str, dict[str, Any]]:
    state.setdefault("surface", race.DEFAULT_SURFACE)
    surface = sidebar.selectbox("surface", landscapes.names(), key="surface", persist_state="page",
                                help=race_cache.surface(state["surface"], {}).description or None)
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
        budget.check(budget.view_cost(surface, params), what=f"Building and drawing this {surface} surface")
        race_cache.surface(surface, params)
    except ValueError as error:
        sidebar.error(escape(error))
        params = {key: value for key, value in defaults.items() if key in params}
    return surface, params


def _hyper_widget(container: Any, spec: catalogue.Hyper, key: str, wkey: str, default: Any) -> Any:
    """One hyper-parameter's widget, as the catalogue declares it (``spec``, the optimizer's own entry where it has
    one): a toggle, a select box of choices, a log select-slider over its grid, a linear slider over its slider range
    (as many decimals as its upper end, at least 3), or a number input."""
    if spec.kind == "flag":
        return flag(container, spec.label, wkey, default)
    if spec.kind == "choice":
        return _choice(container, spec.label, wkey, default, spec.choices, help=spec.doc)
    if spec.ui is None:
        return _number(container, spec.label, wkey, default, spec.valid)
    if spec.log:
        return _log_select(container, spec.label, wkey, *spec.ui, default, grid=LOG_GRIDS[key])
    decimals = max(3, len(repr(float(spec.ui[1])).partition(".")[2]))  # β₂'s 0.9999 needs 4
    return _slider(container, spec.label, wkey, *spec.ui, default, 10.0 ** -decimals, fmt=f"%.{decimals}f")


def _optimizer_widgets(container: Any, name: str, same_lr: bool, surface: str) -> dict[str, Any]:
    """The widgets of optimizer ``name``'s keywords; a wrapper's (SAM's, Lookahead's) base optimizer first, then the
    base's keywords and its own. With ``container`` None nothing is drawn: the same values come from the widgets'
    session state (``persist_state`` keeps a widget's value while it is not drawn)."""
    base = None
    if optimizers.RULES[name].wraps:
        spec = catalogue.spec("base_optimizer")
        base = _choice(container, spec.label, f"{name}.base_optimizer",
                       optimizers.RULES[name].defaults["base_optimizer"], spec.choices, help=spec.doc)
    hyper: dict[str, Any] = {}
    for key, default in race.optimizer_defaults(name, surface, base).items():
        if (key == "lr" and same_lr) or key == "base_optimizer":
            continue
        spec = hyperparams.entry(name, key, base)
        if spec.kind == "pair":
            hyper[key] = tuple(_hyper_widget(container, catalogue.spec(part), part, f"{name}.{part}", value)
                               for part, value in zip(spec.parts, default, strict=True))
        else:
            hyper[key] = _hyper_widget(container, spec, key, f"{name}.{key}", default)
    return {**hyper, "base_optimizer": base} if base else hyper


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


def _constant_lr_widget(sidebar: Any, chosen: list[str]) -> tuple[str, ...]:
    """The optimizers that keep their constant ρ under the schedule (schedule-free ones against a scheduled SGD)."""
    state["constant_lr"] = [name for name in state.get("constant_lr", []) if name in chosen]
    picked = sidebar.multiselect("keep a constant ρ (not scheduled)", chosen, key="constant_lr", persist_state="page",
                                 help="these optimizers ignore the schedule: schedule-free SGD or AdamW against "
                                      "SGD under a cosine schedule, say")
    return tuple(name for name in chosen if name in picked)


def on_live_change() -> None:
    """The race component's message (``losslab.app.live_race``): a released live slider's value goes to its widget
    (the shared ρ's when one ρ drives all), a click on the landscape sets the start. A message naming an optimizer,
    a keyword or a value the sidebar does not hold is ignored (``losslab.live.commit``)."""
    message = state.get("race")
    if isinstance(message, dict) and message.get("kind") == "start":
        x, y = message.get("x"), message.get("y")
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (x, y)):
            state["start_click"] = (float(x), float(y))
        return
    offered = {name: live.live_keys(name) for name in state.get("opt", ()) if name in optimizers.RULES}
    committed = live.commit(message, offered)
    if committed is not None:
        name, key, value = committed
        state["lr_all" if key == "lr" and state.get("same_lr") else f"{name}.{key}"] = value


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


def _batch_widget(sidebar: Any, surface: str, surface_params: dict[str, Any]) -> int:
    """The minibatch size, on surfaces with training data (a network's slice, logistic2); 0: the full batch."""
    if not hasattr(race_cache.surface(surface, surface_params), "minibatch_grad"):
        return 0
    state.setdefault("batch", 0)
    state["batch"] = min(max(int(state["batch"]), 0), race.MAX_BATCH)
    return int(sidebar.number_input("minibatch size (0: full batch)", 0, race.MAX_BATCH, step=8, key="batch",
                                    persist_state="page", help="each step's gradient on this many random "
                                    "training examples, drawn by the seed (Algorithm 8.1)"))


def sidebar_config() -> tuple[race.RaceConfig, dict[str, bool]]:
    """Draw the sidebar; the configuration and the page's view flags it describes."""
    sidebar = st.sidebar
    sidebar.header("Surface")
    surface, surface_params = _surface_widgets(sidebar)
    if state.get("_lr_surface", surface) != surface:  # a new surface brings its own default learning rates
        for name in optimizers.names():
            state[f"{name}.lr"] = race.optimizer_defaults(name, surface, state.get(f"{name}.base_optimizer"))["lr"]
        state.pop("lr_all", None)
    state["_lr_surface"] = surface

    sidebar.header("Optimizers")
    state.setdefault("opt", list(race.DEFAULT_OPTIMIZERS))
    grouped = [name for names in catalogue.GROUPS.values() for name in names]  # classic, adaptive, modern
    chosen = sidebar.multiselect("optimizers", grouped, key="opt", persist_state="page",
                                 format_func=catalogue.picker_label,
                                 help="classic: gradient steps, with momentum or step-size rules; adaptive: "
                                      "torch.optim's per-coordinate step sizes; modern: pytorch-optimizer's Lion, "
                                      "Adan, Prodigy, …")
    same_lr = flag(sidebar, UI_FLAGS["same_lr"], "same_lr", False, help="one learning rate drives every optimizer")
    if same_lr:
        first = chosen[0] if chosen else race.DEFAULT_OPTIMIZERS[0]
        lr_all = _log_select(sidebar, "ρ  learning rate (all optimizers)", "lr_all", LR_GRID[0], LR_GRID[-1],
                             state.get(f"{first}.lr", race.optimizer_defaults(first, surface)["lr"]), grid=LR_GRID)
    chosen_hyper = {}
    for name in chosen:  # each optimizer's widgets are drawn only while its expander is open (``EXPANDED``)
        panel = sidebar.expander(f"{name}: {optimizers.RULES[name].torch_name or 'ours, not in torch.optim'}",
                                 key=EXPANDED.format(name), on_change="rerun")
        hyper = _optimizer_widgets(panel if panel.open else None, name, same_lr, surface)
        if same_lr:
            hyper = {"lr": lr_all, **hyper}
        chosen_hyper[name] = {key: hyper[key] for key in race.optimizer_defaults(name, base_optimizer=hyper.get(
            "base_optimizer"))}

    sidebar.header("Run")
    state.setdefault("steps", DEFAULT_CONFIG.steps)
    state["steps"] = min(max(int(state["steps"]), 0), race.MAX_RACE_STEPS)
    steps = sidebar.slider("steps", 0, race.MAX_RACE_STEPS, step=10, key="steps", persist_state="page")
    schedule = _schedule_widgets(sidebar)
    constant_lr = _constant_lr_widget(sidebar, chosen) if schedule else ()
    state.setdefault("noise", 0.0)
    noise = sidebar.number_input("gradient noise σ", min_value=0.0, step=0.1, format="%g", key="noise",
                                 persist_state="page", help="g = ∇f(θ) + σξ, ξ ~ N(0, I)")
    state.setdefault("seed", 0)
    state["seed"] = min(max(int(state["seed"]), 0), MAX_SEED)
    seed = sidebar.number_input("seed", min_value=0, max_value=MAX_SEED, step=1, key="seed", persist_state="page")
    batch = _batch_widget(sidebar, surface, surface_params)
    start = _start_widgets(sidebar, surface, surface_params)

    config = race.RaceConfig(surface=surface, surface_params=surface_params, optimizers=chosen_hyper,
                             steps=int(steps), start=start, schedule=schedule, constant_lr=constant_lr,
                             noise=float(noise), seed=int(seed), batch_size=batch or None)
    flags = {"same_lr": same_lr, **{key: bool(state.get(key, False)) for key in ("view3d", "field", "inspect")}}
    return config, flags
