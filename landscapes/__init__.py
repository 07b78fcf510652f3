"""Loss surfaces: f and ∇f vectorized over points of shape (..., 2), numpy or torch.

>>> import landscapes
>>> s = landscapes.get("quadratic", condition=100.0, angle=30.0)
>>> s.value([[0.0, 0.0]])
array([0.])
"""

from . import analytic  # noqa: F401  (registers the analytic surfaces)
from .base import FormulaLandscape, Param
from .registry import get, names, parameters, register

__all__ = ["FormulaLandscape", "Param", "get", "names", "parameters", "register"]
