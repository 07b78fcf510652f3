"""Full-space training and its PCA plane (Li et al. 2018's trajectory plot).

From one initialization θ₀ (the network's seeded initialization), each selected optimizer trains the
network in its full parameter space with torch.optim itself (its semantics exactly), full-batch or on
minibatches, recording the iterates θ₀, θ₁, … and the train and test loss at every step. The recorded
iterates of all optimizers, stacked as rows of M, are centred on their mean θ̄ and decomposed,
M − θ̄ = U S Vᵀ: the first two right singular vectors v₁, v₂ span the plane that keeps most of the
iterates' variance, and the explained variance of direction k is s_k² / Σⱼ sⱼ². Each iterate's plane
coordinates are ((θ − θ̄)·v₁, (θ − θ̄)·v₂); the loss on the plane θ̄ + a·v₁ + b·v₂ is a
:class:`~landscapes.network.NetworkPlane`, a surface like any other (contours, races, exports).

Li et al. centre on the final iterate of one run; with several optimizers sharing one plane we centre
on the mean of all iterates, so the explained variance is PCA's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from . import datasets
from . import network as nets
from .network_config import Config, check_config

MAX_STEPS = 5_000
MAX_RECORDS = 200  # recorded iterates per optimizer (every k-th step, the last one always)
PLANE_MARGIN = 0.25  # the plane's bounds: the iterates' extent widened by this fraction on each side
TORCH_OPTIMIZERS = {  # our optimizer names -> torch.optim class and the settings the name implies
    "sgd": ("SGD", {}),
    "momentum": ("SGD", {"momentum": 0.9}),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "rmsprop": ("RMSprop", {}),
    "adam": ("Adam", {}),
    "adagrad": ("Adagrad", {}),
    "adamw": ("AdamW", {}),
}


@dataclass(frozen=True, eq=False)
class OptimizerRun:
    """One optimizer's full-space run: recorded iterates, losses per step, and its place on the PCA plane."""

    name: str
    hyperparameters: dict[str, Any]
    steps: np.ndarray  # (R,) the step of each recorded iterate
    iterates: np.ndarray  # (R, D) θ at those steps
    train_loss: np.ndarray  # (steps + 1,) the trained objective L(θₖ) + (λ/2)‖θₖ‖² on the train split
    test_loss: np.ndarray  # (steps + 1,) the data loss on the test split
    diverged_at: int  # first step with a non-finite loss or iterate (the run stops, losses repeat), -1 if none
    coordinates: np.ndarray  # (R, 2) plane coordinates of the recorded iterates
    off_plane: np.ndarray  # (R,) ‖θ − P(θ)‖, each recorded iterate's distance from the plane (projection_error)


@dataclass(frozen=True, eq=False)
class FullSpaceRun:
    """Every optimizer's run from one initialization, and the PCA plane of all their iterates."""

    network: nets.Network
    runs: dict[str, OptimizerRun]
    center: np.ndarray  # (D,) θ̄, the mean recorded iterate
    components: np.ndarray  # (2, D) v₁, v₂ (orthonormal)
    explained_variance: np.ndarray  # (2,) s_k² / Σⱼ sⱼ²
    surface: nets.NetworkPlane  # the loss on θ̄ + a·v₁ + b·v₂


def _optimizer(name: str, params: list[torch.Tensor], hyperparameters: dict[str, Any]) -> torch.optim.Optimizer:
    if name not in TORCH_OPTIMIZERS:
        raise ValueError(f"Invalid optimizer value: {name!r} (must be one of {', '.join(TORCH_OPTIMIZERS)})")
    class_name, implied = TORCH_OPTIMIZERS[name]
    kwargs = {**implied, **hyperparameters}
    for key, value in kwargs.items():
        numbers = value if isinstance(value, (tuple, list)) else (value,)
        if not all(isinstance(v, bool) or (isinstance(v, (int, float)) and math.isfinite(v)) for v in numbers):
            raise ValueError(f"Invalid {key} value: {value!r} (must be a finite number)")
    try:
        return getattr(torch.optim, class_name)(params, **kwargs)
    except TypeError as error:  # a keyword torch.optim does not take
        raise ValueError(f"Invalid hyper-parameter for {name} (torch.optim.{class_name}): {error}") from None


def _record_every(steps: int) -> int:
    return max(1, math.ceil(steps / (MAX_RECORDS - 1)))


