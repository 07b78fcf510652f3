"""L-BFGS ("lbfgs") equals torch.optim.LBFGS run once per row with a closure, for both line searches and both
backends, evaluation counts included (the equivalence rule of docs/ARCHITECTURE.md's contract, with
tests/torch_reference.py's chaotic-row rule); and its keywords, refusals and row independence."""

from __future__ import annotations

import functools
import inspect
import zlib

import numpy as np
import pytest
import torch

import landscapes
import optimizers
from optimizers import lbfgs
from tests.torch_reference import ALWAYS_COMPARED, CHAOS_MARGIN, TOLERANCE, relative_error

STEPS = 50
ROWS = 6
SLOW = ("logistic2", "network")  # 1-8 ms an evaluation, and a row makes up to 50 × 26 of them
SURFACES = [name for name in landscapes.names() if name not in SLOW]
TORCH_SURFACES = ("quadratic", "rosenbrock", "rastrigin", "saddle")  # the torch backend too (its small batches cost
# ~5 µs an operation: 4× numpy's)
LINE_SEARCHES = [None, "strong_wolfe"]
COUNTS = ("rows", "diverged", "chaotic", "compared")


def random_hyperparameters(rng: np.random.Generator, rows: int, line_search_fn: str | None) -> dict:
    """Per-row random hyper-parameters in range: ρ from 10⁻² to 1 (1, torch's default, for a quarter of the rows),
    I up to 25, E torch's default or drawn, tolerances across their useful scales, small and large histories."""
    lr = np.where(rng.random(rows) < 0.25, 1.0, 10 ** rng.uniform(-2, 0, rows))
    max_iter = rng.integers(1, 26, rows).astype(float)
    return {
        "lr": lr,
        "max_iter": max_iter,
        "max_eval": None if rng.random() < 0.5 else rng.integers(1, 40, rows).astype(float),
        "tolerance_grad": 10 ** rng.uniform(-10, -4, rows),
        "tolerance_change": 10 ** rng.uniform(-12, -6, rows),
        "history_size": rng.choice([1, 2, 3, 5, 10, 100], rows).astype(float),
        "line_search_fn": line_search_fn,
    }


def row_kwargs(hyperparameters: dict, row: int) -> dict:
    """Row ``row``'s torch.optim.LBFGS keywords (integers where torch counts)."""
    kwargs = {}
    for name, value in hyperparameters.items():
        if value is not None and not isinstance(value, str):
            array = np.asarray(value)
            value = float(array if array.ndim == 0 else array[row])
            if name in ("max_iter", "max_eval", "history_size"):
                value = int(value)
        kwargs[name] = value
    return kwargs


def _nudge(value: torch.Tensor, towards: float) -> None:
    value.copy_(torch.nextafter(value, torch.full_like(value, towards)))


