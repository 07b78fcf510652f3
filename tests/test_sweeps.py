"""Hyper-parameter maps, learning-rate curves, grid vs random search, schedule presets and their figures."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import landscapes
import optimizers
import plots.sweeps as figures
from losslab import maps, race, schedule_presets, theory, tuning

MAP_CASES = [  # (surface, params, optimizer, y axis): every kind of y axis, fused and reference kernels
    ("rosenbrock", {}, "momentum", "momentum"),
    ("himmelblau", {}, "adam", "beta1"),
    ("beale", {}, "rmsprop", "alpha"),
    ("quadratic", {"condition": 30.0, "angle": 20.0}, "sgd", "distance"),
    ("quadratic", {"angle": -40.0}, "momentum", "condition"),
]


def _run_cell(config: maps.MapConfig, lr: float, y: float) -> optimizers.Trajectory:
    """The cell as one plain ``optimizers.run`` of the race that opens it on Explore (unrounded y)."""
    race_config = maps.race_config(config, lr, y)
    hyper = dict(race_config.optimizers[config.optimizer])
    if config.y in ("momentum", "alpha"):
        hyper[config.y] = y
    elif config.y == "beta1":
        hyper["betas"] = (y, hyper["betas"][1])
    return optimizers.run(race_config.landscape(), config.optimizer, start=race_config.start_point(),
                          steps=config.steps, **hyper)


@pytest.mark.parametrize("case", range(len(MAP_CASES)))
def test_map_equals_per_cell_runs_on_random_cells(case):
    surface, params, optimizer, y = MAP_CASES[case]
    rng = np.random.default_rng(100 + case)
    config = maps.MapConfig(surface=surface, surface_params=params, optimizer=optimizer, y=y, cells=16,
                              steps=int(rng.integers(50, 300)))
    hmap = maps.hyper_map(config)
    target = (landscapes.get(surface, **params).minimum_value or 0.0) + config.tol
    for i, j in rng.integers(0, 16, size=(6, 2)):
        trajectory = _run_cell(config, hmap.lr[j], hmap.y[i])
        losses = trajectory.losses[0]
        np.testing.assert_allclose(hmap.cells.final_loss[i, j], losses[-1], rtol=1e-9, atol=1e-300)
        np.testing.assert_allclose(hmap.cells.best_loss[i, j], losses.min(), rtol=1e-9, atol=1e-300)
        reached = np.flatnonzero(losses <= target)
        assert hmap.cells.steps_to_tol[i, j] == (reached[0] if reached.size else -1)
        assert hmap.cells.diverged_at[i, j] == trajectory.diverged_at[0]
        assert hmap.cells.diverged[i, j] == (trajectory.diverged_at[0] >= 0)


def test_noise_repeats_draw_different_noise_and_the_map_is_their_mean():
    rng = np.random.default_rng(7)
    config = maps.MapConfig(surface="quadratic", optimizer="momentum", cells=3, steps=60, noise=0.5, seeds=3,
                              seed=int(rng.integers(0, 1000)), lr_range=(1e-3, 0.1))
    hmap = maps.hyper_map(config)
    lr, y = (a.ravel() for a in np.meshgrid(hmap.lr, hmap.y))
    surface, start, hyper = maps.sweep_inputs(config, np.tile(lr, 3), np.tile(y, 3))
    rows = optimizers.run(surface, "momentum", start=start, steps=60, noise=0.5, seed=config.seed, **hyper)
    finals = rows.losses[:, -1].reshape(3, 9)
    assert np.all(np.ptp(finals, axis=0) > 0)  # each repeat of a cell drew its own noise
    np.testing.assert_allclose(hmap.cells.final_loss.ravel(), finals.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(hmap.cells.best_loss.ravel(), rows.losses.min(axis=1).reshape(3, 9).mean(axis=0),
                               rtol=1e-9)


def _first_diverged(row: np.ndarray) -> int:
    found = np.flatnonzero(row)
    assert found.size, "no diverged cell in a row that crosses the theoretical boundary"
    return int(found[0])


def _measured(lr: np.ndarray, j: int) -> float:
    """log₁₀ of the measured boundary: midway (in log ρ) between cell j − 1 (converged) and j (diverged)."""
    return (math.log10(lr[j - 1]) + math.log10(lr[j])) / 2


@pytest.mark.parametrize("draw", range(3))
def test_measured_heavy_ball_boundary_lies_on_the_theory_within_one_cell(draw):
    rng = np.random.default_rng(2000 + draw)
    kappa, angle = float(10 ** rng.uniform(0.5, 3)), float(rng.uniform(-90, 90))
    config = maps.MapConfig(surface="quadratic", surface_params={"condition": kappa, "angle": angle},
                              optimizer="momentum", y="momentum", y_range=(0.0, 0.95), cells=48, steps=2000,
                              lr_range=(0.5 / kappa, 8.0 / kappa))
    hmap = maps.hyper_map(config)
    cell = math.log10(hmap.lr[1] / hmap.lr[0])
    expected = theory.max_stable_lr(hmap.y, kappa)
    for i in range(len(hmap.y)):  # the boundary between the last converging and the first diverging cell
        j = _first_diverged(hmap.cells.diverged[i])
        assert 0 < j and not hmap.cells.diverged[i, :j].any()
        assert abs(_measured(hmap.lr, j) - math.log10(expected[i])) <= cell
    assert abs(_measured(hmap.lr, _first_diverged(hmap.cells.diverged[0])) - math.log10(2 / kappa)) <= cell  # GD
    lines = maps.divergence_boundary(hmap)
    assert lines
    for line in lines:
        inner = (line[:, 1] > hmap.y[0]) & (line[:, 1] < hmap.y[-1])
        gaps = np.abs(np.log10(line[inner, 0]) - np.log10(theory.max_stable_lr(line[inner, 1], kappa)))
        assert gaps.max() <= cell


def test_measured_gd_boundary_over_the_condition_number():
    rng = np.random.default_rng(31)
    config = maps.MapConfig(surface="quadratic", surface_params={"angle": float(rng.uniform(-90, 90))},
                              optimizer="sgd", y="condition", y_range=(2.0, 500.0), lr_range=(1e-3, 2.0), cells=24,
                              steps=1500)
    hmap = maps.hyper_map(config)
    cell = math.log10(hmap.lr[1] / hmap.lr[0])
    for i, kappa in enumerate(hmap.y):
        j = _first_diverged(hmap.cells.diverged[i])
        assert 0 < j and not hmap.cells.diverged[i, :j].any()
        assert abs(_measured(hmap.lr, j) - math.log10(2 / kappa)) <= cell


def test_theory_formulas_and_overlays():
    eigen = theory.quadratic_eigenvalues(100.0)
    rho, alpha = theory.optimal_heavy_ball(eigen)
    assert rho == pytest.approx((2 / 11) ** 2) and alpha == pytest.approx((9 / 11) ** 2)
    assert theory.max_stable_lr(0.5, 100.0) == pytest.approx(0.03)
    config = maps.MapConfig(surface="quadratic", surface_params={"condition": 100.0}, optimizer="momentum")
    names = [o.name for o in theory.map_overlays(config, np.linspace(0, 0.99, 5))]
    assert any("GD" in n for n in names) and any("heavy ball" in n for n in names) and any("ρ*" in n for n in names)
    assert theory.map_overlays(maps.MapConfig(), np.linspace(0, 0.99, 5)) == []  # Rosenbrock: no theory
    with pytest.raises(ValueError, match="condition"):
        theory.quadratic_eigenvalues(0.5)


def test_lr_curves_mark_the_best_rate_among_runs_that_did_not_diverge():
    config = maps.MapConfig(surface="quadratic", surface_params={"condition": 20.0}, steps=200,
                              lr_range=(1e-4, 3.0))
    curves = maps.lr_curves(config, ["sgd", "momentum", "adam"], points=40)
    for curve in curves.values():
        loss = np.where(curve.cells.diverged, np.inf, curve.cells.final_loss)
        assert curve.best == int(np.argmin(loss))
        assert not curve.cells.diverged[curve.best]
    assert curves["sgd"].cells.diverged[curves["sgd"].lr > 2 / 20 * 1.2].all()  # past GD's 2/λ_max


def test_grid_and_random_search_use_the_same_budget_in_one_sweep(monkeypatch):
    calls = []
    original = optimizers.sweep
    record = lambda *a, **k: calls.append((k["lr"].shape, k["steps"])) or original(*a, **k)  # noqa: E731
    monkeypatch.setattr(optimizers, "sweep", record)
    config = maps.MapConfig(surface="himmelblau", optimizer="adam", y="beta1", steps=150)
    searches = tuning.tune(config, 49, seed=3)
    assert [call for call in calls if call[1] > 0] == [((98,), 150)]  # validation runs 0 steps
    low, high = config.lr_span()
    for search in searches.values():
        assert len(search.lr) == len(search.y) == len(search.final_loss) == 49
        assert np.all((search.lr >= low * (1 - 1e-12)) & (search.lr <= high * (1 + 1e-12)))
        assert np.all(np.diff(search.best_so_far) <= 0)
    assert len(np.unique(searches["grid"].lr)) == 7 and len(np.unique(searches["random"].lr)) == 49
    for budget in (3, 50, 4097, 2.0):
        with pytest.raises(ValueError, match="budget"):
            tuning.tune(config, budget)
    with pytest.raises(ValueError, match="search size"):
        tuning.tune(dataclasses.replace(config, steps=5000, noise=0.1, seeds=16), 1024)


def test_schedule_presets_follow_their_formulas():
    rho0, steps = 0.1, 200
    rates = schedule_presets.learning_rates(schedule_presets.schedule_config("linear", steps, {"final_factor": 0.05}),
                                            rho0, steps)
    k = np.arange(steps)
    np.testing.assert_allclose(rates, (1 - k / steps) * rho0 + (k / steps) * 0.05 * rho0, rtol=1e-9)  # Alg. 8.1
    rates = schedule_presets.learning_rates(schedule_presets.schedule_config("step", steps), rho0, steps)
    np.testing.assert_allclose(rates, rho0 * 0.3 ** (k // 50), rtol=1e-12)
    rates = schedule_presets.learning_rates(schedule_presets.schedule_config("warmup", steps), rho0, steps)
    assert rates[0] == pytest.approx(0.01 * rho0) and rates[-1] == pytest.approx(rho0)
    assert schedule_presets.schedule_config("constant", steps) is None
    with pytest.raises(ValueError, match="gamma"):
        schedule_presets.schedule_config("exponential", steps, {"gamma": 1.5})
    with pytest.raises(ValueError, match="schedule"):
        schedule_presets.schedule_config("sometimes", steps)


def test_scheduled_race_runs_the_optimizer_with_and_without_the_schedule():
    config = race.RaceConfig(optimizers={"sgd": race.optimizer_defaults("sgd")}, steps=100)
    schedule = schedule_presets.schedule_config("cosine", 100)
    trajectories = schedule_presets.scheduled_race(config, schedule, "cosine")
    constant, scheduled = trajectories.values()
    assert list(trajectories) == ["sgd (constant ρ)", "sgd (cosine)"]
    assert np.all(constant.lrs == 0.035)
    np.testing.assert_allclose(scheduled.lrs[0], schedule_presets.learning_rates(schedule, 0.035, 100))


@pytest.mark.parametrize(("change", "name"), [
    ({"cells": 129}, "cells"), ({"cells": 1}, "cells"), ({"seeds": 0}, "seeds"), ({"steps": 5001}, "steps"),
    ({"y": "beta1"}, "y"), ({"y": "condition"}, "y"), ({"lr_range": (1e-3, 1e-4)}, "lr_range"),
    ({"lr_range": (1e-6, 1e-3)}, "lr_range"), ({"y_range": (0.0, 1.5)}, "y_range"),
    ({"optimizer": "muon"}, "optimizer"),
    ({"cells": 128, "seeds": 16, "steps": 1000}, "map size"), ({"noise": -1.0}, "noise"),
])
def test_bad_settings_raise_value_errors_naming_them(change, name):
    with pytest.raises(ValueError, match=name):
        maps.hyper_map(maps.MapConfig(**change))


def test_explore_query_opens_the_cell_on_explore():
    config = maps.MapConfig(surface="quadratic", surface_params={"condition": 40.0, "angle": 10.0},
                              optimizer="adam", y="beta1", steps=700, noise=0.2, seed=5)
    query = maps.explore_query(config, 0.0123, 0.8137)
    opened, messages = race.from_query(query)
    assert messages == []
    assert list(opened.optimizers) == ["adam"]
    assert opened.optimizers["adam"]["lr"] == 0.0123 and opened.optimizers["adam"]["betas"] == (0.814, 0.999)
    assert (opened.surface, opened.surface_params, opened.steps) == ("quadratic", config.surface_params, 700)
    assert (opened.noise, opened.seed) == (0.2, 5)
    far = maps.MapConfig(surface="rosenbrock", optimizer="sgd", y="distance")
    opened, _ = race.from_query(maps.explore_query(far, 1e-4, 0.5))
    assert np.linalg.norm(np.subtract(opened.start_point(), (1.0, 1.0))) == pytest.approx(0.5)
    kappa, _ = race.from_query(maps.explore_query(maps.MapConfig(surface="quadratic", y="condition"), 0.01, 250.0))
    assert kappa.surface_params["condition"] == 250.0


def test_map_rows_hold_every_cell():
    hmap = maps.hyper_map(maps.MapConfig(cells=5, steps=50))
    rows = maps.map_rows(hmap)
    assert len(rows) == 25
    assert set(rows[0]) == {"lr", "momentum", "final_loss", "best_loss", "steps_to_tol", "diverged", "diverged_at",
                            "diverged_fraction"}
    assert rows[7]["lr"] == hmap.lr[2] and rows[7]["momentum"] == hmap.y[1]
    assert rows[7]["final_loss"] == hmap.cells.final_loss[1, 2]


def _numbers(value):
    """Every number in a figure's JSON (typed arrays decoded)."""
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:
            import base64

            yield from np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
        else:
            for item in value.values():
                yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, float):
        yield value


