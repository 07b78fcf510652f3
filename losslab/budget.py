"""The compute budget: a request's cost, estimated before it runs, and a clear refusal above the budget.

A fixed cap per parameter cannot stop a product of parameters (5 000 steps × 8 optimizers × a formula whose
gradient has 4 562 terms), so every heavy entry point of the application estimates the cost of its request in
seconds of one core, from the request's sizes alone, and refuses it above a budget before any work starts:
``race.run_race``/``run_one``, ``maps.hyper_map``/``lr_curves``, ``tuning.tune``, the network's training, slices and
full-space runs (``losslab.networks``), the pages before they compute and the command line before it races. The
refusal is a :class:`BudgetExceeded` (a ``ValueError``) whose message says the estimate, the budget and which
parameters to reduce, biggest share first. The engine (``optimizers.run``/``sweep``) keeps its caps and has no budget.

The budget: ``budget=None`` is the environment variable ``LOSSLAB_BUDGET_S`` (seconds) or 10 s; ``budget=math.inf``
lifts it (a notebook, ``losslab race --budget inf``).

The model: a cost is a sum of parts, each a product of the request's sizes and a constant (seconds per unit of
work) measured on the reference machine (one core of the development container, ``threads.one_thread_per_computation``)
by ``benchmarks/budget.py --calibrate``; ``benchmarks/budget.py`` checks the estimates of 20 random requests against
their measured times (best of 3). A surface's work per evaluation:

- an analytic formula: a constant;
- ``expression``: the nodes walked per evaluation, f's tree plus its gradient's (``landscapes.expression``);
- ``logistic2``: its 200 examples;
- ``network``: examples × hidden units and examples × weights after the first layer on the plane θ(a, b) (the first
  layer's products are precomputed per plane); training and full-space runs: examples × parameters and examples ×
  hidden units per step.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

BUDGET_ENV = "LOSSLAB_BUDGET_S"
DEFAULT_BUDGET_S = 10.0
VIEW_GRID = 200  # points per axis of a race's drawn landscape (plots.race.landscape_layer's default)
SURFACE_3D_GRID = 80  # Explore's 3-D view (plots.surface_figure's default)

# --- the constants: seconds of one core, measured by benchmarks/budget.py --calibrate (best of 2-3 of each kernel on
# sizes spanning the caps, one thread, fitted by least squares on relative error) on the development container (2
# shared cores); the fits of two runs differed by up to 2× under other load, and the values are rounded between
# them, checked by benchmarks/budget.py's 20 random requests (all within 2× of the measured time) -----------------
REQUEST_S = 0.5e-3  # a request's fixed part: validation, the engine's batch, the result's arrays
RUN_S = 0.5e-3  # one optimizer's run: prepare, first evaluation, Trajectory
STEP_S = 75e-6  # one engine step (the rule's kernels, the divergence rule; numpy calls on a few rows)
NOISE_STEP_S = 65e-6  # gradient noise, per step of a run or a sweep (the rows' Gaussian key streams)
SCHEDULE_STEP_S = 5e-6  # a learning-rate schedule, per step
NODE_S = 0.75e-6  # one node of an expression's trees, per evaluation (a numpy call)
NODE_ROW_S = 0.4e-9  # ... per row or grid point of that evaluation
LOGISTIC_STEP_S = 300e-6  # logistic2's value and gradient at one point (torch, 200 examples)
LOGISTIC_MINIBATCH_S = 200e-6  # a minibatch's draw and gather on logistic2, per step
LOGISTIC_ROW_S = 3e-9  # logistic2, per row × example of a vectorized evaluation
NETWORK_CALL_S = 0.6e-3  # the plane's value and gradient at one point: torch's fixed part
NETWORK_UNIT_S = 12e-9  # ... per point × example × hidden unit (activations and their derivatives, the first layer)
NETWORK_WEIGHT_S = 0.25e-9  # ... per point × example × weight after the first layer (the batched products)
MINIBATCH_CALL_S = 0.4e-3  # a network minibatch's fixed part, per step
MINIBATCH_EXAMPLE_S = 30e-9  # ... per row × training example × first-layer width (the keys drawn, the gather)

LBFGS_ITERATION_S = 0.7e-3  # one inner iteration of an LBFGS step (optimizers.lbfgs's masked state machine, up to
LBFGS_ROW_ITERATION_S = 10e-6  # max_iter per step) and per row of it: measured on 1-256 rows, 100 steps at ρ = 1e-4
# (no early exit), under load, halved
SWEEP_S = 3e-3  # a sweep's fixed part: the configuration's check, the batch, the summaries
ROW_STEP_S = 90e-9  # a sweep's numpy step, per row
FUSED_ROW_STEP_S = 6.5e-9  # the fused numba kernel (optimizers.fast), per row and step
NOISE_ROW_STEP_S = 70e-9  # gradient noise in a sweep, per row and step

LAYER_S = 7e-3  # drawing a landscape: its fixed part
POINT_S = 0.55e-6  # ... per grid point (the colour image, the isolines)
FORMULA_POINT_S = 50e-9  # an analytic formula's value, per grid point
PLANE_EXAMPLE_S = 30e-9  # the plane's value per grid point × example (the loss)
PLANE_UNIT_S = 4e-9  # ... per grid point × example × hidden unit
PLANE_WEIGHT_S = 0.12e-9  # ... per grid point × example × weight after the first layer

TRAIN_STEP_S = 1.8e-3  # one full-batch Adam step of landscapes.network.trained: torch's fixed part
TRAIN_PARAMETER_S = 0.15e-9  # ... per example × parameter
TRAIN_UNIT_S = 12e-9  # ... per example × hidden unit
FULL_STEP_S = 2.6e-3  # one step of a full-space run (landscapes.fullspace): torch's fixed part
FULL_PARAMETER_S = 0.2e-9  # ... per example (train, test, and the gradient's) × parameter
FULL_UNIT_S = 6.5e-9  # ... per example × hidden unit
EXPRESSION_GRID = 3 * 201**2  # points of the grids that estimate an expression's minimum when it is built


class BudgetExceeded(ValueError):
    """A request whose estimated cost is above the budget; the message names what to reduce."""

    def __init__(self, what: str, cost: Cost, budget: float) -> None:
        self.estimate, self.budget, self.reduce = cost.seconds, budget, cost.knobs()
        super().__init__(f"{what} would take about {_seconds(cost.seconds)} of one core, over the compute budget of "
                         f"{_seconds(budget)}: reduce {_either(self.reduce)}. (Raise the budget with budget=, "
                         f"--budget or {BUDGET_ENV} if you mean it.)")


@dataclass(frozen=True)
class Cost:
    """An estimate in seconds of one core, as parts: (seconds, the parameters that scale it, the biggest first)."""

    parts: tuple[tuple[float, tuple[str, ...]], ...] = ()

    @property
    def seconds(self) -> float:
        return float(sum(seconds for seconds, _ in self.parts))

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.parts + other.parts)

    def knobs(self) -> list[str]:
        """What to reduce: the parameters of the biggest parts that make up 80 % of the cost, biggest first."""
        chosen: list[str] = []
        done, total = 0.0, self.seconds
        for seconds, knobs in sorted(self.parts, key=lambda part: -part[0]):
            if done >= 0.8 * total:
                break
            chosen += [knob for knob in knobs if knob not in chosen]
            done += seconds
        return chosen or ["the request's size"]


def _part(seconds: float, *knobs: str) -> Cost:
    return Cost(((float(seconds), tuple(knobs)),))


def _seconds(value: float) -> str:
    if math.isinf(value):
        return "unlimited seconds"
    return f"{value:.2g} s" if value < 10 else f"{round(value):,} s"


def _either(knobs: list[str]) -> str:
    return knobs[0] if len(knobs) == 1 else ", ".join(knobs[:-1]) + " or " + knobs[-1]


# --- the budget ------------------------------------------------------------------------------------------------


def limit(budget: float | None = None) -> float:
    """The budget in seconds: ``budget``, or ``LOSSLAB_BUDGET_S``, or DEFAULT_BUDGET_S (``math.inf``: none)."""
    source = "budget"
    if budget is None:
        text = os.environ.get(BUDGET_ENV, "").strip()
        if not text:
            return DEFAULT_BUDGET_S
        source = BUDGET_ENV
        try:
            budget = float(text)
        except ValueError:
            budget = math.nan
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        raise ValueError(f"Invalid {source} value: {budget!r} (must be a number of seconds > 0, or inf for none)")
    return float(budget)


def check(cost: Cost, budget: float | None = None, what: str = "This request") -> Cost:
    """``cost``, or ``BudgetExceeded`` when it is above the budget (``limit(budget)``)."""
    allowed = limit(budget)
    if cost.seconds > allowed:
        raise BudgetExceeded(what, cost, allowed)
    return cost


# --- a surface's work per evaluation ------------------------------------------------------------------------------


class Work(NamedTuple):
    """What one evaluation of a surface costs, and the surface's parameters that scale it."""

    kind: str  # "formula", "expression", "logistic2", "network" or "other"
    nodes: int = 0  # expression: f's tree and its gradient's, per point
    value_nodes: int = 0  # expression: f's tree alone
    examples: int = 0  # logistic2, network: training examples
    test_examples: int = 0  # network
    parameters: int = 0  # network: every weight and bias
    units: int = 0  # network: hidden units
    weights: int = 0  # network: weights after the first layer (the first is precomputed per plane)
    first: int = 0  # network: the first hidden layer's width
    knobs: tuple[str, ...] = ()


