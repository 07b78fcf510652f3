"""Every registered surface: gradients, declared minima, shapes, dtypes, backends and the registry.

Each check is parametrized over ``landscapes.names()`` (formula properties over the formula surfaces), so a
surface registered later is covered without touching this file (BoTorch's shared test-function mixin, in
pytest form).
"""

from __future__ import annotations

import itertools
import math
import zlib
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import landscapes

NAMES = landscapes.names()


@cache
def surface(name: str) -> Any:
    """The surface with its default parameters (built once per test session)."""
    return landscapes.get(name)


# Formula properties (parameter corners, random numeric parameters, numba) hold for the formula surfaces; the
# protocol checks (shapes, dtypes, backends, gradients) run on every surface, the network's included.
FORMULAS = [name for name in NAMES if isinstance(surface(name), landscapes.FormulaLandscape)]
PARAMETERIZED = [name for name in FORMULAS if landscapes.parameters(name)]


def rng_for(name: str, salt: str = "") -> np.random.Generator:
    """A generator seeded by the surface name, so each surface sees its own fixed points."""
    return np.random.default_rng(zlib.crc32(f"{name}/{salt}".encode()))


def random_points(s: Any, rng: np.random.Generator, inside: int = 100, outside: int = 100) -> np.ndarray:
    """Points uniform in the bounds, then uniform in the bounds widened by half their size on each side."""
    (x0, x1), (y0, y1) = s.bounds
    low, high = np.array([x0, y0]), np.array([x1, y1])
    wide = 0.5 * (high - low)
    return np.concatenate([rng.uniform(low, high, (inside, 2)), rng.uniform(low - wide, high + wide, (outside, 2))])


def inside(point: Any, bounds: Any) -> bool:
    (x0, x1), (y0, y1) = bounds
    return x0 <= point[0] <= x1 and y0 <= point[1] <= y1


def parameter_settings(name: str) -> list[dict[str, float]]:
    """The defaults and every corner of the declared parameter ranges."""
    params = landscapes.parameters(name)
    corners = [
        dict(zip([p.name for p in params], values, strict=True))
        for values in itertools.product(*[(p.low, p.high) for p in params])
    ]
    return [{}, *corners] if params else [{}]


SETTINGS = [(name, kwargs) for name in FORMULAS for kwargs in parameter_settings(name)]
SETTING_IDS = [f"{name}-{'-'.join(f'{k}={v:g}' for k, v in kw.items()) or 'defaults'}" for name, kw in SETTINGS]


def autograd(s: Any, points: np.ndarray) -> np.ndarray:
    """∇f by torch autograd through ``s.value`` in float64."""
    xy = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(s.value(xy).sum(), xy)
    return grad.numpy()


def assert_grad_close(actual: np.ndarray, expected: np.ndarray, points: np.ndarray, rtol: float = 1e-9) -> None:
    """|actual − expected| ≤ rtol · max(1, ‖expected‖) per point and coordinate."""
    assert actual.shape == expected.shape
    error = np.abs(actual - expected) / np.maximum(1.0, np.linalg.norm(expected, axis=-1, keepdims=True))
    worst = np.unravel_index(np.argmax(error), error.shape)[0]
    assert error.max() <= rtol, (
        f"at {points[worst]}: grad {actual[worst]} vs autograd {expected[worst]} (error {error.max():.2e})"
    )


def check_declared_minima(s: Any) -> None:
    """f(x*) = f*, ∇f(x*) ≈ 0, minima and start inside the bounds, a nonzero gradient at the start."""
    for minimum in s.minima:
        assert inside(minimum, s.bounds), (minimum, s.bounds)
        assert s.minimum_value is not None
        assert float(s.value(np.array(minimum))) == pytest.approx(s.minimum_value, rel=0, abs=1e-10)
        assert np.linalg.norm(s.grad(np.array(minimum))) <= 1e-6
    start = np.array(s.default_start, dtype=np.float64)
    assert inside(start, s.bounds), (s.default_start, s.bounds)
    assert np.isfinite(s.value(start))
    gradient = s.grad(start)
    assert np.all(np.isfinite(gradient))
    assert np.linalg.norm(gradient) > 1e-8


# --- gradients --------------------------------------------------------------------------