@pytest.mark.parametrize("metric", maps.METRICS)
def test_mostly_divergent_map_renders_without_nan_and_with_a_legend(metric):
    config = maps.MapConfig(surface="quadratic", surface_params={"condition": 500.0}, cells=12, steps=100,
                              lr_range=(1e-3, 10.0))
    hmap = maps.hyper_map(config)
    assert hmap.cells.diverged.mean() > 0.5
    figure = figures.map_figure(hmap, metric, maps.divergence_boundary(hmap), theory.map_overlays(config, hmap.y))
    spec = json.loads(figure.to_json())
    assert all(math.isfinite(v) for v in _numbers(spec["data"]))
    names = [trace.get("name", "") for trace in spec["data"] if trace.get("showlegend", True)]
    assert any(name.startswith("diverged") for name in names)
    assert "divergence boundary (measured)" in names
    cover = next(t for t in spec["data"] if t.get("name", "").startswith("diverged"))
    assert cover["fill"] == "toself" and cover["fillpattern"]["shape"] == "/"  # not a colour of the scale


def test_all_divergent_map_says_so():
    config = maps.MapConfig(surface="quadratic", surface_params={"condition": 500.0}, optimizer="sgd", cells=4,
                              steps=100, lr_range=(1.0, 10.0))
    hmap = maps.hyper_map(config)
    assert hmap.cells.diverged.all()
    spec = json.loads(figures.map_figure(hmap).to_json())
    assert "every cell diverged" in spec["layout"]["annotations"][0]["text"]
    assert all(math.isfinite(v) for v in _numbers(spec["data"]))


