"""Log-spaced option grids for the pages' select-sliders (a learning rate spans decades, so its options are
m·10ᵏ for a few mantissas m per decade) and how their values are labelled."""

from __future__ import annotations

import math
from collections.abc import Iterable

from optimizers import catalogue

FINE = (1, 1.5, 2, 3, 5, 7)  # Explore: ρ and log-scaled surface parameters, one step at a time
COARSE = (1, 2, 5)  # Sweeps: the ends of a swept range
LR_BOUNDS = catalogue.spec("lr").ui  # Explore's ρ slider, the maps' ρ axis (optimizers.catalogue)
EPS_BOUNDS = catalogue.spec("eps").ui  # Explore's ε options


def log_grid(low: float, high: float, mantissas: Iterable[float], extra: Iterable[float | None] = ()) -> list[float]:
    """m·10ᵏ (6 significant digits) for each mantissa m and decade k within [low, high], both ends, and the
    ``extra`` values that lie within it (kept exact), sorted."""
    mantissas = tuple(mantissas)
    grid = {float(low), float(high)}
    for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        grid.update(v for m in mantissas if low <= (v := float(f"{m * 10.0**exponent:.6g}")) <= high)
    grid.update(float(v) for v in extra if v is not None and low <= float(v) <= high)
    return sorted(grid)


def sci(value: float) -> str:
    """Shortest scientific form that reads back as ``value`` (3e-02, 3.5e-02); injective on floats."""
    value = float(value)
    if value == 0:
        return "0"
    for digits in range(0, 17):
        text = f"{value:.{digits}e}"
        if float(text) == value:
            return text
    return repr(value)


LR_GRID = tuple(log_grid(*LR_BOUNDS, FINE))  # Explore's ρ options
EPS_GRID = tuple(log_grid(*EPS_BOUNDS, (1,)))  # Explore's ε options: one per decade
LOG_GRIDS = {"lr": LR_GRID, "eps": EPS_GRID}  # the options of each log-scaled hyper-parameter's slider
