"""Grid search against random search (Bergstra & Bengio, JMLR 2012) over the same budget of N runs.

Both search the box of a map (ρ on a log scale × its y quantity) on the same problem. Grid search runs the
√N × √N grid; random search draws N configurations uniformly in (log ρ, y) (log y for κ). Both orders are
random (a grid is usually run in some arbitrary order; its curve is only complete at N). All 2N
configurations run in one batched ``sweep`` call; each search's curve is its best-so-far final loss after
n = 1 … N runs, a diverged run counting as no result. Random search wins when only one of the two
quantities matters: its N runs try N distinct values of it, the grid only √N.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from . import budget as compute_budget
from .maps import AXES, MAX_WORK, MIN_CELLS, MapConfig, check_budget, evaluate


class Search(NamedTuple):
    """One search's N configurations in the order they ran, their results and the best so far."""

    lr: np.ndarray  # (N,)
    y: np.ndarray  # (N,)
    final_loss: np.ndarray  # (N,) mean over repeats
    diverged: np.ndarray  # (N,) bool
    best_so_far: np.ndarray  # (N,) lowest final loss of runs 1 … n that did not diverge; inf before the first

    @property
    def best(self) -> int:
        """The index of the best configuration (-1 when every run diverged)."""
        loss = np.where(self.diverged, np.inf, self.final_loss)
        return int(np.argmin(loss)) if np.isfinite(loss).any() else -1


def _unit_to_axis(config: MapConfig, key: str, unit: np.ndarray) -> np.ndarray:
    """Points u ∈ [0, 1] mapped into the axis span (geometrically on a log axis)."""
    low, high = config.lr_span() if key == "lr" else config.y_span()
    if AXES[key].log:
        return low * (high / low) ** unit
    return low + (high - low) * unit


def search_points(config: MapConfig, budget: int, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The (ρ, y) configurations of each search, in the order they run: "grid" and "random", N each."""
    budget = check_budget(budget)
    side = math.isqrt(budget)
    rng = np.random.default_rng(seed)
    grid_lr, grid_y = np.meshgrid(config.lrs(side), AXES[config.y].values(config.y_span(), side))
    order = rng.permutation(budget)
    unit = rng.random((budget, 2))
    return {
        "grid": (grid_lr.ravel()[order], grid_y.ravel()[order]),
        "random": (_unit_to_axis(config, "lr", unit[:, 0]), _unit_to_axis(config, config.y, unit[:, 1])),
    }


def tune(config: MapConfig, budget: int, seed: int = 0, time_budget: float | None = None) -> dict[str, Search]:
    """Grid and random search with the same budget N on ``config``'s problem, both in one ``sweep`` call. Above the
    compute budget (``losslab.budget``: ``time_budget`` seconds, None the default, ``math.inf`` none) a
    ``BudgetExceeded`` names what to reduce, before any work."""
    runs = check_budget(budget)
    compute_budget.check(compute_budget.build_cost(config.surface, config.surface_params), time_budget,
                         "Building this surface")
    dataclasses.replace(config, cells=MIN_CELLS).validate()  # the problem and box (the map's cells do not matter)
    work = 2 * runs * config.seeds * max(config.steps, 1)
    if work > MAX_WORK:
        raise ValueError(f"Invalid search size: 2 × budget × seeds × steps = {work} (must be <= {MAX_WORK})")
    compute_budget.check(compute_budget.tune_cost(config, runs), time_budget, "This search")
    points = search_points(config, budget, seed)
    lr = np.concatenate([lr for lr, _ in points.values()])
    y = np.concatenate([y for _, y in points.values()])
    cells = evaluate(config, lr, y)
    searches, offset = {}, 0
    for name, (search_lr, search_y) in points.items():
        part = slice(offset, offset + len(search_lr))
        offset += len(search_lr)
        loss = np.where(cells.diverged[part], np.inf, cells.final_loss[part])
        searches[name] = Search(search_lr, search_y, cells.final_loss[part], cells.diverged[part],
                                np.minimum.accumulate(loss))
    return searches
