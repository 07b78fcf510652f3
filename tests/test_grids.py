"""The select-sliders' log-spaced option grids (``losslab.app.grids``), on random ranges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from losslab.grids import COARSE, FINE, LR_BOUNDS, LR_GRID, log_grid, sci


def on_grid(value: float, mantissas: tuple[float, ...]) -> bool:
    exponent = math.floor(math.log10(value) + 1e-12)
    return any(math.isclose(value, float(f"{m * 10.0**k:.6g}")) for m in mantissas for k in (exponent - 1, exponent))


@pytest.mark.parametrize("mantissas", [FINE, COARSE])
@pytest.mark.parametrize("seed", range(20))
def test_log_grid_holds_every_mantissa_of_every_decade_and_the_ends(mantissas, seed):
    rng = np.random.default_rng(seed)
    low, high = sorted(10.0 ** rng.uniform(-12, 3, size=2))
    inside, outside = low * (high / low) ** rng.uniform(0, 1), high * rng.uniform(1.5, 10)
    grid = log_grid(low, high, mantissas, (inside, outside, None))
    assert grid == sorted(set(grid)) and grid[0] == low and grid[-1] == high
    assert inside in grid and outside not in grid
    assert all(on_grid(v, mantissas) for v in grid if v not in (low, high, inside))
    every = {float(f"{m * 10.0**k:.6g}") for m in mantissas for k in range(-14, 5)}  # brute force
    assert set(grid) == {v for v in every if low <= v <= high} | {low, high, inside}
    for exponent in range(math.ceil(math.log10(low)), math.floor(math.log10(high))):  # whole decades inside
        for m in mantissas:
            assert float(f"{m * 10.0**exponent:.6g}") in grid


def test_explore_learning_rates_are_the_fine_grid_over_its_bounds():
    assert LR_GRID[0] == LR_BOUNDS[0] and LR_GRID[-1] == LR_BOUNDS[1]
    assert {0.01, 0.015, 0.02, 0.03, 0.05, 0.07, 0.1} <= set(LR_GRID)
    assert len(LR_GRID) == 6 * 6 + 1  # six decades from 1e-5, then 10


def test_sci_labels_read_back_exactly_and_stay_short():
    rng = np.random.default_rng(0)
    values = [*LR_GRID, *(10.0 ** rng.uniform(-300, 300, size=200)), *rng.standard_normal(200), 0.0]
    for value in values:
        assert float(sci(value)) == value
    assert sci(0.035) == "3.5e-02" and sci(0.03) == "3e-02" and sci(10.0) == "1e+01"