def test_click_grid_carries_each_cell_configuration():
    hmap = maps.hyper_map(maps.MapConfig(cells=40, steps=20))
    grid = figures.map_figure(hmap).data[-1]
    assert grid.name == "cells" and len(grid.x) <= figures.CLICK_CELLS**2
    for x, y, (lr, value) in zip(grid.x, grid.y, grid.customdata):
        assert lr in hmap.lr and value in hmap.y
        assert x == pytest.approx(math.log10(lr)) and y == pytest.approx(value)


def test_curve_and_search_figures_have_no_nan():
    config = maps.MapConfig(surface="quadratic", steps=100, lr_range=(1e-3, 10.0))
    curves = maps.lr_curves(config, ["sgd", "adam"], points=20)
    spec = json.loads(figures.lr_curve_figure(curves, 0.0).to_json())
    assert all(math.isfinite(v) for v in _numbers(spec["data"]))
    searches = tuning.tune(config, 16)
    for figure in figures.search_figures(searches, 0.0, "α", False):
        assert all(math.isfinite(v) for v in _numbers(json.loads(figure.to_json())["data"]))


# --- contraction rates on the quadratic -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_measured_contraction_matches_theory(seed):
    """Gradient descent contracts by max |1 − ρλ|, heavy ball by its spectral radius (a random stable run)."""
    rng = np.random.default_rng(seed)
    kappa, angle = float(10 ** rng.uniform(0.5, 2)), float(rng.uniform(-90, 90))
    surface = landscapes.get("quadratic", condition=kappa, angle=angle)
    alpha = float(rng.choice([0.0, rng.uniform(0.3, 0.9)]))
    lr = float(rng.uniform(0.2, 0.9) * theory.max_stable_lr(alpha, kappa))
    trajectory = optimizers.run(surface, "momentum" if alpha else "sgd", start=rng.uniform(-1.5, 1.5, 2),
                                steps=400, lr=lr, momentum=alpha)
    measured = theory.measured_rate(np.linalg.norm(trajectory.points[0], axis=1))
    expected = theory.contraction_rates(lr, alpha, [1.0, kappa]).max()
    assert measured is not None and measured == pytest.approx(expected, abs=0.02)
    np.testing.assert_allclose(theory.contraction_rates(lr, 0.0, [1.0, kappa]), np.abs(1 - lr * np.array([1, kappa])))