@lru_cache(maxsize=256)
def _expression_work(text: str) -> Work:
    from landscapes import expression

    value, total = expression.tree_sizes(text)
    return Work("expression", nodes=total, value_nodes=value,
                knobs=(f"the formula f (its gradient has {total - value} terms)",))


def _network_work(dataset: str, hidden: tuple[int, ...]) -> Work:
    from landscapes import datasets
    from landscapes.network_config import layer_sizes, parameter_count

    data = datasets.load(dataset)
    sizes = layer_sizes(data, tuple(hidden))
    later = sum(fan_in * fan_out for fan_in, fan_out in zip(sizes[1:-1], sizes[2:]))
    count = parameter_count(data, tuple(hidden))
    return Work("network", examples=len(data.y_train), test_examples=len(data.y_test), parameters=count,
                units=sum(hidden), weights=later, first=hidden[0],
                knobs=(f"hidden ({','.join(map(str, hidden))}: {count} parameters)",
                       f"dataset ({dataset}: {len(data.y_train)} training examples)"))


def surface_work(name: str, params: dict[str, Any] | None = None) -> Work | None:
    """The work of one evaluation of surface ``name`` with ``params``; None when they are not valid (the work
    function then refuses them with its own message)."""
    import landscapes

    try:
        declared = landscapes.parameters(name)
        given = dict(params or {})
        values = {spec.name: spec.validate(given.get(spec.name, spec.default)) for spec in declared}
        if name == "expression":
            return _expression_work(values["f"])
        if name == "network":
            from landscapes.network_config import Config, check_config

            config = check_config(Config(values["dataset"], tuple(values["hidden"]), values["activation"],
                                         int(values["seed"]), float(values["l2"])))
            return _network_work(config.dataset, tuple(config.hidden))
    except (ValueError, TypeError, KeyError):
        return None
    if name == "logistic2":
        from landscapes.logistic2 import POINTS

        return Work("logistic2", examples=POINTS)
    return Work("formula") if _is_formula(name) else Work("other")


