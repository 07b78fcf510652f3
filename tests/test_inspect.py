"""step_view: the optimizer's view at step k agrees with the trajectory and with the lecture's formulas."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import landscapes
import optimizers
from optimizers.step_view import step_view

SURFACE = landscapes.get("quadratic", condition=50.0, angle=30.0)


@pytest.mark.parametrize("optimizer", optimizers.names())
def test_the_view_replays_the_trajectory(optimizer):
    rng = np.random.default_rng(zlib.crc32(optimizer.encode()))
    k = int(rng.integers(0, 60))
    start = rng.uniform(-1.5, 1.5, 2)
    trajectory = optimizers.run(SURFACE, optimizer, start=start, steps=k + 1, lr=0.01)
    view = step_view(SURFACE, optimizer, k, start=start, lr=0.01)
    np.testing.assert_array_equal(view.theta, trajectory.points[0, k])
    np.testing.assert_array_equal(view.update, trajectory.points[0, k + 1] - trajectory.points[0, k])
    np.testing.assert_array_equal(view.grad, SURFACE.grad(trajectory.points[0, k]))
    assert view.loss == trajectory.losses[0, k] and view.lr == 0.01 and not view.diverged


@pytest.mark.parametrize("optimizer, feeds", [("rmsprop", "grad"), ("adagrad", "grad"), ("adam", "ŝ"),
                                              ("adam_nobc", "s")])
def test_the_update_is_the_effective_learning_rate_times_what_the_rule_feeds(optimizer, feeds):
    view = step_view(SURFACE, optimizer, 7, lr=0.02)
    fed = view.grad if feeds == "grad" else view.moments[feeds]
    np.testing.assert_allclose(view.update, -view.effective_lr * fed, rtol=1e-12)


def test_momentum_velocity_follows_the_lecture_form():
    alpha, rho = 0.8, 0.01
    before, now = (step_view(SURFACE, "momentum", k, lr=rho, momentum=alpha) for k in (11, 12))
    np.testing.assert_allclose(now.update, alpha * before.update - rho * now.grad, rtol=1e-12, atol=1e-15)
    assert now.effective_lr is None and now.moments == {}


def test_adam_bias_correction_moments():
    view = step_view(SURFACE, "adam", 0, lr=0.05, betas=(0.9, 0.99))
    np.testing.assert_allclose(view.moments["s"], 0.1 * view.grad, rtol=1e-12)  # t = 1: s = (1 − β₁)g
    np.testing.assert_allclose(view.moments["ŝ"], view.grad, rtol=1e-12)  # ŝ = s / (1 − β₁)
    np.testing.assert_allclose(view.moments["r̂"], view.grad**2, rtol=1e-12)


def test_noise_is_part_of_the_fed_gradient_and_divergence_is_flagged():
    noisy = step_view(SURFACE, "sgd", 4, lr=0.01, noise=0.5, seed=3)
    assert not np.allclose(noisy.grad, SURFACE.grad(noisy.theta))
    np.testing.assert_allclose(noisy.update, -0.01 * noisy.grad, rtol=1e-12)
    diverged_at = int(optimizers.run(SURFACE, "sgd", steps=30, lr=1.0).diverged_at[0])
    assert step_view(SURFACE, "sgd", diverged_at - 1, lr=1.0).diverged  # the step that diverged
    with pytest.raises(ValueError, match=f"Invalid step value: 30 \\(the run diverged at step {diverged_at}"):
        step_view(SURFACE, "sgd", 30, lr=1.0)


def test_one_row_only():
    with pytest.raises(ValueError, match="Invalid batch"):
        step_view(SURFACE, "sgd", 3, lr=np.array([0.01, 0.02]))
