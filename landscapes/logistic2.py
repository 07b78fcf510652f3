"""The exact two-parameter network: logistic regression p(x) = σ(w·x + b) on 1-D two-class data.

A network with one sigmoid neuron has exactly two trainable parameters θ = (w, b), so the (w, b) plane is its
whole parameter space: the contour is the real landscape, not a slice of it. The loss is the mean binary
cross-entropy plus an L2 term,

    L(w, b) = (1/N) Σᵢ [log(1 + e^{zᵢ}) − yᵢ zᵢ] + (λ/2)(w² + b²),   zᵢ = w·xᵢ + b,
    ∇L = (1/N) Σᵢ (σ(zᵢ) − yᵢ)·(xᵢ, 1) + λ·(w, b),

convex, and strictly so for λ > 0 (which keeps the minimizer finite when the classes are separable). The data:
N points, half of class 1 drawn from N(+s/2, 1) and half of class 0 from N(−s/2, 1), s the separation, by seed.
The minimizer θ* is found by Newton's method with backtracking, θ ← θ − t·H⁻¹∇L, with
H = (1/N) Σᵢ σ(zᵢ)(1 − σ(zᵢ))·(xᵢ, 1)(xᵢ, 1)ᵀ + λI.

Values and gradients are vectorized over points (..., 2) in numpy or torch (any dtype/device; numpy points are
computed with torch, imported on first use, so both agree bit for bit), in chunks of points so that a 400 × 400
grid stays within memory; ``minibatch_grad`` gives real minibatches (Algorithm 8.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .base import Evaluated, Param, as_points, is_torch
from .registry import register

POINTS = 200
CHUNK = 2048  # plane points per vectorized block: CHUNK × POINTS values at a time
NEWTON_STEPS = 100
NEWTON_TOL = 1e-13  # ‖∇L‖ at which Newton stops
VIEW_HALF_WIDTH = 4.0  # the window: θ* ± this in w and in b
START_OFFSET = (-3.0, 3.0)  # the default start, relative to θ*


def data(seed: int, separation: float) -> tuple[np.ndarray, np.ndarray]:
    """(x (N,), y (N,)): N/2 points of class 1 from N(+s/2, 1), N/2 of class 0 from N(−s/2, 1)."""
    rng = np.random.default_rng([seed, 7])
    y = (np.arange(POINTS) % 2).astype(np.float64)
    x = rng.standard_normal(POINTS) + np.where(y == 1, 0.5, -0.5) * separation
    return x, y


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # σ(z) without overflow


def _objective(x: np.ndarray, y: np.ndarray, l2: float, theta: np.ndarray) -> float:
    z = theta[0] * x + theta[1]
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * theta @ theta)


def _newton(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """θ* = argmin L by damped Newton from (0, 0) (L is strictly convex for λ > 0)."""
    features = np.stack([x, np.ones_like(x)], axis=1)
    theta = np.zeros(2)
    for _ in range(NEWTON_STEPS):
        p = _sigmoid(features @ theta)
        gradient = features.T @ (p - y) / len(x) + l2 * theta
        if np.linalg.norm(gradient) <= NEWTON_TOL:
            break
        hessian = (features * (p * (1 - p))[:, None]).T @ features / len(x) + l2 * np.eye(2)
        step, t, current = np.linalg.solve(hessian, gradient), 1.0, _objective(x, y, l2, theta)
        while _objective(x, y, l2, theta - t * step) > current - 0.25 * t * gradient @ step and t > 1e-12:
            t *= 0.5
        theta = theta - t * step
    return theta


@dataclass(frozen=True, eq=False)
class LogisticTwo(Evaluated):
    """L(w, b) of logistic regression on ``x``, ``y`` with L2 weight ``l2``; points are θ = (w, b); ∇L from the closed
    form (σ(z) − y)·(x, 1) + λθ."""

    name: str
    x: np.ndarray
    y: np.ndarray
    l2: float
    params: dict[str, Any]
    bounds: tuple[tuple[float, float], tuple[float, float]]
    minima: tuple[tuple[float, float], ...]
    minimum_value: float
    default_start: tuple[float, float]
    description: str = ""

    def _data(self, like: Any, rows: Any = None) -> tuple[Any, Any]:
        """x, y as tensors of ``like``'s dtype and device (``rows``: per-point example indices (B, n))."""
        import torch

        x, y = (self.x, self.y) if rows is None else (self.x[rows], self.y[rows])
        return (torch.tensor(x, dtype=like.dtype, device=like.device),
                torch.tensor(y, dtype=like.dtype, device=like.device))

    def _block(self, theta: Any, x: Any, y: Any, gradient: bool) -> tuple[Any, Any]:
        """L and ∇L for points ``theta`` (P, 2) on examples x, y ((N,) shared or (P, n) per point)."""
        import torch

        z = theta[:, :1] * x + theta[:, 1:]  # (P, N)
        value = (torch.logaddexp(torch.zeros_like(z), z) - y * z).mean(-1) + 0.5 * self.l2 * (theta * theta).sum(-1)
        if not gradient:
            return value, None
        residual = torch.sigmoid(z) - y
        return value, torch.stack([(residual * x).mean(-1), residual.mean(-1)], -1) + self.l2 * theta

    def _evaluate(self, xy: Any, gradient: bool) -> tuple[Any, Any]:
        """One code path for both libraries: numpy points are computed as tensors (so the two agree bit for
        bit) and returned as numpy arrays."""
        import torch

        xy = as_points(xy)
        numpy_input = not is_torch(xy)
        flat = (torch.from_numpy(np.ascontiguousarray(xy)) if numpy_input else xy).reshape(-1, 2)
        x, y = self._data(flat)
        blocks = [self._block(flat[i:i + CHUNK], x, y, gradient) for i in range(0, max(flat.shape[0], 1), CHUNK)]
        value = torch.cat([v for v, _ in blocks]).reshape(xy.shape[:-1])
        grad = torch.cat([g for _, g in blocks]).reshape(xy.shape) if gradient else None
        if numpy_input:
            return value.numpy(), (grad.numpy() if gradient else None)
        return value, grad

    def minibatch_grad(self, xy: Any, batch_size: int, generator: Any) -> Any:
        """∇L on a random minibatch of ``batch_size`` examples per row of xy (B, 2), drawn without replacement from
        ``generator.random((rows, examples))`` on consecutive chunks of rows (a numpy ``Generator`` or the engine's
        ``optimizers.noise.MinibatchDraw``; the L2 term is not sampled)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
                not 1 <= batch_size <= POINTS:
            raise ValueError(f"Invalid batch_size value: {batch_size!r} (must be an integer in [1, {POINTS}], "
                             f"the number of training examples)")
        xy = as_points(xy)
        if xy.ndim != 2:
            raise ValueError(f"Invalid xy shape: {tuple(xy.shape)} (minibatch gradients take rows of shape (B, 2))")
        import torch

        theta = torch.from_numpy(np.ascontiguousarray(xy)) if not is_torch(xy) else xy
        grads = []
        for start in range(0, max(theta.shape[0], 1), CHUNK):  # keys for CHUNK rows at a time: O(rows) memory,
            part = theta[start:start + CHUNK]  # the same stream as one (B, POINTS) draw
            rows = np.argsort(generator.random((part.shape[0], POINTS)), axis=1)[:, :batch_size]
            grads.append(self._block(part, *self._data(part, rows), gradient=True)[1])
        grad = torch.cat(grads)
        return grad if is_torch(xy) else grad.numpy()

    def __repr__(self) -> str:
        return f"LogisticTwo({self.params})"


@register(
    "logistic2",
    (
        Param("seed", 0, 0, 9999, "draw of the 1-D data", integer=True),
        Param("separation", 2.0, 0.0, 6.0, "distance s between the two classes' means (unit variance)"),
        Param("l2", 0.01, 0.001, 1.0, "L2 penalty λ: the loss is L(w, b) + λ/2 (w² + b²)", log=True),
    ),
    "Logistic regression σ(w·x + b): a network with exactly two parameters, so the plane is its whole space.",
)
@lru_cache(maxsize=32)
def logistic2(seed: int, separation: float, l2: float) -> LogisticTwo:
    """The two-parameter network's loss on its (w, b) plane, with θ* by Newton's method."""
    x, y = data(seed, separation)
    for array in (x, y):
        array.flags.writeable = False
    theta = _newton(x, y, l2)
    w, b = (float(v) for v in theta)
    return LogisticTwo(
        "logistic2", x, y, l2, {"seed": seed, "separation": separation, "l2": l2},
        bounds=((w - VIEW_HALF_WIDTH, w + VIEW_HALF_WIDTH), (b - VIEW_HALF_WIDTH, b + VIEW_HALF_WIDTH)),
        minima=((w, b),), minimum_value=_objective(x, y, l2, theta),
        default_start=(w + START_OFFSET[0], b + START_OFFSET[1]),
        description=(f"Logistic regression p(x) = σ(w·x + b) on {POINTS} 1-D points (class means ±{separation:g}/2, "
                     f"λ = {l2:g}): exactly two parameters, so this plane is the whole parameter space"),
    )