@lru_cache(maxsize=64)
def _is_formula(name: str) -> bool:
    """Whether surface ``name`` is an analytic formula (``landscapes.base.FormulaLandscape``: numba can fuse it)."""
    import landscapes
    from landscapes.base import FormulaLandscape

    try:
        return isinstance(landscapes.get(name), FormulaLandscape)
    except ValueError:
        return False


def _step_s(work: Work, batch_size: int | None) -> float:
    """One value and gradient at one point (a race's step), with a minibatch of ``batch_size`` where given."""
    if work.kind == "expression":
        return work.nodes * (NODE_S + NODE_ROW_S)
    if work.kind == "logistic2":
        return LOGISTIC_STEP_S + (LOGISTIC_MINIBATCH_S if batch_size else 0.0)
    if work.kind == "network":
        examples = min(batch_size or work.examples, work.examples)
        seconds = NETWORK_CALL_S + _plane_gradient_s(work, examples)
        if batch_size:
            seconds += MINIBATCH_CALL_S + MINIBATCH_EXAMPLE_S * work.examples * work.first
        return seconds
    return 0.0


def _plane_gradient_s(work: Work, examples: int) -> float:
    """The plane's value and gradient at one point on ``examples`` examples, past the call's fixed part."""
    return examples * (NETWORK_UNIT_S * work.units + NETWORK_WEIGHT_S * work.weights)