def test_registry_is_populated():
    assert len(NAMES) >= 12
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_grad_matches_autograd(name):
    s = surface(name)
    points = random_points(s, rng_for(name, "autograd"))
    assert_grad_close(s.grad(points), autograd(s, points), points)


@pytest.mark.parametrize(("name", "kwargs"), SETTINGS, ids=SETTING_IDS)
def test_grad_matches_autograd_at_parameter_corners(name, kwargs):
    s = landscapes.get(name, **kwargs)
    points = random_points(s, rng_for(name, "corners"), inside=30, outside=30)
    assert_grad_close(s.grad(points), autograd(s, points), points)


# --- declared minima, bounds and start --------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), SETTINGS, ids=SETTING_IDS)
def test_declared_minima_hold(name, kwargs):
    s = landscapes.get(name, **kwargs)
    (x0, x1), (y0, y1) = s.bounds
    assert x0 < x1 and y0 < y1
    if s.minima:
        assert s.minimum_value is not None
    check_declared_minima(s)


@pytest.mark.parametrize(("name", "kwargs"), SETTINGS, ids=SETTING_IDS)
def test_minimum_value_is_below_a_grid_over_the_bounds(name, kwargs):
    check_minimum_below_grid(landscapes.get(name, **kwargs))


def check_minimum_below_grid(s: Any, size: int = 400) -> None:
    """The declared f* is at most the smallest value on a size × size grid over the bounds."""
    if not s.minima:
        return
    (x0, x1), (y0, y1) = s.bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, size), np.linspace(y0, y1, size))
    values = s.value(np.stack([gx, gy], axis=-1))
    assert values.shape == (size, size)
    assert s.minimum_value <= values.min() + 1e-9, (s.minimum_value, values.min())


def draw_parameters(data: st.DataObject, name: str) -> dict[str, float]:
    """Random valid parameters (log-uniform where the parameter says so)."""
    kwargs = {}
    for p in landscapes.parameters(name):
        if p.log and p.low > 0:
            exponent = data.draw(st.floats(math.log10(p.low), math.log10(p.high)), label=p.name)
            kwargs[p.name] = min(max(10.0**exponent, p.low), p.high)
        else:
            kwargs[p.name] = data.draw(st.floats(p.low, p.high), label=p.name)
    return kwargs


@pytest.mark.parametrize("name", PARAMETERIZED)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_declared_minima_hold_for_random_parameters(name, data):
    s = landscapes.get(name, **draw_parameters(data, name))
    check_declared_minima(s)
    check_minimum_below_grid(s, size=200)


# --- shapes, inputs and backends --------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4)], ids=str)
def test_shapes(name, shape):
    s = surface(name)
    rng = rng_for(name, "shapes")
    points = random_points(s, rng, inside=int(np.prod(shape, dtype=int)), outside=0).reshape(*shape, 2)
    value = s.value(points)
    grad = s.grad(points)
    assert np.shape(value) == shape
    assert np.shape(grad) == (*shape, 2)
    flat_value, flat_grad = s.value(points.reshape(-1, 2)), s.grad(points.reshape(-1, 2))
    np.testing.assert_allclose(np.reshape(value, -1), flat_value, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(np.reshape(grad, (-1, 2)), flat_grad, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_lists_and_integer_arrays(name):
    s = surface(name)
    (x0, x1), (y0, y1) = s.bounds
    integer_points = np.array(
        [[math.ceil(x0), math.ceil(y0)], [0, 0], [math.floor(x1), math.floor(y1)]], dtype=np.int64
    )
    expected_value = s.value(integer_points.astype(np.float64))
    expected_grad = s.grad(integer_points.astype(np.float64))
    for points in (integer_points, integer_points.tolist(), integer_points.astype(np.int32)):
        value, grad = s.value(points), s.grad(points)
        assert value.dtype == np.float64 and grad.dtype == np.float64
        np.testing.assert_array_equal(value, expected_value)
        np.testing.assert_array_equal(grad, expected_grad)
    assert np.shape(s.value([0.5, -0.25])) == ()
    assert np.shape(s.grad([0.5, -0.25])) == (2,)
    assert float(s.value([0.5, -0.25])) == float(s.value(np.array([0.5, -0.25])))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "bad", [np.zeros(3), np.zeros((4, 3)), np.zeros((2, 1)), np.zeros(()), torch.zeros(4, 3)], ids=repr
)
def test_wrong_last_axis_is_a_value_error(name, bad):
    s = surface(name)
    for method in (s.value, s.grad, s.value_and_grad):
        with pytest.raises(ValueError, match=r"Invalid xy shape: .*last axis must have length 2"):
            method(bad)


@pytest.mark.parametrize("name", NAMES)
def test_value_and_grad_equals_value_and_grad(name):
    s = surface(name)
    points = random_points(s, rng_for(name, "vg"), inside=20, outside=20).reshape(4, 10, 2)
    value, grad = s.value_and_grad(points)
    np.testing.assert_array_equal(value, s.value(points))
    np.testing.assert_array_equal(grad, s.grad(points))
    tvalue, tgrad = s.value_and_grad(torch.from_numpy(points))
    assert torch.equal(tvalue, s.value(torch.from_numpy(points)))
    assert torch.equal(tgrad, s.grad(torch.from_numpy(points)))


@pytest.mark.parametrize("name", NAMES)
def test_float32_numpy_stays_float32(name):
    s = surface(name)
    points = random_points(s, rng_for(name, "f32"), inside=50, outside=0).astype(np.float32)
    value, grad = s.value(points), s.grad(points)
    assert value.dtype == np.float32
    assert grad.dtype == np.float32
    reference_value = s.value(points.astype(np.float64))
    reference_grad = s.grad(points.astype(np.float64))
    np.testing.assert_allclose(value, reference_value, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(reference_value).max()))
    np.testing.assert_allclose(grad, reference_grad, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(reference_grad).max()))


