"""A race: one surface, several optimizers from one start, and the configuration that reproduces it.

``RaceConfig`` is the single description shared by the app's pages (Explore and Networks), their URL query
parameters, the JSON export and the command line. ``from_query`` reads URL parameters (strings, through
``losslab.overrides``) and the library's validators: a bad value is reported in a message and replaced by its
default, never raised. ``run_race`` (or ``run_one``, one optimizer) computes the trajectories: the one place that
calls the engine for a race.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import landscapes
import optimizers
from optimizers import catalogue, schedules

from . import overrides
from .budget import check as check_budget
from .budget import race_cost, view_cost

MAX_RACE_STEPS = 5_000  # a browser tab's run: 8 optimizers × 5001 points stay small
MAX_BATCH = 2_048  # a race's minibatch (every data set has fewer training examples)
MAX_QUERY_VALUE = 400  # characters (every optimizer's name in `opt`: 250); longer URL values are refused unread
MAX_QUERY_KEY = 60  # characters of a URL parameter's name (the longest real one has under 40)
DEFAULT_SURFACE = "quadratic"
DEFAULT_SURFACE_PARAMS = {"condition": 50.0, "angle": 30.0}
DEFAULT_OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
RACE_KEYS = ("surface", "opt", "steps", "start", "schedule", "constant_lr", "noise", "seed", "batch")
# a surface parameter of one of these names (the network's seed) is written to the URL as "surface.<name>"


def surface_defaults(surface: str) -> dict[str, Any]:
    """The parameters a race on ``surface`` takes when none are given: the default quadratic is raced more
    ill-conditioned than the surface's own default (``DEFAULT_SURFACE_PARAMS``); every other surface with its own
    defaults (none given)."""
    return dict(DEFAULT_SURFACE_PARAMS) if surface == DEFAULT_SURFACE else {}


def optimizer_defaults(name: str, surface: str = DEFAULT_SURFACE, base_optimizer: str | None = None) -> dict[str, Any]:
    """An optimizer's keywords with its reference's defaults (a wrapper's with its base's, ``base_optimizer`` or its
    default), except a learning rate that suits a race on ``surface`` (``optimizers.catalogue.race_lr``)."""
    return {**optimizers.defaults(name, base_optimizer), "lr": catalogue.race_lr(name, surface, base_optimizer)}


def with_base(name: str, hyper: Mapping[str, Any], base_optimizer: str, surface: str = DEFAULT_SURFACE) -> dict:
    """A wrapper's settings ``hyper`` over another base optimizer: the new base's defaults (and its race ρ), with the
    values of ``hyper``'s keywords that the new base takes too (the wrapper's own, λ, ε, ...), ρ excepted."""
    fresh = optimizer_defaults(name, surface, base_optimizer)
    kept = {key: value for key, value in hyper.items() if key in fresh and key not in ("lr", "base_optimizer")}
    return {**fresh, **kept}


@dataclass(frozen=True)
class RaceConfig:
    """Everything that determines a race's trajectories."""

    surface: str = DEFAULT_SURFACE
    surface_params: dict[str, Any] = field(default_factory=lambda: surface_defaults(DEFAULT_SURFACE))
    optimizers: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {name: optimizer_defaults(name) for name in DEFAULT_OPTIMIZERS}
    )
    steps: int = 500
    start: tuple[float, float] | None = None  # None: the surface's default start
    schedule: dict[str, Any] | None = None  # schedules config, e.g. {"name": "StepLR", "step_size": 50}
    constant_lr: tuple[str, ...] = ()  # the optimizers that keep their constant ρ under the schedule (schedule-free
    # SGD against SGD under a cosine schedule)
    noise: float = 0.0
    seed: int = 0  # the gradient noise's and the minibatches' stream
    batch_size: int | None = None  # minibatch size on surfaces with training data (network, logistic2); None: all

    def landscape(self) -> Any:
        return landscapes.get(self.surface, **self.surface_params)

    def start_point(self, surface: Any = None) -> tuple[float, float]:
        """The start, or the surface's default start (``surface``: the built landscape, if the caller has it)."""
        if self.start is not None:
            return self.start
        return tuple(float(v) for v in (surface if surface is not None else self.landscape()).default_start)

    def only(self, name: str) -> RaceConfig:
        """The same race with optimizer ``name`` alone (a per-optimizer cache key)."""
        return replace(self, optimizers={name: self.optimizers[name]},
                       constant_lr=tuple(n for n in self.constant_lr if n == name))

    def engine_arguments(self, name: str, surface: Any = None) -> dict[str, Any]:
        """The keywords of ``optimizers.run`` for optimizer ``name`` in this race."""
        return dict(start=self.start_point(surface), steps=self.steps, schedule=self.schedule_object(name),
                    noise=self.noise, seed=self.seed, batch_size=self.batch_size, **self.optimizers[name])

    def schedule_of(self, name: str) -> dict[str, Any] | None:
        """The schedule config optimizer ``name`` runs under: the race's, or None where it keeps its constant ρ."""
        return None if name in self.constant_lr else self.schedule

    def schedule_object(self, name: str | None = None) -> Any:
        """The race's schedule (``name``: the one that optimizer runs under)."""
        schedule = self.schedule if name is None else self.schedule_of(name)
        return schedules.from_config(schedule) if schedule else None

    def validate(self) -> RaceConfig:
        """Raise ``ValueError`` naming the first bad setting (runs every check of the library, no work)."""
        surface = self.landscape()
        if not self.optimizers:
            raise ValueError("Invalid optimizers value: [] (select at least one optimizer)")
        batch = self.batch_size
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH):
            raise ValueError(f"Invalid batch_size value: {self.batch_size!r} (must be an integer in [1, {MAX_BATCH}])")
        if not 0 <= int(self.steps) <= MAX_RACE_STEPS:
            raise ValueError(f"Invalid steps value: {self.steps!r} (must be an integer in [0, {MAX_RACE_STEPS}])")
        unknown = [name for name in self.optimizers if name not in optimizers.names()]
        if unknown:
            raise ValueError(f"Invalid optimizers value: {unknown[0]!r} (must be one of "
                             f"{', '.join(optimizers.names())})")
        for name in self.optimizers:
            optimizers.run(surface, name, **{**self.engine_arguments(name, surface), "steps": 0})
        stray = [name for name in self.constant_lr if name not in self.optimizers]
        if stray or isinstance(self.constant_lr, str):
            raise ValueError(f"Invalid constant_lr value: {list(self.constant_lr)!r} (must name selected optimizers: "
                             f"{', '.join(self.optimizers)})")
        self.check_schedule()
        return self

    def check_schedule(self) -> None:
        """Raise ``ValueError`` if the schedule fails, or gives a learning rate the engine refuses, at the race's
        first or last step for a selected optimizer: the check a run makes before any work, made here without the
        surface (``validate`` makes it; Explore drops such a schedule with a message)."""
        if not self.schedule:
            return
        from optimizers.batch import check_schedule

        schedule = self.schedule_object()
        for name, hyper in self.optimizers.items():
            if name not in self.constant_lr:
                check_schedule(schedule, hyper.get("lr", optimizers.defaults(name)["lr"]), int(self.steps))


