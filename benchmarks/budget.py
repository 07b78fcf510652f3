"""The compute budget's cost model (``losslab.budget``) against measured time.

Draws random requests within the caps (races on analytic, expression and network surfaces, hyper-parameter maps,
learning-rate curves, searches, network training, slices and full-space runs), keeps the first ``--requests`` whose
estimate is within the budget (the ones a server runs), and times each one, best of ``--repeats``, on one thread
(``losslab.threads.one_thread_per_computation``). Caches that would make a repeat free (a trained network, a
full-space run) are cleared before each repeat; a race's surface is built before its timing, as its estimate says
(``built=True``). Prints one row per request (estimate, measured, ratio) and the share within 2× (the model's target:
at least 90 %).

``--calibrate`` measures the kernels behind the model's constants instead, each on sizes spanning the caps (best of
``--repeats``), and prints each constant fitted by least squares on relative error next to its current value.

    python benchmarks/budget.py [--requests 20] [--seed 0] [--repeats 3]
    python benchmarks/budget.py --calibrate
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from losslab.threads import one_thread_per_computation  # noqa: E402

one_thread_per_computation()

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any, NamedTuple  # noqa: E402

import numpy as np  # noqa: E402

import landscapes  # noqa: E402
import optimizers  # noqa: E402
import plots  # noqa: E402
from landscapes import fullspace  # noqa: E402
from landscapes import network as nets  # noqa: E402
from landscapes.network_config import MAX_PARAMETERS, Config, parameter_count  # noqa: E402
from losslab import budget, maps, networks, race, tuning  # noqa: E402

ANALYTIC = [name for name in landscapes.names() if name not in ("expression", "logistic2", "network")]
MAP_SURFACES = [name for name in ANALYTIC if all(isinstance(spec, landscapes.Param) and not spec.integer
                                                 for spec in landscapes.parameters(name))]
FORMULAS = ["x**2 + 10*y**2", "sin(x)*cos(y) + 0.1*(x**2 + y**2)", "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2",
            "exp(-x**2 - y**2)*x*y + 0.05*(x**2 + y**2)", "tanh(x*y) + log(1 + x**2 + y**2)"]
DATASETS = ("moons", "circles", "spirals", "xor", "blobs", "digits", "sine")
WIDTHS = ((4,), (8,), (16,), (32,), (64,), (8, 8), (16, 16), (32, 32), (64, 64), (16, 16, 16), (128,), (256, 12))
GRIDS = (41, 61, 81, 101, 151, 201)
VERBOSE = "--verbose" in sys.argv
CALIBRATION_GRID = 61


class Request(NamedTuple):
    kind: str
    label: str
    cost: budget.Cost
    run: Callable[[], Any]
    reset: Callable[[], None] | None = None


def best_of(repeats: int, request: Request) -> float:
    times = []
    for _ in range(repeats):
        if request.reset is not None:
            request.reset()
        start = time.perf_counter()
        request.run()
        times.append(time.perf_counter() - start)
    return min(times)


def log_uniform(rng: np.random.Generator, low: float, high: float) -> int:
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))


def chained(count: int) -> str:
    return "/".join(["(x*y+2)"] * count)


def _optimizers(rng: np.random.Generator, surface: str, most: int = 8) -> dict[str, dict[str, Any]]:
    names = list(rng.choice(optimizers.names(), size=int(rng.integers(1, most + 1)), replace=False))
    return {name: race.optimizer_defaults(name, surface) for name in names}


def _network_config(rng: np.random.Generator) -> Config:
    while True:
        dataset = str(rng.choice(DATASETS))
        hidden = WIDTHS[int(rng.integers(len(WIDTHS)))]
        if parameter_count(nets.datasets.load(dataset), hidden) <= MAX_PARAMETERS:
            return Config(dataset, hidden, str(rng.choice(["tanh", "relu"])), int(rng.integers(10_000)))


def race_request(rng: np.random.Generator, kind: str) -> Request:
    if kind == "analytic race":
        surface, params = str(rng.choice(ANALYTIC)), {}
    elif kind == "expression race":
        surface = "expression"
        params = {"f": chained(int(rng.integers(2, 26))) if rng.random() < 0.5 else str(rng.choice(FORMULAS))}
    else:
        surface, params = "network", _network_config(rng)._asdict()
    batch = None
    if surface == "network" and rng.random() < 0.4:
        batch = int(rng.choice([8, 32, 128]))
    config = race.RaceConfig(surface=surface, surface_params=params,
                             optimizers=_optimizers(rng, surface, 4 if surface == "network" else 8),
                             steps=log_uniform(rng, 10, race.MAX_RACE_STEPS if surface != "network" else 2_000),
                             noise=float(rng.choice([0.0, 0.0, 0.1])), seed=int(rng.integers(100)), batch_size=batch)
    built = config.landscape()
    short = params.get("f", "") if surface == "expression" else (
        f"{params['dataset']} {','.join(map(str, params['hidden']))}" if surface == "network" else surface)
    label = (f"{len(config.optimizers)} opt × {config.steps} steps on {short[:24]}"
             f"{' σ' if config.noise else ''}{f' batch {batch}' if batch else ''}")
    return Request(kind, label, budget.race_cost(config, built=True),
                   lambda: race.run_race(config, built, budget=math.inf))


def map_config(rng: np.random.Generator) -> maps.MapConfig:
    surface = str(rng.choice(MAP_SURFACES))
    optimizer = str(rng.choice(optimizers.names()))
    y = str(rng.choice(maps.y_axes(optimizer, surface)))
    noise = float(rng.choice([0.0, 0.0, 0.5]))
    return maps.MapConfig(surface=surface, surface_params=race.surface_defaults(surface), optimizer=optimizer, y=y,
                          cells=int(rng.choice([16, 24, 32, 48, 64, 96, 128])), steps=log_uniform(rng, 10, 2_000),
                          noise=noise, seeds=int(rng.integers(1, 5)) if noise else 1)


def sweep_request(rng: np.random.Generator, kind: str) -> Request:
    config = map_config(rng)
    where = f"{config.optimizer} on {config.surface}{' σ' if config.noise else ''}"
    if kind == "map":
        return Request(kind, f"{config.cells}² cells × {config.seeds} × {config.steps} steps, y={config.y}, {where}",
                       budget.map_cost(config), lambda: maps.hyper_map(config, budget=math.inf))
    if kind == "curves":
        names = list(rng.choice(optimizers.names(), size=int(rng.integers(1, 5)), replace=False))
        points = int(rng.choice([32, 96, 256]))
        return Request(kind, f"{len(names)} opt × {points} points × {config.seeds} × {config.steps} steps, {where}",
                       budget.curves_cost(config, names, points),
                       lambda: maps.lr_curves(config, names, points, budget=math.inf))
    runs = int(rng.choice([16, 64, 256, 1024]))
    return Request(kind, f"N={runs} × {config.seeds} × {config.steps} steps, y={config.y}, {where}",
                   budget.tune_cost(config, runs), lambda: tuning.tune(config, runs, time_budget=math.inf))


def network_request(rng: np.random.Generator, kind: str) -> Request:
    config = _network_config(rng)
    short = f"{config.dataset} {','.join(map(str, config.hidden))}"
    if kind == "training":
        return Request(kind, f"θ* of {short}", budget.network_training_cost(config),
                       lambda: networks.trained(config, budget=math.inf), nets.trained.cache_clear)
    if kind == "slice":
        grid = int(rng.choice(GRIDS))
        plane = nets.slice_plane(config)
        return Request(kind, f"{grid}² slice of {short}", budget.slice_cost(config, grid, trained=True),
                       lambda: plots.race.landscape_layer(plane, grid))
    chosen = {name: {} for name in rng.choice(list(fullspace.TORCH_OPTIMIZERS), size=int(rng.integers(1, 4)),
                                               replace=False)}
    steps = log_uniform(rng, 20, 500)
    return Request(kind, f"{len(chosen)} opt × {steps} steps, full space of {short}",
                   budget.full_space_cost(config, chosen, steps),
                   lambda: networks.full_space(config, chosen, steps, budget=math.inf),
                   fullspace._full_space.cache_clear)


KINDS = {"analytic race": race_request, "expression race": race_request, "network race": race_request,
         "map": sweep_request, "curves": sweep_request, "tuning": sweep_request,
         "training": network_request, "slice": network_request, "full space": network_request}


def requests(count: int, seed: int) -> list[Request]:
    rng = np.random.default_rng(seed)
    kinds, chosen = list(KINDS), []
    while len(chosen) < count:
        kind = kinds[len(chosen) % len(kinds)]
        request = KINDS[kind](rng, kind)
        if request.cost.seconds <= budget.limit():
            chosen.append(request)
    return chosen


def benchmark(count: int, seed: int, repeats: int) -> None:
    print(f"{'kind':<16}{'request':<58}{'estimate s':>11}{'measured s':>11}{'ratio':>7}")
    within = 0
    for request in requests(count, seed):
        measured = best_of(repeats, request)
        ratio = request.cost.seconds / measured
        within += 0.5 <= ratio <= 2.0
        print(f"{request.kind:<16}{request.label[:57]:<58}{request.cost.seconds:>11.3f}{measured:>11.3f}"
              f"{ratio:>7.2f}{'' if 0.5 <= ratio <= 2.0 else '  ✗'}", flush=True)
    print(f"within 2×: {within}/{count} = {within / count:.0%} (target ≥ 90 %)")


# --- calibration --------------------------------------------------------------------------------------------------


def timed(repeats: int, function: Callable[[], Any], reset: Callable[[], None] | None = None) -> float:
    return best_of(repeats, Request("", "", budget.Cost(), function, reset))


def fit(name: str, rows: list[tuple[float, list[float]]], current: list[float]) -> None:
    """Least squares on relative error: t ≈ Σ cᵢ·xᵢ, each row scaled by 1/t."""
    times = np.array([t for t, _ in rows])
    features = np.array([x for _, x in rows], dtype=float)
    coefficients = np.linalg.lstsq(features / times[:, None], np.ones(len(rows)), rcond=None)[0]
    worst = np.max(np.abs(features @ coefficients / times - 1))
    print(f"{name}: fitted {', '.join(f'{c:.3g}' for c in coefficients)} (now {', '.join(f'{c:.3g}' for c in current)})"
          f"; worst relative error {worst:.0%}", flush=True)
    if VERBOSE:
        for t, x in zip(times, features):
            print(f"    {t:.4g} s at {', '.join(f'{v:.4g}' for v in x)}: fitted {x @ coefficients:.4g}, "
                  f"now {x @ np.array(current):.4g}")


def calibrate(repeats: int) -> None:
    quadratic = landscapes.get("quadratic")
    rows = []
    for name in ("sgd", "momentum", "adam", "adagrad"):
        for steps in (50, 500, 3000):
            rows.append((timed(repeats, lambda name=name, steps=steps: optimizers.run(quadratic, name, steps=steps)),
                         [1, steps]))
    fit("RUN_S, STEP_S (a race step, analytic)", rows, [budget.RUN_S, budget.STEP_S])
    rows = [(timed(repeats, lambda steps=steps: optimizers.run(quadratic, "adam", steps=steps, noise=0.1)) -
             timed(repeats, lambda steps=steps: optimizers.run(quadratic, "adam", steps=steps)), [steps])
            for steps in (500, 3000)]
    fit("NOISE_STEP_S", rows, [budget.NOISE_STEP_S])
    rows = []
    for count in (2, 5, 10, 18, 25):
        surface = landscapes.get("expression", f=chained(count))
        nodes = budget.surface_work("expression", {"f": chained(count)}).nodes
        rows.append((timed(repeats, lambda surface=surface: optimizers.run(surface, "adam", steps=200)) / 200,
                     [1, nodes]))
    fit("(STEP_S,) NODE_S (an expression's node, one point)", rows, [budget.STEP_S, budget.NODE_S])
    logistic = landscapes.get("logistic2")
    full = timed(repeats, lambda: optimizers.run(logistic, "adam", steps=300)) / 300
    batch = timed(repeats, lambda: optimizers.run(logistic, "adam", steps=300, batch_size=16)) / 300
    print(f"LOGISTIC_STEP_S: {full - budget.STEP_S:.3g} (now {budget.LOGISTIC_STEP_S:.3g}); LOGISTIC_MINIBATCH_S: "
          f"{batch - full:.3g} (now {budget.LOGISTIC_MINIBATCH_S:.3g})")

    configs = [Config("moons", (8,)), Config("moons", (16, 16)), Config("moons", (64, 64)), Config("digits", (16,)),
               Config("digits", (64, 64)), Config("digits", (256, 12)), Config("blobs", (32, 32)),
               Config("moons", (256, 12)), Config("digits", (128,)), Config("spirals", (16, 16, 16))]
    rows, batch_rows, row_rows, train_rows, full_rows, grid_rows = [], [], [], [], [], []
    for config in configs:
        plane, work = nets.slice_plane(config), budget.surface_work("network", config._asdict())
        n, units, weights = work.examples, work.units, work.weights
        step = timed(repeats, lambda plane=plane: optimizers.run(plane, "adam", steps=100)) / 100
        rows.append((step - budget.STEP_S, [1, n * units, n * weights]))
        small = timed(repeats, lambda plane=plane: optimizers.run(plane, "adam", steps=100, batch_size=32)) / 100
        batch_rows.append((small - budget.STEP_S - budget._step_s(work, None)
                           + budget._plane_gradient_s(work, n) - budget._plane_gradient_s(work, 32),
                           [1, n * work.first]))
        lr = np.geomspace(1e-4, 1e-1, 64)
        sweep = timed(repeats, lambda plane=plane, lr=lr: optimizers.sweep(plane, "adam", steps=10, lr=lr)) / 10
        row_rows.append(((sweep - budget.STEP_S) / 64 - budget.ROW_STEP_S, [n * units, n * weights]))
        layer = timed(repeats, lambda plane=plane: plots.race.landscape_layer(plane, CALIBRATION_GRID))
        grid_rows.append(((layer - budget.LAYER_S) / CALIBRATION_GRID**2 - budget.POINT_S, [n, n * units, n * weights]))
        train = timed(1, lambda config=config: nets.trained(config), nets.trained.cache_clear)
        train_rows.append((train / nets.TRAIN_STEPS, [1, n * work.parameters, n * units]))
        space = timed(1, lambda config=config: fullspace.full_space(config, {"adam": {}}, 100),
                      fullspace._full_space.cache_clear)
        examples = 2 * n + work.test_examples
        full_rows.append((space / 100, [1, examples * work.parameters, examples * units]))
    fit("NETWORK_CALL_S, NETWORK_UNIT_S, NETWORK_WEIGHT_S (a race step on the plane)", rows,
        [budget.NETWORK_CALL_S, budget.NETWORK_UNIT_S, budget.NETWORK_WEIGHT_S])
    fit("MINIBATCH_CALL_S, MINIBATCH_EXAMPLE_S", batch_rows, [budget.MINIBATCH_CALL_S, budget.MINIBATCH_EXAMPLE_S])
    fit("(NETWORK_UNIT_S, NETWORK_WEIGHT_S: a sweep row on the plane)", row_rows,
        [budget.NETWORK_UNIT_S, budget.NETWORK_WEIGHT_S])
    fit("PLANE_EXAMPLE_S, PLANE_UNIT_S, PLANE_WEIGHT_S (a slice's grid point)", grid_rows,
        [budget.PLANE_EXAMPLE_S, budget.PLANE_UNIT_S, budget.PLANE_WEIGHT_S])
    fit("TRAIN_STEP_S, TRAIN_PARAMETER_S, TRAIN_UNIT_S", train_rows,
        [budget.TRAIN_STEP_S, budget.TRAIN_PARAMETER_S, budget.TRAIN_UNIT_S])
    fit("FULL_STEP_S, FULL_PARAMETER_S, FULL_UNIT_S", full_rows,
        [budget.FULL_STEP_S, budget.FULL_PARAMETER_S, budget.FULL_UNIT_S])

    rosenbrock = landscapes.get("rosenbrock")
    rows, noise_rows, numpy_rows, node_rows = [], [], [], []
    for count in (1024, 16384):
        lr = np.geomspace(1e-5, 1e-2, count)
        optimizers.sweep(rosenbrock, "adam", steps=2, lr=lr)  # compile
        for name in ("sgd", "momentum", "adam", "rmsprop"):
            optimizers.sweep(rosenbrock, name, steps=2, lr=lr)
            rows.append((timed(repeats, lambda lr=lr, name=name: optimizers.sweep(rosenbrock, name, steps=200, lr=lr))
                         / 200, [1, count]))
        noisy = timed(repeats, lambda lr=lr: optimizers.sweep(rosenbrock, "adam", steps=100, lr=lr, noise=0.5)) / 100
        noise_rows.append((noisy - budget.STEP_S - count * budget.FUSED_ROW_STEP_S, [count]))
        rows_surface = maps.ConditionRows(np.geomspace(1, 1000, count), 30.0)
        numpy_rows.append((timed(repeats, lambda lr=lr, s=rows_surface: optimizers.sweep(
            s, "adam", start=(1.0, 1.0), steps=50, lr=lr)) / 50, [1, count]))
        for formulas in (2, 10, 25):
            surface = landscapes.get("expression", f=chained(formulas))
            nodes = budget.surface_work("expression", {"f": chained(formulas)}).nodes
            step = timed(repeats, lambda lr=lr, s=surface: optimizers.sweep(s, "adam", steps=10, lr=lr)) / 10
            node_rows.append((step / count, [1, nodes]))
    fit("(STEP_S,) FUSED_ROW_STEP_S", rows, [budget.STEP_S, budget.FUSED_ROW_STEP_S])
    fit("NOISE_ROW_STEP_S", noise_rows, [budget.NOISE_ROW_STEP_S])
    fit("(STEP_S,) ROW_STEP_S (numpy sweep)", numpy_rows, [budget.STEP_S, budget.ROW_STEP_S])
    fit("(ROW_STEP_S,) NODE_ROW_S", node_rows, [budget.ROW_STEP_S, budget.NODE_ROW_S])
    rows = [(timed(repeats, lambda grid=grid: plots.race.landscape_layer(quadratic, grid)), [1, grid**2])
            for grid in (50, 100, 200, 300, 400)]
    fit("(REQUEST_S,) POINT_S + FORMULA_POINT_S (a drawn grid point)", rows,
        [budget.REQUEST_S, budget.POINT_S + budget.FORMULA_POINT_S])
    tune_config = dataclasses.replace(maps.MapConfig(), cells=16)
    print("(tuning check)", timed(repeats, lambda: tuning.tune(tune_config, 64, time_budget=math.inf)),
          budget.tune_cost(tune_config, 64).seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calibrate", action="store_true", help="fit the model's constants instead")
    parser.add_argument("--verbose", action="store_true", help="with --calibrate: every measurement")
    args = parser.parse_args()
    if args.calibrate:
        calibrate(args.repeats)
    else:
        benchmark(args.requests, args.seed, args.repeats)


if __name__ == "__main__":
    main()
