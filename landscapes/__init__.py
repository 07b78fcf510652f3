"""Loss surfaces: f and ∇f vectorized over points of shape (..., 2), numpy or torch.

>>> import landscapes
>>> s = landscapes.get("quadratic", condition=100.0, angle=30.0)
>>> s.value([[0.0, 0.0]])
array([0.])
"""

# register the surfaces: analytic formulas, your own expression, the two-parameter and the MLP networks
from . import analytic, expression, logistic2, network_entry  # noqa: F401
from .base import Box, Choice, FormulaLandscape, Param, Text, Widths
from .registry import get, names, parameters, register

__all__ = ["Box", "Choice", "FormulaLandscape", "Param", "Text", "Widths", "from_module", "get", "names", "parameters",
           "register"]


def __getattr__(name: str) -> object:
    """``landscapes.from_module`` (your own nn.Module as a surface, :mod:`landscapes.module_plane`), imported on
    first use: ``import landscapes`` stays without torch."""
    if name == "from_module":
        from .module_plane import from_module

        return from_module
    raise AttributeError(f"module 'landscapes' has no attribute {name!r}")
