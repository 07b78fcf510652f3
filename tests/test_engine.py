"""The run/sweep engine: bad input, divergence, batching, noise streams, memory."""

from __future__ import annotations

import contextlib
import re
import tracemalloc
import warnings
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch

import landscapes
import optimizers

ROSENBROCK = landscapes.get("rosenbrock")


class ErrorInput(NamedTuple):
    """A bad call (in the spirit of torch's ErrorOptimizerInput): kwargs, the error, a message pattern."""

    optimizer: str
    kwargs: dict[str, Any]
    pattern: str
    function: str = "run"


BAD_INPUTS = [
    ErrorInput("sgd", {"lr": -1.0}, r"Invalid lr value: -1\.0 \(must be >= 0\)"),
    ErrorInput("sgd", {"lr": float("nan")}, r"Invalid lr value: nan"),
    ErrorInput("sgd", {"lr": np.array([0.1, np.nan, 0.2])}, r"Invalid lr value: nan"),
    ErrorInput("sgd", {"lr": np.array([0.1, -0.5])}, r"Invalid lr value: -0\.5"),
    ErrorInput("sgd", {"lr": float("inf")}, r"Invalid lr value: inf"),
    ErrorInput("sgd", {"lr": "fast"}, r"Invalid lr value: 'fast'"),
    ErrorInput("momentum", {"momentum": 1.5}, r"Invalid momentum value: 1\.5 \(must be in \[0, 1\)\)"),
    ErrorInput("momentum", {"momentum": 1.0}, r"Invalid momentum value: 1\.0 \(must be in \[0, 1\)\)"),
    ErrorInput("momentum", {"dampening": -0.1}, r"Invalid dampening value"),
    ErrorInput("adam", {"betas": (1.2, 0.999)}, r"Invalid betas\[0\] \(β₁\) value: 1\.2 \(must be in \[0, 1\)\)"),
    ErrorInput("adam", {"betas": (0.9, -0.1)}, r"Invalid betas\[1\] \(β₂\) value: -0\.1"),
    ErrorInput("adam", {"betas": 0.9}, r"Invalid betas value: 0\.9 \(must be a pair"),
    ErrorInput("adam", {"eps": -1e-8}, r"Invalid eps value"),
    ErrorInput("adamw", {"weight_decay": -0.01}, r"Invalid weight_decay value: -0\.01 \(must be >= 0\)"),
    ErrorInput("adam", {"amsgrad": "yes"}, r"Invalid amsgrad value: 'yes' \(must be True or False\)"),
    ErrorInput("rmsprop", {"alpha": 1.01}, r"Invalid alpha value: 1\.01 \(must be in \[0, 1\]\)"),
    ErrorInput("adagrad", {"lr_decay": -1.0}, r"Invalid lr_decay value"),
    ErrorInput("adadelta", {"rho": 1.5}, r"Invalid rho value: 1\.5 \(must be in \[0, 1\]\)"),
    ErrorInput("adadelta", {"eps": -1e-6}, r"Invalid eps value: -1e-06 \(must be >= 0\)"),
    ErrorInput("rprop", {"etas": (0.5, 1.0)}, r"Invalid etas\[1\] \(η⁺\) value: 1\.0 \(must be > 1\)"),
    ErrorInput("rprop", {"etas": (0.0, 1.2)}, r"Invalid etas\[0\] \(η⁻\) value: 0\.0 \(must be in \(0, 1\)\)"),
    ErrorInput("rprop", {"etas": 0.5}, r"Invalid etas value: 0\.5 \(must be a pair \(η⁻, η⁺\), η⁻ in \(0, 1\), "
                                       r"η⁺ > 1\)"),
    ErrorInput("rprop", {"step_sizes": (-1e-6, 50.0)}, r"Invalid step_sizes\[0\] \(Δ_min\) value: -1e-06 "
                                                      r"\(must be >= 0\)"),
    ErrorInput("rprop", {"step_sizes": (1e-6, float("inf"))}, r"Invalid step_sizes\[1\] \(Δ_max\) value: inf"),
    ErrorInput("asgd", {"lambd": -1e-4}, r"Invalid lambd value: -0\.0001 \(must be >= 0\)"),
    ErrorInput("asgd", {"alpha": float("nan")}, r"Invalid alpha value: nan \(must be finite\)"),
    ErrorInput("asgd", {"t0": -1.0}, r"Invalid t0 value: -1\.0 \(must be >= 0\)"),
    ErrorInput("adafactor", {"beta2_decay": 0.5}, r"Invalid beta2_decay value: 0\.5 \(must be <= 0\)"),
    ErrorInput("adafactor", {"d": 0.5}, r"Invalid d value: 0\.5 \(must be >= 1\)"),
    ErrorInput("adafactor", {"eps": (None, -1e-3)}, r"Invalid eps\[1\] \(ε₂\) value: -0\.001 \(must be >= 0\)"),
    ErrorInput("adafactor", {"eps": (-1e-30, 1e-3)}, r"Invalid eps\[0\] \(ε₁\) value: -1e-30 \(must be >= 0\)"),
    ErrorInput("adafactor", {"eps": 1e-3}, r"Invalid eps value: 0\.001 \(must be a pair \(ε₁, ε₂\), ε₁ None or >= 0, "
                                           r"ε₂ >= 0\)"),
    ErrorInput("adam", {"betas": (None, 0.999)}, r"Invalid betas\[0\] \(β₁\) value: None \(must be a number in "
                                                 r"\[0, 1\)\)"),
    ErrorInput("sgd", {"nesterov": True}, r"Invalid nesterov value: True \(Nesterov momentum requires momentum > 0"),
    ErrorInput("nesterov", {"dampening": 0.5}, r"requires momentum > 0 and dampening = 0"),
    ErrorInput("sgd", {"betas": (0.9, 0.99)}, r"Optimizer 'sgd' takes no keyword 'betas' \(valid: lr, momentum"),
    ErrorInput("adamw", {"decoupled_weight_decay": False}, r"takes no keyword 'decoupled_weight_decay'"),
    ErrorInput("adamm", {}, r"Unknown optimizer 'adamm' \(valid: sgd, momentum, nesterov, rmsprop, adam"),
    ErrorInput("sgd", {"steps": -5}, r"Invalid steps value: -5 \(must be an integer in \[0, 100000\]\)"),
    ErrorInput("sgd", {"steps": 10**9}, r"Invalid steps value: 1000000000"),
    ErrorInput("sgd", {"steps": 2.5}, r"Invalid steps value: 2\.5"),
    ErrorInput("sgd", {"start": (1.0,)}, r"Invalid start value: \(1\.0,\) \(must be two finite numbers"),
    ErrorInput("sgd", {"start": (1.0, float("nan"))}, r"Invalid start value"),
    ErrorInput("sgd", {"start": "1,2"}, r"Invalid start value: '1,2'"),
    ErrorInput("sgd", {"start": np.zeros((3, 3))}, r"Invalid start value"),
    ErrorInput("sgd", {"start": np.zeros((3, 2)), "lr": np.ones(4) * 0.1}, r"Invalid batch: per-row inputs do not"),
    ErrorInput("sgd", {"lr": np.full(20_000, 0.01), "steps": 1000}, r"Invalid batch: 20000 rows × 1001 points"),
    ErrorInput("sgd", {"lr": np.full(1_000_001, 0.01), "steps": 1}, r"Invalid batch: 1000001 rows", "sweep"),
    ErrorInput("sgd", {"lr": np.ones((2, 2))}, r"Invalid lr shape: \(2, 2\)"),
    ErrorInput("sgd", {"noise": -0.1}, r"Invalid noise value: -0\.1 \(must be >= 0\)"),
    ErrorInput("sgd", {"seed": -1}, r"Invalid seed value: -1"),
    ErrorInput("sgd", {"seed": 1.5}, r"Invalid seed value: 1\.5"),
    ErrorInput("sgd", {"batch_size": 32}, r"Invalid batch_size value: 32 \(this surface has no data"),
    ErrorInput("sgd", {"backend": "jax"}, r"Invalid backend value: 'jax'"),
    ErrorInput("sgd", {"backend": "numpy", "device": "cuda"}, r"Invalid device value: 'cuda'"),
    ErrorInput("sgd", {"dtype": "float16"}, r"Invalid dtype value: 'float16'"),
    ErrorInput("sgd", {"schedule": 0.5}, r"Invalid schedule value: 0\.5"),
    ErrorInput("sgd", {"tol": -1.0}, r"Invalid tol value: -1\.0", "sweep"),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda case: f"{case.function}-{case.optimizer}-{case.pattern[:30]}")