TORCH_TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_torch_in_torch_out(name, dtype):
    s = surface(name)
    points = random_points(s, rng_for(name, "torch"), inside=50, outside=0).reshape(5, 10, 2)
    xy = torch.tensor(points, dtype=dtype)
    value, grad = s.value(xy), s.grad(xy)
    assert isinstance(value, torch.Tensor) and isinstance(grad, torch.Tensor)
    assert value.dtype == dtype and grad.dtype == dtype
    assert value.shape == (5, 10) and grad.shape == (5, 10, 2)
    assert value.device == xy.device and grad.device == xy.device
    # numpy on the same (rounded) inputs, in float64
    reference_value = s.value(xy.double().numpy())
    reference_grad = s.grad(xy.double().numpy())
    tol = TORCH_TOLERANCE[dtype]
    for got, want in ((value, reference_value), (grad, reference_grad)):
        np.testing.assert_allclose(got.double().numpy(), want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max())))


@pytest.mark.parametrize("name", NAMES)
def test_torch_integer_input_becomes_float64(name):
    s = surface(name)
    xy = torch.tensor([[0, 0], [1, -1]])
    assert s.value(xy).dtype == torch.float64
    assert s.grad(xy).dtype == torch.float64
    np.testing.assert_array_equal(s.value(xy).numpy(), s.value(xy.numpy()))


# --- the quadratic's spectrum -----------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    log_condition=st.floats(0.0, 4.0),
    angle=st.floats(-180.0, 180.0),
    point=st.tuples(st.floats(-2.0, 2.0), st.floats(-2.0, 2.0)),
)
def test_quadratic_hessian_has_eigenvalues_one_and_condition(log_condition, angle, point):
    condition = min(10.0**log_condition, 1e4)
    s = landscapes.get("quadratic", condition=condition, angle=angle)
    hessian = torch.autograd.functional.hessian(s.value, torch.tensor(point, dtype=torch.float64))
    low, high = np.linalg.eigvalsh(hessian.numpy())
    assert low == pytest.approx(1.0, rel=1e-9)
    assert high == pytest.approx(condition, rel=1e-9)
    assert high / low == pytest.approx(condition, rel=1e-9)


# --- the registry -----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_name_builds_with_no_arguments(name):
    s = landscapes.get(name)
    for attribute in ("value", "grad", "bounds", "minima", "minimum_value", "default_start"):
        assert hasattr(s, attribute)
    assert isinstance(s.minima, tuple)
    assert s.minimum_value is None or isinstance(s.minimum_value, float)


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"Unknown surface 'no_such_surface'") as info:
        landscapes.get("no_such_surface")
    for name in NAMES:
        assert name in str(info.value)


