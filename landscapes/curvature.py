"""Curvature at a point: the Hessian H = ∇²f(θ), its eigenvalues λ₁ ≤ λ₂ and eigen-directions, and the local
condition number κ = |λ|max / |λ|min that sets how hard the ravine is for gradient descent (stable only for
ρ < 2/λ_max; progress along the flat direction ∝ ρλ_min)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class Curvature(NamedTuple):
    """The Hessian at a point and its eigen-decomposition (eigenvalues ascending, eigenvectors as columns)."""

    point: tuple[float, float]
    hessian: np.ndarray  # (2, 2), symmetric
    eigenvalues: np.ndarray  # (2,), λ₁ ≤ λ₂
    eigenvectors: np.ndarray  # (2, 2), column i belongs to eigenvalues[i]
    condition: float  # |λ|max / |λ|min (inf where an eigenvalue is 0)

    @property
    def kind(self) -> str:
        """What the point looks like to second order: a bowl, a cap, a saddle or a flat direction."""
        low, high = self.eigenvalues
        scale = max(abs(low), abs(high), 1e-300)
        if min(abs(low), abs(high)) <= 1e-9 * scale:
            return "flat direction"
        if low > 0:
            return "minimum-like (both curvatures > 0)"
        if high < 0:
            return "maximum-like (both curvatures < 0)"
        return "saddle (curvatures of both signs)"


def hessian(surface: Any, point: Any) -> np.ndarray:
    """∇²f at ``point`` (2,), float64: torch autograd through the surface's own gradient where it is
    differentiable (formula and expression surfaces), else central differences of the gradient."""
    import torch

    theta = torch.tensor(np.asarray(point, dtype=np.float64).reshape(2), requires_grad=True)
    try:
        gradient = surface.grad(theta)
    except (TypeError, RuntimeError):  # a numpy-only surface
        gradient = None
    if isinstance(gradient, torch.Tensor) and gradient.requires_grad:
        rows = [torch.autograd.grad(gradient[i], theta, retain_graph=i == 0)[0] for i in range(2)]
        matrix = torch.stack(rows).detach().numpy()
    else:
        matrix = _central_differences(surface, np.asarray(point, dtype=np.float64).reshape(2))
    return 0.5 * (matrix + matrix.T)


def _central_differences(surface: Any, point: np.ndarray) -> np.ndarray:
    step = 1e-5 * np.maximum(1.0, np.abs(point))
    offsets = np.diag(step)
    grads = np.asarray(surface.grad(np.concatenate([point + offsets, point - offsets])), dtype=np.float64)
    return ((grads[:2] - grads[2:]) / (2 * step[:, None]))


def curvature(surface: Any, point: Any) -> Curvature:
    """The Hessian at ``point`` with its eigenvalues, eigen-directions and condition number."""
    matrix = hessian(surface, point)
    if not np.isfinite(matrix).all():
        raise ValueError(f"Invalid point value: {tuple(point)} (the Hessian there is not finite)")
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    magnitudes = np.abs(eigenvalues)
    condition = float(magnitudes.max() / magnitudes.min()) if magnitudes.min() > 0 else float("inf")
    return Curvature(tuple(float(v) for v in np.asarray(point, dtype=float).reshape(2)), matrix, eigenvalues,
                     eigenvectors, condition)