def torch_lbfgs(surface, start: np.ndarray, steps: int, kwargs: dict, nudge: str = "",
                towards: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """(steps + 1, 2) iterates of torch.optim.LBFGS from ``start`` (float64), its closure computing f and ∇f with the
    surface's own numpy formulas, and its ``func_evals`` after each step (steps,). ``nudge``: "iterate" moves θ by
    one ulp after every step, "state" every tensor of the state (d, g_prev, the history's s and y)."""
    param = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    optimizer = torch.optim.LBFGS([param], **kwargs)

    def closure():
        xy = param.detach().numpy()
        param.grad = torch.from_numpy(np.asarray(surface.grad(xy), dtype=np.float64))
        return torch.tensor(float(surface.value(xy)), dtype=torch.float64)

    points, evaluations = np.empty((steps + 1, 2)), np.zeros(steps, np.int64)
    points[0] = start
    for k in range(steps):
        optimizer.step(closure)
        state = optimizer.state[param]
        with torch.no_grad():
            if nudge == "iterate":
                _nudge(param, towards)
            if nudge == "state":
                tensors = [state.get("d"), state.get("prev_flat_grad"), *state.get("old_dirs", []),
                           *state.get("old_stps", [])]
                for tensor in tensors:
                    if torch.is_tensor(tensor):
                        _nudge(tensor, towards)
        points[k + 1] = param.detach().numpy()
        evaluations[k] = state["func_evals"]
    return points, evaluations


def compare_rows(surface, trajectories: list, starts: np.ndarray, steps: int) -> dict:
    """Every row of each trajectory (the same rows, in several backends) against one torch.optim.LBFGS run per
    row: tests/torch_reference.py's rule, and the evaluation counts equal to torch's ``func_evals``. Returns the
    counts; raises on a real mismatch."""
    counts = dict.fromkeys(COUNTS, 0)
    first = trajectories[0]
    for row, start in enumerate(starts):
        counts["rows"] += 1
        diverged_at = max(int(t.diverged_at[row]) for t in trajectories)
        stops = [int(t.diverged_at[row]) - 1 for t in trajectories if t.diverged_at[row] >= 0]
        limit = min([steps, *stops])
        counts["diverged"] += diverged_at >= 0
        kwargs = row_kwargs(first.hyperparameters, row)
        run = functools.partial(torch_lbfgs, surface, steps=limit, kwargs=kwargs)
        with np.errstate(all="ignore"):
            reference, evaluations = run(start)
            assert np.isfinite(reference).all(), f"row {row}: the reference went non-finite, ours did not"
            errors = [relative_error(t.points[row, : limit + 1], reference) for t in trajectories]
            counted = [np.array_equal(t.evaluations[row, 1 : limit + 1], evaluations) for t in trajectories]
            if all(np.all(error <= TOLERANCE) for error in errors) and all(counted):
                counts["compared"] += 1
                continue
            nudged = [run(np.nextafter(start, towards))[0] for towards in (np.inf, -np.inf)]
            nudged += [run(start, nudge=kind, towards=towards)[0] for kind in ("iterate", "state")
                       for towards in (np.inf, -np.inf)]
            chaotic = any(not np.all(relative_error(path, reference) <= TOLERANCE / CHAOS_MARGIN) for path in nudged)
            early = all(np.all(error[: ALWAYS_COMPARED + 1] <= TOLERANCE) for error in errors)
            if chaotic and early:
                counts["chaotic"] += 1
                continue
            worst = int(np.argmax(np.max([error.max(axis=1) for error in errors], axis=0)))
            raise AssertionError(
                f"row {row} ({kwargs}, start {start.tolist()}) differs from torch.optim.LBFGS at step {worst}: "
                f"ours {[t.points[row, worst].tolist() for t in trajectories]} vs {reference[worst].tolist()}; "
                f"evaluations {[t.evaluations[row, 1:limit + 1].tolist() for t in trajectories]} vs "
                f"{evaluations.tolist()}"
            )
    return counts


def random_starts(surface, rng: np.random.Generator, rows: int) -> np.ndarray:
    (xmin, xmax), (ymin, ymax) = surface.bounds
    return np.stack([rng.uniform(xmin, xmax, rows), rng.uniform(ymin, ymax, rows)], axis=-1)


@functools.cache
def compared(surface_name: str, line_search_fn: str | None) -> dict:
    """One seeded batch on ``surface_name``, run in numpy (and in torch on ``TORCH_SURFACES``), against the
    reference: the counts."""
    rng = np.random.default_rng(zlib.crc32(f"lbfgs/{surface_name}/{line_search_fn}".encode()))
    surface = landscapes.get(surface_name)
    starts = random_starts(surface, rng, ROWS)
    hyper = random_hyperparameters(rng, ROWS, line_search_fn)
    backends = ("numpy", "torch") if surface_name in TORCH_SURFACES else ("numpy",)
    runs = [optimizers.run(surface, "lbfgs", start=starts, steps=STEPS, backend=backend, **hyper)
            for backend in backends]
    return compare_rows(surface, runs, starts, STEPS)


@pytest.mark.parametrize("line_search_fn", LINE_SEARCHES)
@pytest.mark.parametrize("surface_name", SURFACES)
def test_matches_torch_lbfgs(surface_name, line_search_fn):
    counts = compared(surface_name, line_search_fn)
    assert counts["chaotic"] <= counts["rows"] // 2, counts


def test_chaotic_rows_stay_a_minority():
    totals = {key: sum(compared(name, search)[key] for name in SURFACES for search in LINE_SEARCHES) for key in COUNTS}
    assert totals["chaotic"] < 0.25 * (totals["rows"] - totals["diverged"]), totals


@pytest.mark.parametrize("line_search_fn", LINE_SEARCHES)
def test_rows_are_independent_optimizers(line_search_fn):
    """A batch of different hyper-parameters equals each row run alone, bit for bit, beside a row whose closure
    values go non-finite within its steps (ρ = 10³⁰ on the Rosenbrock function: without a line search it diverges,
    with one its search falls back to t = 0, as torch's does); every row, that one included, equals torch's."""
    surface = landscapes.get("rosenbrock")
    rng = np.random.default_rng(7)
    starts = random_starts(surface, rng, 5)
    hyper = random_hyperparameters(rng, 5, line_search_fn)
    hyper["lr"][0] = 1e30
    batch = optimizers.run(surface, "lbfgs", start=starts, steps=30, **hyper)
    assert batch.diverged_reason[0] == ("non-finite" if line_search_fn is None else "")
    assert compare_rows(surface, [batch], starts, 30)["compared"] == 5
    for row in range(1, 5):
        alone = optimizers.run(surface, "lbfgs", start=starts[row], steps=30, **row_kwargs(hyper, row))
        np.testing.assert_array_equal(batch.points[row], alone.points[0])
        np.testing.assert_array_equal(batch.evaluations[row], alone.evaluations[0])


def test_defaults_are_torch_optim_lbfgs():
    parameters = inspect.signature(torch.optim.LBFGS).parameters
    defaults = optimizers.RULES["lbfgs"].defaults
    assert defaults == {name: parameters[name].default for name in defaults}
    rule = optimizers.RULES["lbfgs"]
    assert (rule.torch_name, rule.reference, rule.closure, rule.evaluations, rule.exact) == (
        "LBFGS", "torch.optim", True, 0, True)


def test_evaluations_count_every_closure_call():
    """A row already optimal (max |g| ≤ ε_g) evaluates once a step and stays; otherwise the counts are torch's
    ``func_evals`` (without a line search, the last of I iterations moves without evaluating)."""
    surface = landscapes.get("quadratic")
    trajectory = optimizers.run(surface, "lbfgs", start=[1.0, 1.0], steps=3, max_iter=4, tolerance_grad=1e300)
    assert trajectory.evaluations.tolist() == [[0, 1, 2, 3]]  # optimal at once: one evaluation a step, no move
    np.testing.assert_array_equal(trajectory.points[0], [[1.0, 1.0]] * 4)
    _, evaluations = torch_lbfgs(surface, np.array([1.0, 1.0]), 3, {"max_iter": 4})
    ours = optimizers.run(surface, "lbfgs", start=[1.0, 1.0], steps=3, max_iter=4)
    assert ours.evaluations[0, 1:].tolist() == evaluations.tolist()


@pytest.mark.parametrize(("keyword", "value"), [
    ("lr", -1.0), ("max_iter", 0), ("max_iter", 2.5), ("max_eval", 0), ("tolerance_grad", -1e-7),
    ("tolerance_change", float("nan")), ("history_size", 0), ("line_search_fn", "backtracking"),
])
def test_out_of_range_keywords_are_refused(keyword, value):
    with pytest.raises(ValueError, match=f"Invalid {keyword} value"):
        optimizers.run(landscapes.get("quadratic"), "lbfgs", steps=2, **{keyword: value})


def test_noise_and_minibatches_are_refused():
    with pytest.raises(ValueError, match="Invalid noise value.*lbfgs takes exact gradients"):
        optimizers.run(landscapes.get("quadratic"), "lbfgs", steps=2, noise=0.1)
    with pytest.raises(ValueError, match="Invalid batch_size value.*lbfgs takes exact gradients"):
        optimizers.run(landscapes.get("logistic2"), "lbfgs", steps=2, batch_size=8)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_the_compiled_two_loop_recursion_gives_the_numpy_kernels_bits(line_search_fn, monkeypatch):
    """numpy float64 rows take ``optimizers.lbfgs_loop``'s numba two-loop recursion: the same operations in the same
    order as the array kernel, so every iterate and count is the same to the bit (random rows, histories 1–100)."""
    rng = np.random.default_rng(5)
    surface = landscapes.get("rosenbrock")
    kwargs = dict(start=rng.uniform(-2, 2, (24, 2)), steps=40, lr=np.geomspace(1e-4, 2, 24),
                  history_size=rng.integers(1, 101, 24).astype(float), line_search_fn=line_search_fn)
    compiled = optimizers.run(surface, "lbfgs", **kwargs)
    monkeypatch.setattr(lbfgs, "COMPILED", False)
    plain = optimizers.run(surface, "lbfgs", **kwargs)
    np.testing.assert_array_equal(compiled.points, plain.points)
    np.testing.assert_array_equal(compiled.evaluations, plain.evaluations)
