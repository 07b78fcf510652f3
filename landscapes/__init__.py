"""Loss surfaces: f and ∇f vectorized over points of shape (..., 2), numpy or torch.

>>> import landscapes
>>> s = landscapes.get("quadratic", condition=100.0, angle=30.0)
>>> s.value([[0.0, 0.0]])
array([0.])
"""

from . import analytic, logistic2, network_entry  # noqa: F401  (register the analytic, two-parameter and network surfaces)
from .base import Choice, FormulaLandscape, Param, Widths
from .registry import get, names, parameters, register

__all__ = ["Choice", "FormulaLandscape", "Param", "Widths", "get", "names", "parameters", "register"]