class ErrorSurfaceInput(NamedTuple):
    """A bad call to ``landscapes.get`` and the error it must raise (torch's ErrorOptimizerInput)."""

    name: Any
    kwargs: dict
    error_regex: str
    error_type: type = ValueError


ERROR_INPUTS = [
    ErrorSurfaceInput("nope", {}, r"Unknown surface 'nope' \(valid: quadratic, rosenbrock, "),
    ErrorSurfaceInput(None, {}, r"Unknown surface None \(valid: quadratic, "),
    ErrorSurfaceInput(["quadratic"], {}, r"Unknown surface \['quadratic'\] \(valid: quadratic, "),
    ErrorSurfaceInput(
        "quadratic",
        {"condtion": 3.0},
        r"Surface 'quadratic' takes no parameter 'condtion' \(valid: condition, angle\)",
    ),
    ErrorSurfaceInput("booth", {"a": 1.0}, r"Surface 'booth' takes no parameter 'a' \(valid: none\)"),
    ErrorSurfaceInput("quadratic", {"condition": 0.5}, r"Invalid condition value: 0\.5 \(must be in \[1, 10000\]\)"),
    ErrorSurfaceInput(
        "quadratic", {"condition": 1e5}, r"Invalid condition value: 100000\.0 \(must be in \[1, 10000\]\)"
    ),
    ErrorSurfaceInput("quadratic", {"condition": float("inf")}, r"Invalid condition value: inf \(must be in"),
    ErrorSurfaceInput(
        "quadratic",
        {"condition": "abc"},
        r"Invalid condition value: 'abc' \(must be a number in \[1, 10000\]\)",
    ),
    ErrorSurfaceInput("quadratic", {"condition": None}, r"Invalid condition value: None \(must be a number in"),
    ErrorSurfaceInput("quadratic", {"angle": 181.0}, r"Invalid angle value: 181\.0 \(must be in \[-180, 180\]\)"),
    ErrorSurfaceInput("rosenbrock", {"b": -1}, r"Invalid b value: -1 \(must be in \[1, 1000\]\)"),
    ErrorSurfaceInput("rosenbrock", {"a": float("nan")}, r"Invalid a value: nan \(must be in \[0\.5, 1\.5\]\)"),
    ErrorSurfaceInput("rastrigin", {"A": -1.0}, r"Invalid A value: -1\.0 \(must be in \[0, 20\]\)"),
    ErrorSurfaceInput("plateau", {"width": 0.0}, r"Invalid width value: 0\.0 \(must be in \[0\.25, 0\.7\]\)"),
    ErrorSurfaceInput("cliff", {"height": 0.5}, r"Invalid height value: 0\.5 \(must be in \[1, 10\]\)"),
    ErrorSurfaceInput("cliff", {"steepness": 1e3}, r"Invalid steepness value: 1000\.0 \(must be in \[5, 100\]\)"),
]


@pytest.mark.parametrize("case", ERROR_INPUTS, ids=lambda case: f"{case.name}-{case.kwargs}")
def test_bad_input_is_a_value_error(case):
    with pytest.raises(case.error_type, match=case.error_regex):
        landscapes.get(case.name, **case.kwargs)


def test_parameters_have_valid_defaults():
    for name in NAMES:
        for p in landscapes.parameters(name):
            assert p.validate(p.default) == p.default, (name, p)
            assert p.validate(p.format(p.default)) == p.default, (name, p)  # the text form reads back
            if isinstance(p, landscapes.Param):
                assert p.low <= p.default <= p.high, (name, p)
                assert not p.log or p.low > 0, (name, p)


# --- numba ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FORMULAS)
def test_numba_formula_matches_numpy(name):
    s = surface(name)
    p = np.array(s.p, dtype=np.float64)
    compiled = s.numba_formula
    numpy_formula = landscapes.base.bind_namespace(s.formula, np)
    for x, y in random_points(s, rng_for(name, "numba"), inside=3, outside=2):
        got = compiled(float(x), float(y), p)
        want = numpy_formula(float(x), float(y), s.p)
        np.testing.assert_allclose(
            np.array(got, dtype=np.float64), np.array(want, dtype=np.float64), rtol=1e-13, atol=1e-13
        )