def run_one(config: RaceConfig, name: str, surface: Any = None, budget: float | None = None) -> optimizers.Trajectory:
    """Optimizer ``name``'s trajectory in the race (``surface``: the built landscape, if the caller has it).

    Above the compute budget (``losslab.budget``: ``budget`` seconds, None the default, ``math.inf`` none) a
    ``BudgetExceeded`` names what to reduce, before any work."""
    check_budget(race_cost(config, built=surface is not None, names=[name]), budget, "This race")
    surface = surface if surface is not None else config.landscape()
    return optimizers.run(surface, name, **config.engine_arguments(name, surface))


def run_race(config: RaceConfig, surface: Any = None, budget: float | None = None) -> dict[str, optimizers.Trajectory]:
    """Each selected optimizer's trajectory from the common start, in selection order (``budget``: as
    :func:`run_one`'s, for the whole race)."""
    check_budget(race_cost(config, built=surface is not None), budget, "This race")
    surface = surface if surface is not None else config.landscape()
    return {name: run_one(config, name, surface, budget=math.inf) for name in config.optimizers}


def step_at(config: RaceConfig, name: str, step: int, surface: Any = None) -> Any:
    """Step ``step`` of optimizer ``name`` in the race, replayed: what it sees and does there (a ``StepView``)."""
    from optimizers.step_view import step_view

    surface = surface if surface is not None else config.landscape()
    arguments = config.engine_arguments(name, surface)
    del arguments["steps"]
    return step_view(surface, name, step, **arguments)