def _row_step_s(work: Work, batch_size: int | None) -> float:
    """One value and gradient per row of a vectorized sweep step (besides the rule's ROW_STEP_S and the
    expression's NODE_S per node and step)."""
    if work.kind == "expression":
        return NODE_ROW_S * work.nodes
    if work.kind == "logistic2":
        return LOGISTIC_ROW_S * min(batch_size or work.examples, work.examples)
    if work.kind == "network":
        examples = min(batch_size or work.examples, work.examples)
        seconds = _plane_gradient_s(work, examples)
        if batch_size:
            seconds += MINIBATCH_EXAMPLE_S * work.examples * work.first
        return seconds
    return 0.0


def _point_s(work: Work) -> float:
    """The value at one point of a grid (vectorized; an expression's NODE_S per node apart)."""
    if work.kind == "expression":
        return NODE_ROW_S * work.value_nodes
    if work.kind == "logistic2":
        return LOGISTIC_ROW_S * work.examples
    if work.kind == "network":
        return work.examples * (PLANE_EXAMPLE_S + PLANE_UNIT_S * work.units + PLANE_WEIGHT_S * work.weights)
    return FORMULA_POINT_S


def training_cost(work: Work) -> Cost:
    """Training θ* (``landscapes.network.trained``: TRAIN_STEPS full-batch Adam steps)."""
    from landscapes.network import TRAIN_STEPS

    per_example = TRAIN_PARAMETER_S * work.parameters + TRAIN_UNIT_S * work.units
    return _part(TRAIN_STEPS * (TRAIN_STEP_S + work.examples * per_example), *work.knobs)


def build_cost(name: str, params: dict[str, Any] | None = None) -> Cost:
    """Building surface ``name``: a network's training (and its plane), an expression's minimum's grids."""
    work = surface_work(name, params)
    if work is None:
        return Cost()
    if work.kind == "network":
        return training_cost(work) + _part(NETWORK_CALL_S + _step_s(work, None), *work.knobs)
    if work.kind == "expression":
        return _part(3 * NODE_S * work.value_nodes + EXPRESSION_GRID * _point_s(work), *work.knobs)
    return Cost()


