"""The surface protocol, point validation, and formula surfaces.

A surface is any object with ``value(xy)``, ``grad(xy)``, ``bounds``, ``minima``,
``minimum_value`` and ``default_start`` (the public API: docs/ARCHITECTURE.md). ``xy`` has shape
``(..., 2)`` with the coordinate last and is a numpy array or a torch tensor; results
come back in the same library, dtype and device.

Analytic surfaces are written once, as a *formula* ``formula(x, y, p) -> (f, ∂f/∂x,
∂f/∂y)`` that uses only arithmetic operators and ``xp.<function>`` for elementary
functions (``xp.sin``, ``xp.exp``, ...). :func:`bind_namespace` re-binds the global name
``xp`` of a formula to ``numpy`` or ``torch``, so the same source runs vectorized on
numpy arrays, on torch tensors (any device) and, compiled by numba, on scalars inside the
fused sweep kernel. ``p`` is the tuple of the surface's numeric parameters.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from validation import Range, check_choice, check_number

Point = tuple[float, float]
Bounds = tuple[tuple[float, float], tuple[float, float]]


class Param(NamedTuple):
    """A numeric surface parameter with its default and valid closed range (an integer one if ``integer``).

    Every parameter kind (``Param``, ``Choice``, ``Widths``) has ``name``, ``default``, ``doc`` and
    ``validate(value)``, which also takes the value's text form (a URL query string), ``format(value)``
    (the text ``validate`` reads back) and ``describe()`` (a one-line summary for the command line).
    """

    name: str
    default: float
    low: float
    high: float
    doc: str
    log: bool = False  # whether a UI should offer it on a log scale
    integer: bool = False  # a count or a seed: validated to an int

    @property
    def range(self) -> Range:
        """The values it takes, for :func:`validation.check_number`."""
        return Range(self.low, self.high, integer=self.integer)

    def validate(self, value: Any) -> float | int:
        """Return ``value`` (a number, or its text) as a float (an int if ``integer``) or raise ``ValueError``
        naming the parameter."""
        return check_number(self.name, value, self.range, text=True)

    def format(self, value: float | int) -> str:
        return str(int(value)) if self.integer else repr(float(value))

    def describe(self) -> str:
        return f"{self.name}={self.default:g} [{self.low:g}, {self.high:g}]"


class Choice(NamedTuple):
    """A categorical surface parameter: one of ``choices`` (strings)."""

    name: str
    default: str
    choices: tuple[str, ...]
    doc: str

    def validate(self, value: Any) -> str:
        return check_choice(self.name, value, self.choices)

    def format(self, value: str) -> str:
        return value

    def describe(self) -> str:
        return f"{self.name}={self.default} {{{', '.join(self.choices)}}}"


class Widths(NamedTuple):
    """A tuple of 1 … ``max_length`` integers in [low, high] (hidden-layer widths); text form "16,16".

    ``suggestions`` are the values a UI offers in a picker (any valid tuple is accepted).
    """

    name: str
    default: tuple[int, ...]
    low: int
    high: int
    max_length: int
    doc: str
    suggestions: tuple[tuple[int, ...], ...] = ()

    def validate(self, value: Any) -> tuple[int, ...]:
        rule = f"must be 1 to {self.max_length} integers in [{self.low}, {self.high}]"
        items = value.replace(" ", "").split(",") if isinstance(value, str) else value
        try:
            if isinstance(items, (str, bytes)) or not 1 <= len(items) <= self.max_length:
                raise TypeError
            numbers = [float(item) for item in items if not isinstance(item, bool)]
            if len(numbers) != len(items) or not all(n.is_integer() and self.low <= n <= self.high for n in numbers):
                raise TypeError
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float range (10**400)
            raise ValueError(f"Invalid {self.name} value: {value!r:.120} ({rule})") from None
        return tuple(int(n) for n in numbers)

    def format(self, value: tuple[int, ...]) -> str:
        return ",".join(str(int(v)) for v in value)

    def describe(self) -> str:
        return f"{self.name}={self.format(self.default)} [1-{self.max_length} widths in [{self.low}, {self.high}]]"


class Text(NamedTuple):
    """A text surface parameter (a user's formula), at most ``max_length`` characters; the surface parses it."""

    name: str
    default: str
    max_length: int
    doc: str

    def validate(self, value: Any) -> str:
        if not isinstance(value, str) or len(value) > self.max_length:
            raise ValueError(f"Invalid {self.name} value: {str(value)[:60]!r}"
                             f"{'…' if len(str(value)) > 60 else ''} (must be text of at most {self.max_length} "
                             "characters)")
        return value

    def format(self, value: str) -> str:
        return value

    def describe(self) -> str:
        return f"{self.name}={self.default!r} (text, at most {self.max_length} characters)"


class Box(NamedTuple):
    """A view window ((xmin, xmax), (ymin, ymax)) with finite bounds, min < max, |value| ≤ ``limit``;
    text form "xmin,xmax,ymin,ymax"."""

    name: str
    default: Bounds
    limit: float
    doc: str

    def validate(self, value: Any) -> Bounds:
        rule = f"must be xmin,xmax,ymin,ymax with min < max, each within ±{self.limit:g}"
        try:
            if isinstance(value, str):
                numbers = [float(v) for v in value.split(",")]
            else:
                numbers = [float(v) for pair in value for v in pair]
            if len(numbers) != 4 or any(isinstance(v, bool) for v in numbers):
                raise TypeError
        except (TypeError, ValueError):
            raise ValueError(f"Invalid {self.name} value: {str(value)[:80]!r} ({rule})") from None
        xmin, xmax, ymin, ymax = numbers
        if not (all(math.isfinite(v) and abs(v) <= self.limit for v in numbers) and xmin < xmax and ymin < ymax):
            raise ValueError(f"Invalid {self.name} value: {str(value)[:80]!r} ({rule})")
        return (xmin, xmax), (ymin, ymax)

    def format(self, value: Bounds) -> str:
        return ",".join(repr(float(v)) for pair in value for v in pair)

    def describe(self) -> str:
        return f"{self.name}={self.format(self.default)} (xmin,xmax,ymin,ymax)"


def is_torch(array: Any) -> bool:
    """True for a torch tensor (checked without importing torch)."""
    return type(array).__module__.startswith("torch")


def as_points(xy: Any) -> Any:
    """Validate a ``(..., 2)`` point array; numpy input becomes floating point, torch is kept as is."""
    if is_torch(xy):
        if xy.shape[-1:] != (2,):
            raise ValueError(f"Invalid xy shape: {tuple(xy.shape)} (the last axis must have length 2)")
        return xy if xy.is_floating_point() else xy.double()
    array = np.asarray(xy)
    if array.shape[-1:] != (2,):
        raise ValueError(f"Invalid xy shape: {array.shape} (the last axis must have length 2)")
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


class Evaluated:
    """``value``, ``grad`` and ``value_and_grad`` of a surface that computes both in one ``_evaluate(xy, gradient)
    -> (values, gradients or None)`` (the data surfaces: the logistic pair, the network planes, your module)."""

    def _evaluate(self, xy: Any, gradient: bool) -> tuple[Any, Any]:
        raise NotImplementedError

    def value(self, xy: Any) -> Any:
        """f at points xy of shape (..., 2); returns shape (...), in xy's library, dtype and device."""
        return self._evaluate(xy, gradient=False)[0]

    def grad(self, xy: Any) -> Any:
        """∇f at points xy of shape (..., 2); returns shape (..., 2)."""
        return self._evaluate(xy, gradient=True)[1]

    def value_and_grad(self, xy: Any) -> tuple[Any, Any]:
        """(f, ∇f) in one evaluation."""
        return self._evaluate(xy, gradient=True)


def bind_namespace(formula: Callable, namespace: types.ModuleType) -> Callable:
    """A copy of ``formula`` whose global ``xp`` is ``namespace`` (numpy or torch)."""
    return types.FunctionType(
        formula.__code__,
        {**formula.__globals__, "xp": namespace},
        f"{formula.__name__}_{namespace.__name__}",
        formula.__defaults__,
        formula.__closure__,
    )


@dataclass(frozen=True, eq=False)
class FormulaLandscape:
    """A surface given by an analytic formula with its gradient (see the module docstring)."""

    name: str
    formula: Callable
    p: tuple[float, ...]
    params: dict[str, float]
    bounds: Bounds
    minima: tuple[Point, ...]
    minimum_value: float | None
    default_start: Point
    description: str = ""

    @cached_property
    def _numpy_formula(self) -> Callable:
        return bind_namespace(self.formula, np)

    @cached_property
    def _torch_formula(self) -> Callable:
        import torch

        return bind_namespace(self.formula, torch)

    @cached_property
    def numba_formula(self) -> Callable:
        """The formula compiled by numba for scalars: ``(x, y, p) -> (f, fx, fy)``, ``p`` a float64 array."""
        from numba import njit

        return njit(cache=False, fastmath=False)(self._numpy_formula)

    def _evaluate(self, xy: Any) -> tuple[Any, Any, Any]:
        xy = as_points(xy)
        formula = self._torch_formula if is_torch(xy) else self._numpy_formula
        with np.errstate(all="ignore"):
            return formula(xy[..., 0], xy[..., 1], self.p)

    def value(self, xy: Any) -> Any:
        """f(θ) for points θ = xy of shape (..., 2); returns shape (...)."""
        return self._evaluate(xy)[0]

    def grad(self, xy: Any) -> Any:
        """∇f(θ) of shape (..., 2), from the analytic formula."""
        _, fx, fy = self._evaluate(xy)
        return _stack_last(fx, fy)

    def value_and_grad(self, xy: Any) -> tuple[Any, Any]:
        """(f(θ), ∇f(θ)) in one evaluation of the formula."""
        f, fx, fy = self._evaluate(xy)
        return f, _stack_last(fx, fy)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"landscapes.get({self.name!r}{', ' if args else ''}{args})"


def _stack_last(fx: Any, fy: Any) -> Any:
    if is_torch(fx):
        import torch

        return torch.stack(torch.broadcast_tensors(fx, fy), dim=-1)
    fx, fy = np.broadcast_arrays(fx, fy)
    return np.stack([fx, fy], axis=-1)


def rotation(angle_degrees: float) -> tuple[float, float]:
    """(cos φ, sin φ) of an angle given in degrees."""
    phi = math.radians(angle_degrees)
    return math.cos(phi), math.sin(phi)