# --- URL query parameters -----------------------------------------------------------------


def _format_number(value: float) -> str:
    """The shortest text that reads back as the same float."""
    return repr(float(value))


def to_query(config: RaceConfig) -> dict[str, str]:
    """The configuration as URL query parameters (strings); only values that differ from defaults."""
    query = {"surface": config.surface}
    specs = {spec.name: spec for spec in landscapes.parameters(config.surface)}
    for key, value in config.surface_params.items():
        query[surface_key(key)] = specs[key].format(value) if key in specs else _format_number(value)
    query["opt"] = ",".join(config.optimizers)
    for name, hyper in config.optimizers.items():
        defaults = optimizer_defaults(name, config.surface, hyper.get("base_optimizer"))
        if "base_optimizer" in defaults:  # a wrapper's base: written where it is not the wrapper's default one
            defaults["base_optimizer"] = optimizers.RULES[name].defaults["base_optimizer"]
        for key, value in hyper.items():
            if value != defaults.get(key):
                query[f"{name}.{key}"] = encode(value)
    query["steps"] = str(config.steps)
    if config.start is not None:
        query["start"] = ",".join(_format_number(v) for v in config.start)
    if config.schedule:
        query["schedule"] = config.schedule["name"]
        for key, value in config.schedule.items():
            if key != "name":
                query[f"schedule.{key}"] = encode(value)
        if config.constant_lr:
            query["constant_lr"] = ",".join(config.constant_lr)
    if config.noise or config.batch_size:
        query["seed"] = str(config.seed)
    if config.noise:
        query["noise"] = _format_number(config.noise)
    if config.batch_size:
        query["batch"] = str(config.batch_size)
    return query


def surface_key(name: str) -> str:
    """The URL key of surface parameter ``name``: the name itself unless a race setting already uses it."""
    return f"surface.{name}" if name in RACE_KEYS else name