def _train(network: nets.Network, name: str, hyperparameters: dict[str, Any], steps: int,
           batch_size: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(recorded steps, iterates, train loss, test loss, diverged_at) of one optimizer from θ₀."""
    params = [p.clone().requires_grad_(True) for layer in network.initial for p in layer]
    optimizer = _optimizer(name, params, hyperparameters)
    x, y = network.tensors("train")
    generator = np.random.default_rng([network.config.seed, 2])
    every = _record_every(steps)
    recorded, iterates = [], []
    train_loss, test_loss = np.empty(steps + 1), np.empty(steps + 1)
    diverged_at = -1
    with nets.one_thread():
        for k in range(steps + 1):
            weights = nets.unflatten_layers(params)
            with torch.no_grad():
                train_loss[k] = float(network.objective(weights))
                test_loss[k] = float(network.objective(weights, "test"))
                theta = nets.flatten(weights).numpy().copy()
            if not (math.isfinite(train_loss[k]) and math.isfinite(test_loss[k]) and np.isfinite(theta).all()):
                diverged_at = k
                train_loss[k:], test_loss[k:] = train_loss[k - 1], test_loss[k - 1]
                break
            if k % every == 0 or k == steps:
                recorded.append(k)
                iterates.append(theta)
            if k == steps:
                break
            optimizer.zero_grad()
            if batch_size is None:
                loss = network.objective(weights)
            else:  # Algorithm 8.1: a minibatch drawn without replacement; the L2 term is not sampled
                rows = torch.from_numpy(generator.permutation(len(y))[:batch_size])
                loss = nets.data_loss(nets.forward(weights, x[rows], network.config.activation), y[rows],
                                      network.data.classes)
                loss = loss + 0.5 * network.config.l2 * nets.squared_norm(weights)
            loss.backward()
            optimizer.step()
    return np.array(recorded), np.stack(iterates), train_loss, test_loss, diverged_at


def pca_plane(iterates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(θ̄, (v₁, v₂), explained variance (2,)) of the rows of ``iterates`` (R, D)."""
    center = iterates.mean(axis=0)
    _, singular, vt = np.linalg.svd(iterates - center, full_matrices=False)
    variance = singular**2
    total = variance.sum()
    components = np.zeros((2, iterates.shape[1]))
    kept = min(2, vt.shape[0])
    components[:kept] = vt[:kept]
    explained = np.zeros(2)
    if total > 0:
        explained[:kept] = variance[:kept] / total
    return center, components, explained


def projection_error(iterates: np.ndarray, center: np.ndarray, components: np.ndarray) -> np.ndarray:
    """‖θ − P(θ)‖ for each row θ of ``iterates`` (R, D): its distance from the plane θ̄ + span(v₁, v₂).

    P(θ) = θ̄ + Σₖ ((θ − θ̄)·vₖ) vₖ with orthonormal rows vₖ of ``components`` (2, D); zero for an iterate in
    the plane, positive for one off it: how much of the real trajectory the plane's picture leaves out.
    """
    offset = np.asarray(iterates, dtype=float) - center
    return np.linalg.norm(offset - (offset @ components.T) @ components, axis=-1)


def _bounds(coordinates: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    low, high = coordinates.min(axis=0), coordinates.max(axis=0)
    half = np.maximum(0.5 * (high - low) * (1 + 2 * PLANE_MARGIN), 1e-3)
    middle = 0.5 * (low + high)
    return tuple((float(m - h), float(m + h)) for m, h in zip(middle, half))


DEFAULT_CONFIG = Config()


def full_space(config: Config = DEFAULT_CONFIG, optimizers: dict[str, dict[str, Any]] | None = None,
               steps: int = 300, batch_size: int | None = None) -> FullSpaceRun:
    """Train ``config``'s network from its initialization θ₀ with each optimizer; the PCA plane of the iterates.

    ``optimizers`` maps names (sgd, momentum, nesterov, rmsprop, adam, adagrad, adamw) to torch.optim keyword
    arguments (default: Adam with torch's defaults). Cached by all arguments.
    """
    chosen = optimizers if optimizers is not None else {"adam": {}}
    if not chosen:
        raise ValueError("Invalid optimizers value: {} (select at least one optimizer)")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"Invalid steps value: {steps!r} (must be an integer in [1, {MAX_STEPS}])")
    key = tuple((name, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in hyper.items())))
                for name, hyper in chosen.items())
    return _full_space(Config(*config), key, int(steps), batch_size)


@lru_cache(maxsize=16)
def _full_space(config: Config, optimizers: tuple, steps: int, batch_size: int | None) -> FullSpaceRun:
    check_config(config)
    data = datasets.load(config.dataset)
    initial = nets.initial_weights(data, tuple(config.hidden), config.seed)
    network = nets.Network(config, data, initial, initial)
    if batch_size is not None and not (isinstance(batch_size, (int, np.integer)) and 1 <= batch_size
                                       <= len(data.y_train)):
        raise ValueError(f"Invalid batch_size value: {batch_size!r} (must be an integer in [1, "
                         f"{len(data.y_train)}], the number of training examples)")
    trained = {name: (dict(hyper), *_train(network, name, dict(hyper), steps, batch_size))
               for name, hyper in optimizers}
    center, components, explained = pca_plane(np.concatenate([t[2] for t in trained.values()]))
    runs = {name: OptimizerRun(name, hyper, recorded, iterates, train_loss, test_loss, diverged_at,
                               (iterates - center) @ components.T, projection_error(iterates, center, components))
            for name, (hyper, recorded, iterates, train_loss, test_loss, diverged_at) in trained.items()}
    like = network.initial
    as_weights = lambda vector: nets.unflatten(torch.from_numpy(vector), like)  # noqa: E731
    every = np.concatenate([run.coordinates for run in runs.values()])
    surface = nets.NetworkPlane(
        "network_pca", network, as_weights(center), (as_weights(components[0]), as_weights(components[1])),
        params={**config._asdict(), "steps": steps},
        bounds=_bounds(every), default_start=tuple(float(v) for v in every[0]),
        description=(f"PCA plane of the iterates: explained variance {100 * explained[0]:.1f}% (direction 1), "
                     f"{100 * explained[1]:.1f}% (direction 2)"),
    )
    return FullSpaceRun(network, runs, center, components, explained, surface)
