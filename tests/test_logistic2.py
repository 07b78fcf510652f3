"""The exact two-parameter network (``logistic2``): its loss against the direct formula, its gradient against autograd,
its Newton minimizer, and its use by the engine, the command line's race and the Explore page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import landscapes
import optimizers
from landscapes import logistic2
from losslab import race
from tests.rendered import race_spec

ROOT = Path(__file__).resolve().parent.parent


def random_surface(rng: np.random.Generator):
    return landscapes.get("logistic2", seed=int(rng.integers(0, 10_000)), separation=float(rng.uniform(0, 6)),
                          l2=float(np.exp(rng.uniform(np.log(1e-3), 0))))


def direct_loss(surface, w: float, b: float) -> float:
    """(1/N) Σᵢ [−yᵢ log σ(zᵢ) − (1 − yᵢ) log(1 − σ(zᵢ))] + λ/2 (w² + b²), one point at a time."""
    total = 0.0
    for x, y in zip(surface.x, surface.y):
        p = 1.0 / (1.0 + np.exp(-(w * x + b)))
        total += -np.log(p) if y == 1 else -np.log1p(-p)
    return total / len(surface.x) + 0.5 * surface.l2 * (w * w + b * b)


def test_value_equals_the_cross_entropy_formula_at_random_points():
    rng = np.random.default_rng()
    surface = random_surface(rng)
    points = rng.uniform(-3, 3, (5, 2))
    values = surface.value(points)
    assert values.shape == (5,)
    for (w, b), value in zip(points, values):
        assert value == pytest.approx(direct_loss(surface, w, b), rel=1e-10)
    torch_values = surface.value(torch.from_numpy(points))
    assert isinstance(torch_values, torch.Tensor) and torch_values.dtype == torch.float64
    np.testing.assert_allclose(torch_values.numpy(), values, rtol=1e-12)


def test_batched_grid_equals_point_by_point_across_chunks():
    rng = np.random.default_rng()
    surface = random_surface(rng)
    grid = rng.uniform(-4, 4, (3, logistic2.CHUNK // 2 + 7, 2))  # more points than one chunk
    values, grads = surface.value_and_grad(grid)
    assert values.shape == grid.shape[:-1] and grads.shape == grid.shape
    for index in rng.integers(0, grid.shape[1], 5):
        point = grid[1, index]
        assert values[1, index] == pytest.approx(float(surface.value(point)), rel=1e-12)
        np.testing.assert_allclose(grads[1, index], surface.grad(point), rtol=1e-12)


def test_gradient_equals_autograd_and_finite_differences():
    rng = np.random.default_rng()
    surface = random_surface(rng)
    points = torch.from_numpy(rng.uniform(-3, 3, (6, 2))).requires_grad_(True)
    surface.value(points).sum().backward()
    np.testing.assert_allclose(surface.grad(points.detach()).numpy(), points.grad.numpy(), rtol=1e-9, atol=1e-12)
    h = 1e-6
    xy = points.detach().numpy()
    for axis in range(2):
        step = np.zeros(2)
        step[axis] = h
        central = (surface.value(xy + step) - surface.value(xy - step)) / (2 * h)
        np.testing.assert_allclose(surface.grad(xy)[:, axis], central, rtol=1e-6, atol=1e-8)


def test_newton_minimizer_has_zero_gradient_and_the_least_value():
    rng = np.random.default_rng()
    surface = random_surface(rng)
    (minimum,) = surface.minima
    assert np.linalg.norm(surface.grad(np.array(minimum))) < 1e-10
    assert float(surface.value(np.array(minimum))) == pytest.approx(surface.minimum_value, rel=1e-14)
    around = np.array(minimum) + rng.normal(0, 0.5, (200, 2))
    assert (surface.value(around) >= surface.minimum_value).all()
    (wmin, wmax), (bmin, bmax) = surface.bounds
    assert wmin < minimum[0] < wmax and bmin < minimum[1] < bmax
    assert wmin < surface.default_start[0] < wmax and bmin < surface.default_start[1] < bmax


def test_bad_parameters_are_value_errors():
    with pytest.raises(ValueError, match="Invalid l2 value"):
        landscapes.get("logistic2", l2=0.0)
    with pytest.raises(ValueError, match="Invalid separation value"):
        landscapes.get("logistic2", separation=float("nan"))
    with pytest.raises(ValueError, match="Invalid batch_size value"):
        optimizers.run(landscapes.get("logistic2"), "sgd", steps=3, lr=0.1, batch_size=logistic2.POINTS + 1)


def test_registered_and_optimizers_reach_the_minimum():
    assert "logistic2" in landscapes.names()
    surface = landscapes.get("logistic2")
    for name, lr in (("sgd", 0.3), ("momentum", 0.05), ("adam", 0.05)):
        trajectory = optimizers.run(surface, name, start=surface.default_start, steps=400, lr=lr)
        assert trajectory.losses[0, -1] - surface.minimum_value < 1e-6
        assert np.linalg.norm(trajectory.points[0, -1] - surface.minima[0]) < 1e-2


def test_minibatches_are_reproducible_by_seed_and_differ_from_full_batch():
    surface = landscapes.get("logistic2")
    run = lambda **kw: optimizers.run(surface, "sgd", start=surface.default_start, steps=30, lr=0.3, **kw)  # noqa: E731
    first, again, other = run(batch_size=16, seed=1), run(batch_size=16, seed=1), run(batch_size=16, seed=2)
    assert np.array_equal(first.points, again.points)
    assert not np.array_equal(first.points, other.points)
    assert not np.array_equal(first.points, run().points)


def test_url_round_trip_and_command_line_race(tmp_path):
    config = race.RaceConfig(surface="logistic2", surface_params={"seed": 3, "separation": 1.5, "l2": 0.02},
                             optimizers={"sgd": {**race.optimizer_defaults("sgd", "logistic2"), "lr": 0.3}},
                             steps=20).validate()
    assert race.from_query(race.to_query(config))[0] == config
    out = tmp_path / "race.json"
    result = subprocess.run([sys.executable, "-m", "losslab", "race", "--surface", "logistic2", "--param",
                             "separation=1.5", "--steps", "20", "--out", str(out)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    saved = json.loads(out.read_text())
    assert saved["config"]["surface_params"]["separation"] == 1.5
    for trajectory in saved["trajectories"].values():
        assert trajectory["losses"][-1] < trajectory["losses"][0]


def test_explore_page_races_on_it():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update({"surface": "logistic2", "opt": "sgd,adam", "steps": "100"})
    at.run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    spec = race_spec(at)
    assert {"sgd", "adam"} <= {trace.get("legendgroup") for trace in spec["data"]}
    assert "two parameters" in " ".join(caption.value for caption in at.caption)