def grid_cost(name: str, params: dict[str, Any] | None, grid: int, work: Work | None = None,
              chosen: bool = True) -> Cost:
    """The surface's values on a grid × grid grid, drawn (a landscape layer, a slice); ``chosen``: the grid is the
    reader's to reduce."""
    work = work or surface_work(name, params)
    if work is None:
        return Cost()
    fixed = LAYER_S + (NODE_S * work.value_nodes if work.kind == "expression" else 0.0)
    return _part(fixed + grid * grid * (POINT_S + _point_s(work)), *((f"grid ({grid})",) if chosen else ()),
                 *work.knobs)


def view_cost(name: str, params: dict[str, Any] | None = None, grid: int = VIEW_GRID) -> Cost:
    """A surface as a page shows it: built, and drawn on a grid × grid grid of the page's (not the reader's)."""
    return build_cost(name, params) + grid_cost(name, params, grid, chosen=False)


# --- races --------------------------------------------------------------------------------------------------------


def race_cost(config: Any, built: bool = False, names: Any = None) -> Cost:
    """A race (``race.RaceConfig``): each optimizer's steps (``names``: only these), and the surface's building
    unless ``built``."""
    work = surface_work(config.surface, config.surface_params)
    if work is None:
        return Cost()
    from optimizers.hyperparams import check_steps

    chosen = list(config.optimizers if names is None else names)
    steps = check_steps(config.steps)  # the engine's own check: a count beyond its cap is invalid, not expensive
    per_evaluation = STEP_S + _step_s(work, config.batch_size)
    per_step = (NOISE_STEP_S if config.noise else 0.0) + (SCHEDULE_STEP_S if config.schedule else 0.0)
    knobs = [f"steps ({steps})", f"optimizers ({len(chosen)})", *work.knobs]
    if len(chosen) <= 1:
        knobs.remove(f"optimizers ({len(chosen)})")
    evaluations = sum(evaluations_per_step(name, config.optimizers.get(name)) for name in chosen)
    kernels = sum(kernel_step_s(name, config.optimizers.get(name), 1) for name in chosen)
    work_s = steps * (evaluations * per_evaluation + kernels)
    cost = _part(REQUEST_S + len(chosen) * (RUN_S + steps * per_step) + work_s, *knobs)
    return cost if built else build_cost(config.surface, config.surface_params) + cost


def kernel_step_s(optimizer: str | None, hyper: dict[str, Any] | None, rows: int) -> float:
    """What one step of ``optimizer`` costs beyond its evaluations and the shared kernel's ``STEP_S``: an LBFGS step's
    inner iterations (its line search's bookkeeping and two-loop recursion), at most ``max_iter`` of them."""
    from optimizers.hyperparams import rule

    if optimizer is None or rule(optimizer).evaluations:
        return 0.0
    settings = {**rule(optimizer).defaults, **(hyper or {})}
    return int(settings["max_iter"]) * (LBFGS_ITERATION_S + rows * LBFGS_ROW_ITERATION_S)


