"""Stability and optimal step sizes on the quadratic f(θ) = ½ θᵀHθ, for drawing over hyper-parameter maps.

On a quadratic, gradient descent θ ← θ − ρHθ contracts along an eigenvector of eigenvalue λ by
|1 − ρλ|, so it is stable exactly for 0 < ρ < 2/λ_max. Heavy-ball momentum (v ← αv − ρg, θ ← θ + v;
torch's SGD(momentum=α) gives the same iterates at a constant ρ) is stable exactly for 0 ≤ α < 1 and
0 < ρ < 2(1 + α)/λ_max. Its fastest rate is reached at ρ* = (2/(√λ_max + √λ_min))² and
α* = ((√κ − 1)/(√κ + 1))², κ = λ_max/λ_min (Polyak 1964; Goh, "Why Momentum Really Works", 2017).

``landscapes.get("quadratic", condition=κ, angle=φ)`` has H = R(φ) diag(1, κ) R(φ)ᵀ: λ_min = 1, λ_max = κ.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

HEAVY_BALL = ("sgd", "momentum")  # torch.optim.SGD with or without momentum: heavy ball with α (0 for GD)


class Eigenvalues(NamedTuple):
    """The extreme eigenvalues of the quadratic's Hessian H."""

    low: float
    high: float

    @property
    def condition(self) -> float:
        return self.high / self.low


def quadratic_eigenvalues(condition: float) -> Eigenvalues:
    """λ_min = 1 and λ_max = κ of the registered quadratic (see the module docstring)."""
    if not (math.isfinite(condition) and condition >= 1.0):
        raise ValueError(f"Invalid condition value: {condition!r} (must be a finite number >= 1)")
    return Eigenvalues(1.0, float(condition))


def max_stable_lr(momentum: Any, high: Any) -> Any:
    """The largest stable ρ of heavy ball: 2(1 + α)/λ_max (α = 0: gradient descent's 2/λ_max)."""
    return 2.0 * (1.0 + np.asarray(momentum, dtype=float)) / np.asarray(high, dtype=float)


def optimal_heavy_ball(eigenvalues: Eigenvalues) -> tuple[float, float]:
    """(ρ*, α*) = ((2/(√λ_max + √λ_min))², ((√κ − 1)/(√κ + 1))²): heavy ball's fastest contraction."""
    low, high = math.sqrt(eigenvalues.low), math.sqrt(eigenvalues.high)
    return (2.0 / (high + low)) ** 2, ((high - low) / (high + low)) ** 2


def applies(surface: str, optimizer: str, hyper: dict[str, Any]) -> bool:
    """Whether the heavy-ball theory describes this run: the quadratic, SGD with or without (plain, undamped,
    non-Nesterov) momentum, no weight decay."""
    return (surface == "quadratic" and optimizer in HEAVY_BALL and not hyper.get("nesterov", False)
            and float(hyper.get("dampening", 0.0)) == 0.0 and float(hyper.get("weight_decay", 0.0)) == 0.0)


class Overlay(NamedTuple):
    """A theory line (or point) in a map's data units: ρ values, y values, a legend name, a style index."""

    name: str
    lr: np.ndarray
    y: np.ndarray
    point: bool
    style: int


def map_overlays(config: Any, y_values: np.ndarray) -> list[Overlay]:
    """The theory to draw over a map of ``config`` (a ``losslab.maps.MapConfig``) whose y axis spans
    ``y_values``: GD's ρ = 2/λ_max, heavy ball's ρ = 2(1 + α)/λ_max, and on a ρ × α map the optimum (ρ*, α*).
    Empty where the theory does not describe the run."""
    hyper = config.hyperparameters()
    if not applies(config.surface, config.optimizer, hyper):
        return []
    ys = np.asarray(y_values, dtype=float)
    ends = ys[[0, -1]]
    momentum = float(hyper.get("momentum", 0.0))
    gd_name = "theory: GD stable for ρ < 2/λ_max"
    ball_name = f"theory: heavy ball (α = {momentum:g}) stable for ρ < 2(1 + α)/λ_max"
    if config.y == "condition":
        overlays = [Overlay(gd_name, max_stable_lr(0.0, ys), ys, False, 0)]
        if momentum > 0:
            overlays.append(Overlay(ball_name, max_stable_lr(momentum, ys), ys, False, 1))
        return overlays
    eigen = quadratic_eigenvalues(float(config.surface_params.get("condition", 10.0)))
    overlays = [Overlay(gd_name, np.full(2, max_stable_lr(0.0, eigen.high)), ends, False, 0)]
    if config.y == "momentum":
        overlays.append(Overlay("theory: heavy ball stable for ρ < 2(1 + α)/λ_max", max_stable_lr(ys, eigen.high), ys,
                                False, 1))
        rho, alpha = optimal_heavy_ball(eigen)
        overlays.append(Overlay(f"optimum ρ* = {rho:.3g}, α* = {alpha:.3g}", np.array([rho]), np.array([alpha]),
                                True, 1))
    elif momentum > 0:
        overlays.append(Overlay(ball_name, np.full(2, max_stable_lr(momentum, eigen.high)), ends, False, 1))
    return overlays


def contraction_rates(lr: float, momentum: float, eigenvalues: Any) -> np.ndarray:
    """Heavy ball's per-step contraction factor along each eigen-direction of H (α = 0: gradient descent's
    |1 − ρλ|). Along eigenvalue λ the error follows eₖ₊₁ = (1 + α − ρλ)eₖ − α eₖ₋₁, whose rate is the larger
    root modulus of z² − (1 + α − ρλ)z + α = 0."""
    lams = np.atleast_1d(np.asarray(eigenvalues, dtype=float))
    trace = 1.0 + momentum - lr * lams
    discriminant = (trace * trace - 4.0 * momentum).astype(complex)
    roots = np.stack([(trace + np.sqrt(discriminant)) / 2.0, (trace - np.sqrt(discriminant)) / 2.0])
    return np.abs(roots).max(axis=0)


def measured_rate(distances: Any, floor: float = 1e-12) -> float | None:
    """The observed per-step contraction of ‖θₖ − θ*‖: the geometric mean of ‖θₖ₊₁ − θ*‖/‖θₖ − θ*‖ over the
    second half of the steps taken before the distance reaches ``floor`` (rounding noise), or None if too
    few steps remain. Heavy ball's distance oscillates step to step; over many steps its mean rate is the
    spectral one."""
    d = np.asarray(distances, dtype=float)
    usable = np.flatnonzero((d <= floor) | ~np.isfinite(d))
    d = d[: usable[0]] if usable.size else d
    if d.size < 20:
        return None
    tail = d[d.size // 2:]
    return float(np.exp(np.log(tail[-1] / tail[0]) / (tail.size - 1)))
