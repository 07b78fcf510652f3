"""What the engine reads from a surface: f and ∇f on points (..., 2), a default start and f*.

The engine never imports ``landscapes``; any object with these members is a surface. Optional
members, looked up with ``hasattr``:

- ``value_and_grad(xy) -> (f, ∇f)``: both in one pass (else ``value`` and ``grad`` are called);
- ``minibatch_grad(xy, batch_size, generator) -> ∇f`` on a random minibatch per row (``batch_size=``
  needs it, Algorithm 8.1), drawn from ``generator.random((rows, examples))`` called on consecutive chunks of
  rows: a numpy ``Generator``, or the engine's counter-based :class:`optimizers.noise.MinibatchDraw`;
- ``numba_formula`` and ``p``: a numba-compilable formula ``(x, y, p) -> (f, ∂f/∂x, ∂f/∂y)`` and its
  parameters, which let large numpy sweeps run the fused kernel of :mod:`optimizers.fast`.
"""

from __future__ import annotations

from typing import Any, Protocol


class Surface(Protocol):
    """A loss surface f: ℝ² → ℝ as the engine uses it (``landscapes.get(...)`` returns one)."""

    def value(self, xy: Any) -> Any:
        """f(θ) for points θ = xy of shape (..., 2), numpy or torch; returns shape (...)."""

    def grad(self, xy: Any) -> Any:
        """∇f(θ) of shape (..., 2), in xy's library, device and dtype."""

    @property
    def default_start(self) -> tuple[float, float]:
        """θ₀ when ``start`` is not given."""

    @property
    def minimum_value(self) -> float | None:
        """f* where known (``steps_to_tol`` counts to f(θₖ) − f* ≤ tol), else None (to f(θₖ) ≤ tol)."""