def evaluations_per_step(optimizer: str | None, hyper: dict[str, Any] | None = None) -> int:
    """The most gradient evaluations one step of ``optimizer`` takes (its kernel's work with each): 1, SAM's 2, or
    LBFGS's max_eval (⌊5·max_iter/4⌋ by default, 25), its line search's bound."""
    from optimizers.hyperparams import rule

    if optimizer is None:
        return 1
    found = rule(optimizer)
    if found.evaluations:
        return found.evaluations
    settings = {**found.defaults, **(hyper or {})}
    return int(settings["max_eval"] or int(settings["max_iter"]) * 5 // 4)


def race_view_cost(config: Any, drawn: bool = True, view3d: bool = False) -> Cost:
    """A race as Explore (or an exported figure) shows it: the surface built and, if ``drawn``, drawn on its
    landscape's grid; every optimizer's run; with ``view3d`` the 3-D view's grid."""
    cost = race_cost(config)
    if drawn:
        cost += grid_cost(config.surface, config.surface_params, VIEW_GRID, chosen=False)
    if view3d:
        cost += grid_cost(config.surface, config.surface_params, SURFACE_3D_GRID, chosen=False)
    return cost


def family_cost(config: Any, optimizer: str, rows: int) -> Cost:
    """A live slider's family (``losslab.live``): one run of ``optimizer`` with ``rows`` rows of the race's steps,
    vectorized (a run never takes the fused kernel), a point's fixed cost per step besides the rows' own."""
    return live_cost(config, [(optimizer, rows)])


def live_cost(config: Any, families: list[tuple[str, int]]) -> Cost:
    """A race's live families (``losslab.live``), one per entry of ``families`` (its optimizer and rows): one part,
    reduced by fewer steps or optimizers (or a smaller surface)."""
    work = surface_work(config.surface, config.surface_params)
    if work is None or not families:
        return Cost()
    from optimizers.hyperparams import check_steps

    steps = check_steps(config.steps)
    per_evaluation = STEP_S + _step_s(work, config.batch_size)
    per_row_evaluation = ROW_STEP_S + _row_step_s(work, config.batch_size)
    noise_row = NOISE_ROW_STEP_S if config.noise else 0.0
    schedule = SCHEDULE_STEP_S if config.schedule else 0.0
    seconds = 0.0
    for optimizer, rows in families:
        hyper = config.optimizers.get(optimizer)
        evaluations = evaluations_per_step(optimizer, hyper) * (per_evaluation + rows * per_row_evaluation)
        seconds += RUN_S + steps * (evaluations + kernel_step_s(optimizer, hyper, rows) + schedule + rows * noise_row)
    return _part(seconds, f"steps ({steps})", f"optimizers ({len(config.optimizers)})", *work.knobs)


# --- sweeps: maps, learning-rate curves, searches ---------------------------------------------------------------


def _fused(work: Work, rows: int, batch_size: int | None, optimizer: str | None) -> bool:
    """Whether optimizers.sweep runs the fused numba kernel (optimizers.fast) for ``optimizer`` (None: unknown, so
    the numpy kernels' cost, an upper bound)."""
    from optimizers.engine import FAST_PATH_MIN_ROWS, fused

    return work.kind == "formula" and rows >= FAST_PATH_MIN_ROWS and not batch_size and optimizer is not None \
        and fused(optimizer)


def sweep_cost(work: Work, rows: int, steps: int, noise: bool, knobs: tuple[str, ...],
               batch_size: int | None = None, optimizer: str | None = None) -> Cost:
    """One ``optimizers.sweep`` call of ``optimizer`` with ``rows`` rows and ``steps`` steps on a surface of
    ``work`` (at the fused kernel's cost where it applies to ``optimizer``)."""
    per_step = 0.0  # the fused kernel runs blocks of steps: no per-step part
    if _fused(work, rows, batch_size, optimizer):
        per_row = FUSED_ROW_STEP_S
    else:
        evaluations = evaluations_per_step(optimizer)
        per_row = evaluations * (ROW_STEP_S + _row_step_s(work, batch_size))
        per_step = evaluations * (STEP_S + (NODE_S * work.nodes if work.kind == "expression" else 0.0))
        per_step += kernel_step_s(optimizer, None, rows)
    if noise:
        per_step, per_row = per_step + NOISE_STEP_S, per_row + NOISE_ROW_STEP_S
    return _part(SWEEP_S + steps * (per_step + rows * per_row), *knobs, *work.knobs)


def _map_work(config: Any) -> Work | None:
    work = surface_work(config.surface, config.surface_params)
    if work is not None and config.y == "condition" and work.kind == "formula":
        return work._replace(kind="other")  # one quadratic per row: no numba formula, the numpy kernels
    return work


def map_cost(config: Any) -> Cost:
    """``maps.hyper_map(config)``: cells² × seeds rows of ``steps`` steps in one sweep, and the surface."""
    work = _map_work(config)
    try:
        cells, seeds, steps = int(config.cells), int(config.seeds), max(int(config.steps), 0)
    except (TypeError, ValueError, OverflowError):
        return Cost()
    if work is None:
        return Cost()
    knobs = (f"cells ({cells})", f"steps ({steps})", *((f"seeds ({seeds})",) if seeds > 1 else ()))
    return build_cost(config.surface, config.surface_params) + sweep_cost(work, cells * cells * seeds, steps,
                                                                          bool(config.noise), knobs,
                                                                          optimizer=config.optimizer)


def curves_cost(config: Any, names: Any, points: int) -> Cost:
    """``maps.lr_curves``: one sweep of points × seeds rows per optimizer."""
    work = surface_work(config.surface, config.surface_params)  # each curve's y is the optimizer's own, not κ
    try:
        names = list(names)
        seeds, steps, count = int(config.seeds), max(int(config.steps), 0), len(names)
    except (TypeError, ValueError, OverflowError):
        return Cost()
    if work is None:
        return Cost()
    knobs = (f"points ({points})", f"steps ({steps})", f"optimizers ({count})",
             *((f"seeds ({seeds})",) if seeds > 1 else ()))
    cost = build_cost(config.surface, config.surface_params)
    for name in names:
        cost += sweep_cost(work, int(points) * seeds, steps, bool(config.noise), knobs, optimizer=name)
    return cost


def tune_cost(config: Any, runs: int) -> Cost:
    """``tuning.tune``: grid and random search, 2 × runs × seeds rows in one sweep."""
    work = _map_work(config)
    try:
        seeds, steps = int(config.seeds), max(int(config.steps), 0)
    except (TypeError, ValueError, OverflowError):
        return Cost()
    if work is None:
        return Cost()
    knobs = (f"budget N ({runs})", f"steps ({steps})", *((f"seeds ({seeds})",) if seeds > 1 else ()))
    return build_cost(config.surface, config.surface_params) + sweep_cost(work, 2 * int(runs) * seeds, steps,
                                                                          bool(config.noise), knobs,
                                                                          optimizer=config.optimizer)


# --- networks: training, slices, full-space runs ---------------------------------------------------------------


def _config_params(config: Any) -> dict[str, Any]:
    """A ``landscapes.network_config.Config`` (or its tuple) as the network surface's parameters."""
    from landscapes.network_config import Config

    return Config(*config)._asdict()


def network_training_cost(config: Any) -> Cost:
    """``landscapes.network.trained(config)``."""
    work = surface_work("network", _config_params(config))
    return Cost() if work is None else training_cost(work)


def slice_cost(config: Any, grid: int, trained: bool = False) -> Cost:
    """The network's slice on a grid × grid grid (its training too, unless ``trained``)."""
    params = _config_params(config)
    drawn = grid_cost("network", params, int(grid)) if grid else Cost()
    return (Cost() if trained else build_cost("network", params)) + drawn


def full_space_cost(config: Any, optimizers: Any, steps: int, batch_size: int | None = None,
                    grid: int = 0) -> Cost:
    """``landscapes.fullspace.full_space``: each optimizer's ``steps`` steps in the full parameter space (the
    train and test loss at every step), and its PCA plane drawn on a grid × grid grid."""
    params = _config_params(config)
    work = surface_work("network", params)
    if work is None:
        return Cost()
    try:
        count, steps = len(list(optimizers if optimizers is not None else {"adam": {}})), max(int(steps), 0)
    except (TypeError, ValueError, OverflowError):
        return Cost()
    examples = work.examples + work.test_examples + min(batch_size or work.examples, work.examples)
    per_step = FULL_STEP_S + examples * (FULL_PARAMETER_S * work.parameters + FULL_UNIT_S * work.units)
    knobs = (f"steps ({steps})", f"optimizers ({count})", *work.knobs)
    cost = _part(count * steps * per_step, *knobs)
    return cost + (grid_cost("network", params, grid, work) if grid else Cost())