def encode(value: Any) -> str:
    """A setting as URL text (every page's): true/false, comma-separated lists, integers as integers, floats as the
    shortest text that reads back the same."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(encode(v) for v in value)
    if isinstance(value, int):  # integers stay integers (a schedule's step_size, milestones)
        return str(value)
    if isinstance(value, float):
        return _format_number(value)
    return str(value)


def oversized(key: str, value: str) -> str:
    """The message refusing a URL parameter whose name or value is too long to read, or "" (every page's URL)."""
    if len(key) > MAX_QUERY_KEY:
        return (f"Ignored a URL parameter whose name has {len(key)} characters (names have at most {MAX_QUERY_KEY}): "
                f"{key[:MAX_QUERY_KEY]!r}….")
    if len(value) > MAX_QUERY_VALUE:
        return (f"Ignored URL parameter {key!r}: its value has {len(value)} characters (values have at most "
                f"{MAX_QUERY_VALUE}).")
    return ""


def surface_params_from_query(surface: str, query: Mapping[str, str], refuse: Any) -> dict[str, Any]:
    """The parameters of ``surface`` that URL parameters set (``surface_key``), parsed by ``overrides``; a value the
    surface refuses is left out and reported as ``refuse(key, error)``. Every page's URL reads them so."""
    params = {}
    for spec in landscapes.parameters(surface):
        key = surface_key(spec.name)
        if key in query:
            try:
                params[spec.name] = overrides.surface_value(spec, query[key])
            except ValueError as error:
                refuse(key, error)
    return params


def surface_params_query(surface: str, params: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, str]:
    """``params`` of ``surface`` that differ from ``defaults`` as URL parameters (a page's ``to_query``)."""
    query = {}
    for spec in landscapes.parameters(surface):
        value = params.get(spec.name, spec.default)
        if value != defaults[spec.name]:
            query[surface_key(spec.name)] = spec.format(value)
    return query


def from_query(query: Mapping[str, str]) -> tuple[RaceConfig, list[str]]:
    """A configuration from URL parameters, and one message per value that was refused.

    Every value passes the library's own validation; a refused value falls back to its
    default (the rest of the URL still applies). Never raises.
    """
    messages: list[str] = []
    default = RaceConfig()
    query = dict(query)
    for key in list(query):
        problem = oversized(key, str(query[key]))
        if problem:
            messages.append(problem)
            del query[key]

    def refuse(key: str, error: Exception | None = None) -> None:
        detail = f" ({error})" if error and str(error) else ""
        messages.append(f"Ignored URL parameter {key}={query.get(key, '')!r}{detail}; using the default.")

    surface = query.get("surface", default.surface)
    if surface not in landscapes.names():
        refuse("surface", ValueError(f"unknown surface; valid: {', '.join(landscapes.names())}"))
        surface = default.surface
    surface_params = {**surface_defaults(surface), **surface_params_from_query(surface, query, refuse)}

    names = list(default.optimizers)
    if "opt" in query:
        chosen = [name for name in query["opt"].split(",") if name]
        unknown = [name for name in chosen if name not in optimizers.names()]
        if unknown or not chosen:
            refuse("opt", ValueError(f"valid optimizers: {', '.join(optimizers.names())}"))
        else:
            names = list(dict.fromkeys(chosen))
    try:  # each value is valid alone; a combination may not be (a network over the parameter cap, or the budget)
        check_budget(view_cost(surface, surface_params), None, f"Building and drawing this {surface} surface")
        landscape = landscapes.get(surface, **surface_params)
    except ValueError as error:
        messages.append(f"Ignored the URL's {surface} parameters ({error}); using the defaults.")
        surface_params = surface_defaults(surface)
        landscape = landscapes.get(surface, **surface_params)
    chosen_optimizers = {}
    for name in names:
        defaults = optimizer_defaults(name, surface)
        if f"{name}.base_optimizer" in query:  # a wrapper's base first: it decides the other keywords
            try:
                defaults = optimizer_defaults(name, surface, query[f"{name}.base_optimizer"])
            except ValueError as error:
                refuse(f"{name}.base_optimizer", error)
        hyper = dict(defaults)
        for key, fallback in defaults.items():
            query_key = f"{name}.{key}"
            if query_key not in query:
                continue
            try:
                candidate = {**hyper, key: overrides.like(query[query_key], fallback)}
                optimizers.run(landscape, name, steps=0, **candidate)
                hyper = candidate
            except ValueError as error:
                refuse(query_key, error)
        chosen_optimizers[name] = hyper

    config = replace(default, surface=surface, surface_params=surface_params, optimizers=chosen_optimizers)
    checks = {
        "steps": lambda text: replace(config, steps=_checked_steps(text)),
        "start": lambda text: replace(config, start=overrides.like(text, (0.0, 0.0))),
        "noise": lambda text: replace(config, noise=overrides.number(text)),
        "seed": lambda text: replace(config, seed=overrides.integer(text)),
        "batch": lambda text: replace(config, batch_size=overrides.integer(text) or None),
    }
    for key, update in checks.items():
        if key in query:
            try:
                config = update(query[key]).validate()
            except ValueError as error:
                refuse(key, error)
    if query.get("schedule", "none") not in ("none", ""):
        try:
            schedule = {"name": query["schedule"]}
            for key, _, _ in schedules.PARAMETERS.get(query["schedule"], ()):
                if f"schedule.{key}" in query:
                    schedule[key] = overrides.schedule_value(query[f"schedule.{key}"])
            config = replace(config, schedule=schedules.from_config(schedule).config()).validate()
        except (ValueError, TypeError, KeyError) as error:
            refuse("schedule", ValueError(str(error)))
    if config.schedule and query.get("constant_lr"):
        try:
            config = replace(config, constant_lr=tuple(n for n in query["constant_lr"].split(",") if n)).validate()
        except ValueError as error:
            refuse("constant_lr", error)
    return config, messages


def _checked_steps(text: str) -> int:
    steps = overrides.integer(text)
    if not 0 <= steps <= MAX_RACE_STEPS:
        raise ValueError(f"must be an integer in [0, {MAX_RACE_STEPS}]")
    return steps