def test_bad_input_raises_value_error_naming_the_parameter(case):
    function = getattr(optimizers, case.function)
    kwargs = {"steps": 10, **case.kwargs}
    with pytest.raises(ValueError, match=case.pattern):
        function(ROSENBROCK, case.optimizer, **kwargs)


def test_unknown_surface_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown surface 'rosenbrok' \(valid: .*rosenbrock"):
        landscapes.get("rosenbrok")
    with pytest.raises(ValueError, match=r"Invalid condition value: 0\.5 \(must be in \[1, 10000\]\)"):
        landscapes.get("quadratic", condition=0.5)


def test_a_schedule_giving_a_negative_lr_is_refused_before_work():
    with pytest.raises(ValueError, match=r"Invalid schedule for 5 steps: Invalid scheduled lr at step 0 value: -0\.1"):
        optimizers.run(ROSENBROCK, "sgd", steps=5, lr=0.1, schedule=lambda k, lr: -lr)


def test_sgd_on_rosenbrock_only_the_small_lr_converges():
    lrs = np.array([1e-4, 0.05, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = optimizers.sweep(ROSENBROCK, "sgd", start=(-1.5, 2.0), steps=1000, lr=lrs)
        trajectory = optimizers.run(ROSENBROCK, "sgd", start=(-1.5, 2.0), steps=1000, lr=lrs)
    assert summary.diverged.tolist() == [False, True, True]
    assert summary.final_loss[0] < ROSENBROCK.value(np.array([-1.5, 2.0]))
    assert set(summary.diverged_reason[1:]) <= {"blow-up", "non-finite"}
    np.testing.assert_array_equal(summary.diverged_at, trajectory.diverged_at)
    for array in (trajectory.points, trajectory.losses, summary.final_loss, summary.best_loss, summary.final_point):
        assert np.isfinite(array).all()
    for row in (1, 2):  # frozen from the divergence on
        k = trajectory.diverged_at[row]
        assert (trajectory.points[row, k:] == trajectory.points[row, k]).all()
        assert summary.final_loss[row] == trajectory.losses[row, -1]


def test_non_finite_rows_repeat_their_last_finite_iterate_and_others_go_on():
    surface = landscapes.get("saddle")
    # lr 1e155 overflows the iterate to inf on the first steps; the other row is untouched
    trajectory = optimizers.run(surface, "sgd", start=[(1.0, 1.0), (1.0, 1.0)], steps=20, lr=np.array([1e155, 0.01]))
    assert trajectory.diverged_reason[0] in ("non-finite", "blow-up")
    assert trajectory.diverged_at[1] == -1
    assert np.isfinite(trajectory.points).all() and np.isfinite(trajectory.losses).all()
    reference = optimizers.run(surface, "sgd", start=(1.0, 1.0), steps=20, lr=0.01)
    np.testing.assert_array_equal(trajectory.points[1], reference.points[0])


def test_the_non_finite_rule_keeps_the_previous_iterate():
    class Cliff:
        """f = x² except beyond x > 2, where it is NaN."""

        default_start = (1.0, 0.0)
        minimum_value = 0.0

        def value(self, xy):
            return np.where(xy[..., 0] > 2, np.nan, xy[..., 0] ** 2)

        def grad(self, xy):
            return np.stack([-np.ones_like(xy[..., 0]), np.zeros_like(xy[..., 0])], axis=-1)

    trajectory = optimizers.run(Cliff(), "sgd", steps=10, lr=0.4)  # x: 1.0, 1.4, 1.8, 2.2 (NaN loss)
    assert trajectory.diverged_at.tolist() == [3] and trajectory.diverged_reason.tolist() == ["non-finite"]
    np.testing.assert_allclose(trajectory.points[0, 3:, 0], 1.8)
    np.testing.assert_allclose(trajectory.losses[0, 3:], 1.8**2)


def test_steps_to_tol_and_best_loss():
    surface = landscapes.get("quadratic", condition=1.0)
    summary = optimizers.sweep(surface, "sgd", start=(1.0, 0.0), steps=50, lr=np.array([0.5, 1e-3]), tol=1e-6)
    # f(θₖ) = ½(1 − ρ)^{2k}: with ρ = 0.5 the loss is ½·4^{-k} ≤ 1e-6 first at k = 10
    assert summary.steps_to_tol.tolist() == [10, -1]
    trajectory = optimizers.run(surface, "sgd", start=(1.0, 0.0), steps=50, lr=np.array([0.5, 1e-3]))
    np.testing.assert_array_equal(summary.best_loss, trajectory.losses.min(axis=1))
    np.testing.assert_array_equal(summary.final_loss, trajectory.losses[:, -1])
    np.testing.assert_array_equal(summary.final_point, trajectory.points[:, -1])


def test_rows_broadcast_elementwise_and_equal_single_runs():
    rng = np.random.default_rng(5)
    lrs, alphas = 10 ** rng.uniform(-4, -2, 5), rng.uniform(0, 0.95, 5)
    starts = rng.uniform(-1.5, 1.5, (5, 2))
    batch = optimizers.run(ROSENBROCK, "momentum", start=starts, steps=40, lr=lrs, momentum=alphas)
    assert batch.points.shape == (5, 41, 2) and batch.losses.shape == (5, 41)
    for i in range(5):
        single = optimizers.run(ROSENBROCK, "momentum", start=starts[i], steps=40, lr=lrs[i], momentum=alphas[i])
        np.testing.assert_array_equal(batch.points[i], single.points[0])


def test_noise_stream_of_a_row_does_not_depend_on_the_batch():
    rng = np.random.default_rng(1)
    lrs = 10 ** rng.uniform(-3, -2, 7)
    batch = optimizers.run(ROSENBROCK, "sgd", steps=30, lr=lrs, noise=0.3, seed=11)
    alone = optimizers.run(ROSENBROCK, "sgd", steps=30, lr=lrs[:3], noise=0.3, seed=11)
    np.testing.assert_array_equal(batch.points[:3], alone.points)
    other_seed = optimizers.run(ROSENBROCK, "sgd", steps=30, lr=lrs[:3], noise=0.3, seed=12)
    assert not np.array_equal(other_seed.points, alone.points)
    quiet = optimizers.run(ROSENBROCK, "sgd", steps=30, lr=lrs[:3])
    assert not np.array_equal(quiet.points, alone.points)


def test_zero_steps_and_the_trajectory_fields():
    trajectory = optimizers.run(ROSENBROCK, "adam", steps=0)
    assert trajectory.points.shape == (1, 1, 2) and trajectory.lrs.shape == (1, 0)
    np.testing.assert_array_equal(trajectory.points[0, 0], ROSENBROCK.default_start)
    assert trajectory.hyperparameters["betas"] == (0.9, 0.999) or np.allclose(trajectory.hyperparameters["betas"],
                                                                             (0.9, 0.999))


def test_scheduled_learning_rates_are_recorded():
    halving = lambda k, lr: lr / (k + 1)  # noqa: E731
    trajectory = optimizers.run(ROSENBROCK, "sgd", steps=6, lr=np.array([1e-3, 2e-3]), schedule=halving)
    np.testing.assert_allclose(trajectory.lrs, np.array([[1e-3], [2e-3]]) / np.arange(1, 7))


def test_torch_backend_float32_keeps_dtype():
    trajectory = optimizers.run(ROSENBROCK, "adam", steps=20, lr=1e-2, backend="torch", dtype=torch.float32)
    assert trajectory.points.dtype == np.float32
    float64 = optimizers.run(ROSENBROCK, "adam", steps=20, lr=1e-2)
    np.testing.assert_allclose(trajectory.points, float64.points, rtol=1e-4)


@pytest.mark.parametrize("path", ["reference", "fast"])
def test_sweep_keeps_memory_proportional_to_rows(path):
    from optimizers import fast

    rows, steps = 4096, 1000
    lrs = np.logspace(-5, -2, rows)
    context = fast.disabled() if path == "reference" else contextlib.nullcontext()
    with context:
        optimizers.sweep(ROSENBROCK, "adam", steps=10, lr=lrs)  # compiles the fast kernel outside the measurement
        tracemalloc.start()
        optimizers.sweep(ROSENBROCK, "adam", steps=steps, lr=lrs)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    full_trajectories = rows * (steps + 1) * 3 * 8  # points and losses in float64
    assert peak < 0.05 * full_trajectories, (peak, full_trajectories)
    assert peak < 200 * rows * 8  # a few dozen (B,)/(B, 2) work arrays, or a (T, B) block of scheduled lrs


def test_messages_are_single_sentences_without_tracebacks():
    with pytest.raises(ValueError) as error:
        optimizers.run(ROSENBROCK, "momentum", momentum=1.5)
    assert re.fullmatch(r"Invalid momentum value: 1\.5 \(must be in \[0, 1\)\)", str(error.value))
