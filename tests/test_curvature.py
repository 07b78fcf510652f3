"""Hessians, eigen-directions and condition numbers against closed forms and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import landscapes
from landscapes import registry
from landscapes.curvature import _central_differences, curvature, hessian
from landscapes.expression import ExpressionLandscape

ANALYTIC = [name for name in landscapes.names() if registry.entry(name).factory.__module__ == "landscapes.analytic"]


@settings(max_examples=25, deadline=None)
@given(condition=st.floats(1, 1e4), angle=st.floats(-180, 180), x=st.floats(-2, 2), y=st.floats(-2, 2))
def test_quadratic_hessian_has_eigenvalues_one_and_kappa_along_the_rotated_axes(condition, angle, x, y):
    found = curvature(landscapes.get("quadratic", condition=condition, angle=angle), (x, y))
    np.testing.assert_allclose(found.eigenvalues, sorted([1.0, condition]), rtol=1e-10)
    assert found.condition == pytest.approx(condition, rel=1e-10)
    phi = np.radians(angle)
    flat = np.array([np.cos(phi), np.sin(phi)])  # the eigen-axis of eigenvalue 1 (u = cos φ x + sin φ y)
    if condition > 1 + 1e-6:
        assert abs(found.eigenvectors[:, 0] @ flat) == pytest.approx(1.0, abs=1e-6)


def test_rosenbrock_hessian_at_the_minimum():
    np.testing.assert_allclose(hessian(landscapes.get("rosenbrock"), (1.0, 1.0)), [[802, -400], [-400, 200]])


def test_saddle_and_kinds():
    assert curvature(landscapes.get("saddle"), (0.0, 0.0)).kind.startswith("saddle")
    assert curvature(landscapes.get("quadratic"), (0.3, 0.1)).kind.startswith("minimum")
    assert curvature(ExpressionLandscape("-(x**2 + y**2)"), (0.1, 0.2)).kind.startswith("maximum")
    assert curvature(ExpressionLandscape("x**2"), (0.1, 0.2)).kind == "flat direction"


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(ANALYTIC), fx=st.floats(0.05, 0.95), fy=st.floats(0.05, 0.95))
def test_autograd_hessian_equals_central_differences_of_the_gradient(name, fx, fy):
    surface = landscapes.get(name)
    (xmin, xmax), (ymin, ymax) = surface.bounds
    point = np.array([xmin + fx * (xmax - xmin), ymin + fy * (ymax - ymin)])
    exact = hessian(surface, point)
    approximate = _central_differences(surface, point)
    scale = max(1.0, np.abs(exact).max())
    np.testing.assert_allclose(exact, 0.5 * (approximate + approximate.T), atol=1e-4 * scale)
    np.testing.assert_array_equal(exact, exact.T)


def test_a_surface_without_autograd_uses_differences():
    class NumpyOnly:
        def grad(self, xy):
            xy = np.asarray(xy, dtype=float)
            return np.stack([6 * xy[..., 0] + xy[..., 1], xy[..., 0] + 4 * xy[..., 1]], axis=-1)

    np.testing.assert_allclose(hessian(NumpyOnly(), (0.2, -0.3)), [[6, 1], [1, 4]], rtol=1e-7)


def test_non_finite_hessian_is_a_value_error():
    with pytest.raises(ValueError, match="Invalid point value"):
        curvature(ExpressionLandscape("sqrt(x**2 + 1) * log(y + 3)"), (0.0, -3.0))
