"""LBFGS's two-loop recursion compiled by numba, for the numpy backend's float64 rows: the same operations as
:meth:`optimizers.lbfgs._Rows.direction` in the same order (torch's fused multiply-adds by the same error-free
transforms), so the same bits, without numpy's per-operation overhead on (B,) vectors (``tests/test_lbfgs.py``
checks the two agree). Imported on an LBFGS run's first direction, so a session without LBFGS never loads numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SPLIT = 134217729.0  # 2²⁷ + 1: Veltkamp's split of a float64 significand


@njit(error_model="numpy", inline="always")
def _fma(a: float, b: float, c: float) -> float:
    """a·b + c rounded once, as ``lbfgs._fma`` computes it (Dekker's product error, Knuth's TwoSum)."""
    product = a * b
    scaled_a = SPLIT * a
    a_high = scaled_a - (scaled_a - a)
    a_low = a - a_high
    scaled_b = SPLIT * b
    b_high = scaled_b - (scaled_b - b)
    b_low = b - b_high
    product_error = a_low * b_low - (((product - a_high * b_high) - a_low * b_high) - a_high * b_low)
    total = product + c
    virtual = total - product
    sum_error = (product - (total - virtual)) + (c - virtual)
    return total + (sum_error + product_error)


@njit(error_model="numpy", nogil=True, cache=True)
def two_loop(dirs: np.ndarray, stps: np.ndarray, ro: np.ndarray, grad: np.ndarray, h_diag: np.ndarray) -> np.ndarray:
    """d = −H g per row: ``dirs`` y (m, 2, B), ``stps`` s (m, 2, B), ``ro`` ρ (m, B), ``grad`` g (2, B), ``h_diag``
    H₀'s scale (B,); newest pair first, then oldest first."""
    used, _, rows = dirs.shape
    out = np.empty((2, rows))
    alphas = np.empty(used)
    for j in range(rows):
        q0, q1 = -grad[0, j], -grad[1, j]
        for i in range(used - 1, -1, -1):
            alpha = (stps[i, 0, j] * q0 + stps[i, 1, j] * q1) * ro[i, j]
            alphas[i] = alpha
            q0 = _fma(-alpha, dirs[i, 0, j], q0)
            q1 = _fma(-alpha, dirs[i, 1, j], q1)
        r0, r1 = q0 * h_diag[j], q1 * h_diag[j]
        for i in range(used):
            beta = (dirs[i, 0, j] * r0 + dirs[i, 1, j] * r1) * ro[i, j]
            r0 = _fma(alphas[i] - beta, stps[i, 0, j], r0)
            r1 = _fma(alphas[i] - beta, stps[i, 1, j], r1)
        out[0, j], out[1, j] = r0, r1
    return out
