"""What the Networks page computes besides the surfaces and its race: the trained model's predictions.

- ``decision_regions``: for a 2-D classification set, the softmax probabilities pₘ(x) = exp cₘ(x) / Σⱼ exp cⱼ(x)
  of the trained network on a grid over the input plane, and the predicted class argmaxₘ cₘ(x);
- ``regression_fit``: for a 1-D regression set, f(x; θ*) on a line through the inputs;
- ``digit_samples``: for the 64-pixel digits, a few test images with their scores' softmax p₁ … p_M;

and the network computations as the pages and the command line call them, each within the compute budget
(``losslab.budget``; ``budget`` seconds, None the default, ``math.inf`` none; above it a ``BudgetExceeded`` names
what to reduce, before any work): ``trained`` (θ*), ``slice_plane`` (the filter-normalized plane through θ*),
``slice_layer`` (its loss drawn on a grid) and ``full_space`` (every optimizer in the full parameter space).

Torch is imported when a function runs, so importing this module stays light.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import budget as compute_budget

MAX_REGION_RESOLUTION = 201
REGION_MARGIN = 0.5  # the input window: the data's extent widened by this much (standardized units) on each side
FIT_POINTS = 200
MAX_DIGIT_SAMPLES = 12


class Regions(NamedTuple):
    """Class probabilities over the input plane: ``probabilities[i, j]`` at (x1[j], x2[i]), shape (R, R, M)."""

    x1: np.ndarray
    x2: np.ndarray
    probabilities: np.ndarray
    points: np.ndarray  # (N, 2) training inputs
    labels: np.ndarray  # (N,) their classes

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=-1)


class Fit(NamedTuple):
    """The regression curve f(x; θ*) on ``x`` and the training data."""

    x: np.ndarray
    y: np.ndarray
    points: np.ndarray  # (N,) training inputs
    targets: np.ndarray  # (N,)


class Samples(NamedTuple):
    """Test images (S, side, side), their true classes and the network's probabilities (S, M)."""

    images: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray


def _outputs(network: Any, x: np.ndarray) -> np.ndarray:
    """The network's outputs f(x; θ*) (N, outputs) at inputs x (N, features)."""
    import torch

    from landscapes import network as nets

    with torch.no_grad():
        return nets.forward(network.weights, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)),
                            network.config.activation).numpy()


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _check_resolution(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"Invalid {name} value: {value!r} (must be an integer in [{low}, {high}])")
    return int(value)


def decision_regions(network: Any, resolution: int = 101) -> Regions:
    """The trained classifier's probabilities on a resolution × resolution grid around its 2-D training data."""
    data = network.data
    if data.is_regression or data.features != 2:
        raise ValueError(f"Invalid dataset value: {data.name!r} (decision regions need 2-D inputs and classes)")
    resolution = _check_resolution("resolution", resolution, 2, MAX_REGION_RESOLUTION)
    low, high = data.x_train.min(axis=0) - REGION_MARGIN, data.x_train.max(axis=0) + REGION_MARGIN
    x1, x2 = np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    grid = np.stack(np.meshgrid(x1, x2), axis=-1).reshape(-1, 2)
    probabilities = _softmax(_outputs(network, grid)).reshape(resolution, resolution, -1)
    return Regions(x1, x2, probabilities, np.array(data.x_train), np.array(data.y_train))


def regression_fit(network: Any, count: int = FIT_POINTS) -> Fit:
    """f(x; θ*) on ``count`` points across the 1-D training inputs (widened by REGION_MARGIN)."""
    data = network.data
    if not data.is_regression or data.features != 1:
        raise ValueError(f"Invalid dataset value: {data.name!r} (a fit curve needs 1-D regression data)")
    count = _check_resolution("count", count, 2, 10 * FIT_POINTS)
    x = np.linspace(data.x_train.min() - REGION_MARGIN, data.x_train.max() + REGION_MARGIN, count)
    return Fit(x, _outputs(network, x[:, None])[:, 0], np.array(data.x_train[:, 0]), np.array(data.y_train))


def digit_samples(network: Any, count: int = 6) -> Samples:
    """The first ``count`` test images (side × side pixels, standardized) with p₁ … p_M of the trained network."""
    data = network.data
    side = int(round(np.sqrt(data.features)))
    if data.is_regression or side * side != data.features:
        raise ValueError(f"Invalid dataset value: {data.name!r} (samples need square images with classes)")
    count = _check_resolution("count", count, 1, MAX_DIGIT_SAMPLES)
    x = np.array(data.x_test[:count])
    return Samples(x.reshape(count, side, side), np.array(data.y_test[:count]), _softmax(_outputs(network, x)))


def model_view(network: Any) -> Regions | Fit | Samples:
    """What shows the trained model best: decision regions (2-D classes), the fit (1-D regression) or samples."""
    data = network.data
    if data.is_regression:
        return regression_fit(network)
    return decision_regions(network) if data.features == 2 else digit_samples(network)


# --- the budgeted computations ------------------------------------------------------------------------------------


def trained(config: Any, budget: float | None = None) -> Any:
    """``landscapes.network.trained(config)`` (``config``: a ``Config`` or its tuple), within the budget."""
    from landscapes import network as nets

    compute_budget.check(compute_budget.network_training_cost(config), budget, "Training this network")
    return nets.trained(nets.Config(*config))


def slice_plane(config: Any, budget: float | None = None) -> Any:
    """``landscapes.network.slice_plane(config)``: θ* (trained here unless cached) and the plane through it."""
    from landscapes import network as nets

    compute_budget.check(compute_budget.slice_cost(config, 0), budget, "Training this network")
    return nets.slice_plane(nets.Config(*config))


def slice_layer(config: Any, grid: int, progress: Callable[[float], None] | None = None,
                budget: float | None = None) -> Any:
    """The loss on the network's slice drawn on a grid × grid grid (``plots.race.landscape_layer``); the training
    counts against the budget too (it is cached: the budget does not know whether it will run)."""
    import plots

    compute_budget.check(compute_budget.slice_cost(config, grid), budget, "Training this network and drawing its slice")
    return plots.race.landscape_layer(slice_plane(config, budget=math.inf), grid, progress=progress)


def full_space(config: Any, optimizers: dict[str, dict[str, Any]] | None = None, steps: int = 300,
               batch_size: int | None = None, budget: float | None = None) -> Any:
    """``landscapes.fullspace.full_space``: each optimizer trains the network in its full parameter space."""
    from landscapes import fullspace
    from landscapes import network as nets

    compute_budget.check(compute_budget.full_space_cost(config, optimizers, steps, batch_size), budget,
                         "This full-space run")
    return fullspace.full_space(nets.Config(*config), optimizers, steps, batch_size)
