"""The fast path of ``sweep(backend="numpy")``: a fused, numba-compiled kernel per surface and family.

The plain numpy kernels (:mod:`optimizers.rules` stepped by ``engine.Stepper``) stay the readable
reference; this module computes the same numbers faster and is tested equal to them
(``tests/test_fast.py``). ``engine.sweep`` calls :func:`sweep` for numpy sweeps without
minibatches of at least ``engine.FAST_PATH_MIN_ROWS`` rows, or of any size once this module is
imported where the kernel needs no compiling (:func:`ready`); it returns None (the reference
runs) where it does not apply: no ``numba_formula``/``p`` on the surface, an optimizer without a
family (:data:`FAMILIES`: every rule of rules.py that takes one gradient a step; :data:`PER_BATCH`:
schedule-free SGD and AdamW, and Lookahead over a base whose coordinate family leaves room for
its κ, φ and slow weights, with pullback_momentum 'none' or 'reset', or 'pullback' over a base
without a momentum buffer; not SAM, LBFGS), a formula numba cannot compile, or inside
:func:`disabled`.

What makes it fast (W = 4 optimizers × 4096 rows × 1000 steps: ~0.08 s against ~2 s for the
reference kernel, one thread; 0.01-0.05 s per optimizer):

- **Fused.** A row's whole step (noise, update rule, the surface's formula, the divergence rule,
  best loss and steps to tolerance) is computed in registers; numpy makes ~40 passes over (B, 2)
  temporaries per step. A rule is a function of one coordinate, or of a row's two coordinates
  where it couples them (Adafactor's RMS, LAMB's trust ratio, Prodigy's d, Adan's clipping),
  inlined into the driver.
- **What depends on the step alone is computed once per step, in Python.** Bias corrections,
  rectifiers, NAdam's μ product, ASGD's η, schedule-free's ρ_max^p (:class:`Factors`), with the
  reference's own expressions and types, once per distinct combination of the hyper-parameters
  they read.
- **Wrappers compose.** Lookahead's rule is its base's rule followed by the sync, an njit closure
  built once per base family (:func:`_lookahead_rule`) and inlined into that family's driver.
- **Steps outer, rows inner, in chunks.** Each chunk of :data:`CHUNK` rows is copied into a
  (fields × CHUNK) block that stays in cache for all the steps; the loops over its rows have no
  data-dependent branches, so LLVM vectorizes them (4 float64 rows per AVX2 instruction). The
  details that this takes are commented at :func:`_driver`.
- **Compiled per surface formula, cached on disk.** numba cannot cache a function that takes a
  compiled function as an argument (the argument's type holds a per-process object: every new
  process misses the cache and appends another entry). :func:`_kernel` instead compiles a copy of
  :func:`_driver` whose *globals* are the formula and the family's rule, and whose
  ``__qualname__`` names them with a hash of the formula's code; numba keys its cache files by
  qualname (and this file's timestamp), so each (formula, family, dtype) compiles once per
  machine (~2 s) and later processes load it (~0.02 s).

Results: the order of operations is that of :mod:`optimizers.rules` (itself torch.optim's and
pytorch_optimizer's), so float64 results equal the reference bit for bit, except where an
elementary function (``cos``, ``exp``, MADGRAD's ∛S) differs by an ulp between numpy and libm
and a chaotic row amplifies it. float32 rows
are computed in float64 and rounded to float32 where the reference stores an array (iterate,
loss, states), so they agree to float32 precision rather than bit for bit. Flags (``nesterov``,
``amsgrad``, ...) are runtime arguments that pick operands, so fewer variants compile.

Schedules, gradient noise and per-row factors make per-step, per-row inputs: they are computed
in Python with the reference's own expressions, :data:`BLOCK` steps at a time, so memory stays
O(B). Rows are split over threads (numba's count, ``numba.set_num_threads``) by a Python thread
pool handing out chunks of rows: the kernel releases the GIL and a busy core simply takes fewer
chunks. No numba threading layer (``prange``) is used: an OpenMP team slows down many-fold when
another process holds a core, and the workqueue layer (numba's fallback without OpenMP or TBB)
must not be entered from two threads at once, as Streamlit's script threads would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import math
import threading
import types
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba import njit
from numba import types as nb
from numba.core.errors import NumbaError
from numba.extending import intrinsic

from . import noise, rules
from .batch import BLOW_UP_FACTOR, REASONS, Batch, Summary

CHUNK = 512  # rows per block: their state stays in cache across the steps
PAD = 8  # block row stride CHUNK + PAD: a multiple of 4 KiB makes loads wait on stores to other
# fields at the same page offset ("4K aliasing", measured twice slower)
BLOCK = 64  # steps per kernel call when schedules, noise or per-row betas need per-step inputs, or
BLOCK_BYTES = 32 * 2**20  # fewer for very large batches: at most this many bytes of those inputs at a time
ASGD_STEPS = 8  # steps of ASGD's η computed at once: their rows stay in cache
_JIT = {"error_model": "numpy", "nogil": True}  # numpy float semantics: 1/0 is inf, never an exception
_RULE_JIT = {"error_model": "numpy", "inline": "always"}  # inlined into the driver's loop, so it vectorizes


# --- one optimizer step ------------------------------------------------------------------
# A coordinate rule maps (θ, g, k, ρ, per-step factors, state, hyper-parameters, flags) of one
# coordinate of one row to (θ', state'); a row rule, for the rules that couple a row's two
# coordinates (norms, dot products, a per-row distance estimate), maps (θx, θy, gx, gy, k, ρ,
# factors, state_x, state_y, row state, hyper-parameters, flags) to (θx', θy', state_x', state_y',
# row state'). Both follow the order of operations of rules.py. States are 4-tuples per coordinate
# and a 2-tuple per row, hyper-parameters a 6-tuple, factors a 5-tuple (unused slots hold 0),
# flags a tuple of bools. A runtime flag makes LLVM compute both sides, so flags select operands
# and the expensive operations (sqrt, division) appear once.

SQRT2 = 2**0.5  # the reference's 2**0.5 (RMS over a row's two coordinates)


@njit(**_RULE_JIT)
def _lerp(start, end, weight):
    """torch.lerp (rules._lerp): start + w·(end − start) for |w| < ½, else end − (end − start)·(1 − w)."""
    diff = end - start
    return start + weight * diff if abs(weight) < 0.5 else end - diff * (1.0 - weight)


@njit(**_RULE_JIT)
def _maximum(a, b):
    """np.maximum on scalars (np.clip(a, b, None)): a NaN wins."""
    return a if (a >= b) | (a != a) else b


@njit(**_RULE_JIT)
def _minimum(a, b):
    """np.minimum on scalars (np.clip(a, None, b)): a NaN wins."""
    return a if (a <= b) | (a != a) else b


@njit(**_RULE_JIT)
def _clip(x, low, high):
    """np.clip(x, low, high) on scalars: min(max(x, low), high), NaN propagating (numpy's _NPY_CLIP)."""
    x = x if (x != x) | (x > low) else low
    return x if (x != x) | (x < high) else high


@njit(**_RULE_JIT)
def _sign(x):
    """np.sign on a scalar: ±1, 0 for ±0, NaN for NaN."""
    sign = 1.0 if x > 0.0 else 0.0
    sign = -1.0 if x < 0.0 else sign
    return x if x != x else sign


@njit(**_RULE_JIT)
def _f32(x):
    """x rounded to float32 and back (rules._float32: the reference keeps some scalars in float32)."""
    return np.float64(np.float32(x))


@njit(**_RULE_JIT)
def _moments(exp_avg, exp_avg_sq, g, beta1, beta2):
    """rules._moments: Adam's s ← lerp(s, g, 1 − β₁), r ← β₂r + ((1 − β₂)g)g."""
    return _lerp(exp_avg, g, 1.0 - beta1), exp_avg_sq * beta2 + ((1.0 - beta2) * g) * g


@njit(**_RULE_JIT)
def _weight_decay(p, g, lr, weight_decay, decoupled, fixed):
    """rules._weight_decay: θ ← θ(1 − ρλ) (fixed: θ(1 − λ)) where decoupled, else g ← g + λθ."""
    if decoupled:
        return p * (1.0 - (1.0 if fixed else lr) * weight_decay), g
    return p, g + weight_decay * p


@njit(**_RULE_JIT)
def _decayed_moments(p, g, lr, state, hp, decoupled):
    """NAdam's and RAdam's first lines (hp: β₁, β₂, ε, λ): rules._weight_decay, then rules._moments."""
    p, g = _weight_decay(p, g, lr, hp[3], decoupled, False)
    exp_avg, exp_avg_sq = _moments(state[0], state[1], g, hp[0], hp[1])
    return p, g, exp_avg, exp_avg_sq


@njit(**_RULE_JIT)
def _clip_factor(g_x, g_y, max_grad_norm, eps):
    """rules._clip_factor: min(1, G/(‖g‖ + ε)) in float32 as the reference computes it, 1 where G = 0."""
    norm = _f32(math.sqrt(g_x * g_x + g_y * g_y))
    norm = _f32(math.sqrt(_f32(norm * norm)))
    norm = _f32(norm + _f32(eps))
    factor = _f32(_f32(1.0 / norm) * _f32(max_grad_norm))
    return 1.0 if max_grad_norm == 0.0 else _minimum(factor, 1.0)


@njit(**_RULE_JIT)
def _trust_ratio(weight_norm, update_norm, eps):
    """rules._trust_ratio: ‖θ‖/(‖u‖ + ε), 1 where either norm is 0."""
    return weight_norm / (update_norm + eps) if (weight_norm != 0.0) & (update_norm != 0.0) else 1.0


# torch.optim's


@njit(**_RULE_JIT)
def sgd_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.sgd_step: b ← αb + (1 − τ)g (b₀ = g), g ← g + αb (Nesterov) or b, θ ← θ − ρg."""
    buf = state[0]
    momentum, dampening, weight_decay = hp[0], hp[1], hp[2]
    use_buffer, nesterov = flags  # use_buffer: momentum is not the scalar 0
    g = g + weight_decay * p
    if use_buffer:
        buf = g if k == 0 else buf * momentum + (1.0 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p + (-lr) * g, (buf, 0.0, 0.0, 0.0)


@njit(**_RULE_JIT)
def rmsprop_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.rmsprop_step: r ← αr + (1 − α)g², centered ḡ ← lerp(ḡ, g, 1 − α), θ ← θ − ρg/(√r̃ + ε)."""
    square_avg, grad_avg, buf = state[0], state[1], state[2]
    alpha, eps, weight_decay, momentum = hp[0], hp[1], hp[2], hp[3]
    centered, use_buffer = flags  # use_buffer: momentum is not the scalar 0
    g = g + weight_decay * p
    square_avg = square_avg * alpha + ((1.0 - alpha) * g) * g
    grad_avg = _lerp(grad_avg, g, 1.0 - alpha) if centered else grad_avg
    avg = math.sqrt(square_avg + (-grad_avg) * grad_avg if centered else square_avg) + eps
    quotient = (g if use_buffer else (-lr) * g) / avg
    if use_buffer:
        buf = buf * momentum + quotient
        p = p + (-lr) * buf
    else:
        p = p + quotient
    return p, (square_avg, grad_avg, buf, 0.0)


@njit(**_RULE_JIT)
def adam_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.adam_step; factors: 1 − β₁ᵗ, √(1 − β₂ᵗ) as the reference computes them (_adam_factors)."""
    exp_avg, exp_avg_sq, max_exp_avg_sq = state[0], state[1], state[2]
    beta1, beta2, eps, weight_decay = hp[0], hp[1], hp[2], hp[3]
    amsgrad, decoupled = flags
    bias_correction1, bias_correction2_sqrt = factors[0], factors[1]
    if decoupled:
        p = p * (1.0 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    exp_avg, exp_avg_sq = _moments(exp_avg, exp_avg_sq, g, beta1, beta2)
    step_size = lr / bias_correction1
    max_exp_avg_sq = _maximum(max_exp_avg_sq, exp_avg_sq) if amsgrad else max_exp_avg_sq
    denom = math.sqrt(max_exp_avg_sq if amsgrad else exp_avg_sq) / bias_correction2_sqrt + eps
    return p + ((-step_size) * exp_avg) / denom, (exp_avg, exp_avg_sq, max_exp_avg_sq, 0.0)


@njit(**_RULE_JIT)
def adagrad_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.adagrad_step: r ← r + g², θ ← θ − ρₖ g/(√r + ε) with ρₖ = ρ/(1 + k·lr_decay)."""
    total = state[0]
    lr_decay, eps, weight_decay = hp[0], hp[1], hp[2]
    g = g + weight_decay * p
    clr = lr / (1.0 + k * lr_decay)
    total = total + g * g
    std = math.sqrt(total) + eps
    return p + ((-clr) * g) / std, (total, 0.0, 0.0, 0.0)


@njit(**_RULE_JIT)
def adamax_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.adamax_step: s ← lerp(s, g, 1 − β₁), u ← max(β₂u, |g| + ε), θ ← θ − ρ/(1 − β₁ᵗ) · s/u."""
    exp_avg, exp_inf = state[0], state[1]
    beta1, beta2, eps, weight_decay = hp[0], hp[1], hp[2], hp[3]
    g = g + weight_decay * p
    exp_avg = _lerp(exp_avg, g, 1.0 - beta1)
    exp_inf = _maximum(exp_inf * beta2, abs(g) + eps)
    clr = lr / factors[0]
    return p + ((-clr) * exp_avg) / exp_inf, (exp_avg, exp_inf, 0.0, 0.0)


@njit(**_RULE_JIT)
def nadam_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.nadam_step; factors: 1 − μₜ, 1 − Πₜ, μₜ₊₁, 1 − Πₜμₜ₊₁, 1 − β₂ᵗ (_nadam_factors: Π in float32)."""
    p, g, exp_avg, exp_avg_sq = _decayed_moments(p, g, lr, state, hp, flags[0])
    denom = math.sqrt(exp_avg_sq / factors[4]) + hp[2]  # ε
    p = p + ((((-lr) * factors[0]) / factors[1]) * g) / denom
    p = p + ((((-lr) * factors[2]) / factors[3]) * exp_avg) / denom
    return p, (exp_avg, exp_avg_sq, 0.0, 0.0)


@njit(**_RULE_JIT)
def radam_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.radam_step; factors: 1 − β₁ᵗ, √(1 − β₂ᵗ), the rectifier γₜ, and whether ℓₜ > 5 (_radam_factors)."""
    p, g, exp_avg, exp_avg_sq = _decayed_moments(p, g, lr, state, hp, flags[0])
    plain = (exp_avg / factors[0]) * lr
    adaptive_lr = factors[1] / (math.sqrt(exp_avg_sq) + hp[2])  # ε
    update = (plain * adaptive_lr) * factors[2]
    return p + (-1.0) * (update if factors[3] != 0.0 else plain), (exp_avg, exp_avg_sq, 0.0, 0.0)


@njit(**_RULE_JIT)
def adadelta_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.adadelta_step: r ← ρ_d r + (1 − ρ_d)g², Δ = √(u + ε)/√(r + ε)·g, u ← ρ_d u + (1 − ρ_d)Δ², θ ← θ − ρΔ."""
    square_avg, acc_delta = state[0], state[1]
    rho, eps, weight_decay = hp[0], hp[1], hp[2]
    g = g + weight_decay * p
    square_avg = square_avg * rho + ((1.0 - rho) * g) * g
    std = math.sqrt(square_avg + eps)
    delta = (math.sqrt(acc_delta + eps) / std) * g
    acc_delta = acc_delta * rho + ((1.0 - rho) * delta) * delta
    return p + (-lr) * delta, (square_avg, acc_delta, 0.0, 0.0)


@njit(**_RULE_JIT)
def rprop_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.rprop_step: Δ ← clip(η±Δ by the sign of g·g_prev, Δ_min, Δ_max) (Δ₀ = ρ), θ ← θ − sign(g)Δ."""
    prev, step_size = state[0], state[1]
    etaminus, etaplus, step_size_min, step_size_max = hp[0], hp[1], hp[2], hp[3]
    step_size = lr if k == 0 else step_size
    sign = _sign(g * prev)
    factor = etaplus if sign > 0.0 else (etaminus if sign < 0.0 else 1.0)
    step_size = _clip(step_size * factor, step_size_min, step_size_max)
    g = 0.0 if sign < 0.0 else g
    return p + (-_sign(g)) * step_size, (g, step_size, 0.0, 0.0)


@njit(**_RULE_JIT)
def asgd_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.asgd_step's θ ← θ(1 − λ_a ηₜ) − ηₜ(g + λθ); factors: ηₜ (_asgd_factors). Its average θ̄ is not computed:
    nothing a sweep returns depends on it."""
    lambd, weight_decay = hp[0], hp[1]
    eta = factors[0]
    g = g + weight_decay * p
    return p * (1.0 - eta * lambd) + (-eta) * g, (0.0, 0.0, 0.0, 0.0)


@njit(**_RULE_JIT)
def adafactor_rule(p_x, p_y, g_x, g_y, k, lr, factors, state_x, state_y, state_row, hp, flags):
    """rules.adafactor_step (a row rule: RMS(θ) and RMS(u) over the row); factors: t^c, 1/√t (_adafactor_factors)."""
    eps2, d, weight_decay, floor = hp[0], hp[1], hp[2], hp[3]
    weight, inverse_sqrt_t = factors[0], factors[1]
    rms = math.sqrt(p_x * p_x + p_y * p_y) / SQRT2
    alpha = _maximum(rms, eps2) * _minimum(lr, inverse_sqrt_t)
    decay = 1.0 - lr * weight_decay
    p_x, p_y = p_x * decay, p_y * decay
    variance_x = _lerp(state_x[0], g_x * g_x, weight)
    variance_y = _lerp(state_y[0], g_y * g_y, weight)
    update_x = (1.0 / math.sqrt(_maximum(variance_x, floor))) * g_x
    update_y = (1.0 / math.sqrt(_maximum(variance_y, floor))) * g_y
    denom = _maximum(math.sqrt(update_x * update_x + update_y * update_y) / (SQRT2 * d), 1.0)
    step = -alpha / denom
    return (p_x + step * update_x, p_y + step * update_y, (variance_x, 0.0, 0.0, 0.0), (variance_y, 0.0, 0.0, 0.0),
            state_row)


# pytorch_optimizer's


@njit(**_RULE_JIT)
def lion_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.lion_step: u = sign(lerp(m, g, 1 − β₁)), m ← lerp(m, g, 1 − β₂), θ ← θ − ρu."""
    exp_avg = state[0]
    beta1, beta2, weight_decay = hp[0], hp[1], hp[2]
    p, g = _weight_decay(p, g, lr, weight_decay, flags[0], flags[1])
    update = _sign(_lerp(exp_avg, g, 1.0 - beta1))
    exp_avg = _lerp(exp_avg, g, 1.0 - beta2)
    return p + (-lr) * update, (exp_avg, 0.0, 0.0, 0.0)


@njit(**_RULE_JIT)
def adabelief_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.adabelief_step; factors: 1 − β₁ᵗ, √(1 − β₂ᵗ), the rectifier rₜ and whether ℓₜ ≥ 5 (_adabelief_factors)."""
    exp_avg, exp_avg_var, max_exp_avg_var = state[0], state[1], state[2]
    beta1, beta2, eps, weight_decay = hp[0], hp[1], hp[2], hp[3]
    decoupled, fixed, ams_bound, rectify, degenerated_to_sgd = flags
    bias_correction1, bias_correction2_sqrt, rect, adaptive = factors[0], factors[1], factors[2], factors[3] != 0.0
    p, g = _weight_decay(p, g, lr, weight_decay, decoupled, fixed)
    exp_avg = _lerp(exp_avg, g, 1.0 - beta1)
    residual = g - exp_avg
    exp_avg_var = exp_avg_var * beta2 + ((1.0 - beta2) * residual) * residual + eps
    max_exp_avg_var = _maximum(max_exp_avg_var, exp_avg_var) if ams_bound else max_exp_avg_var
    denom = math.sqrt(max_exp_avg_var if ams_bound else exp_avg_var)
    state = (exp_avg, exp_avg_var, max_exp_avg_var, 0.0)
    if not rectify:
        return p + (((-lr) / bias_correction1) * exp_avg) / (denom / bias_correction2_sqrt + eps), state
    step_size = (lr * rect) / bias_correction1
    adaptive_step = p + ((-step_size) * exp_avg) / (denom + eps)
    sgd_step = p + exp_avg * (-step_size) if degenerated_to_sgd else p
    return adaptive_step if adaptive else sgd_step, state


@njit(**_RULE_JIT)
def yogi_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.yogi_step: r ← r − (1 − β₂)·sign(r − g²)·g²; factors: 1 − β₁ᵗ, √(1 − β₂ᵗ) (_debias_factors)."""
    exp_avg, exp_avg_sq = state[0], state[1]
    beta1, beta2, eps, weight_decay = hp[0], hp[1], hp[2], hp[3]
    p, g = _weight_decay(p, g, lr, weight_decay, flags[0], flags[1])
    exp_avg = _lerp(exp_avg, g, 1.0 - beta1)
    grad_p2 = g * g
    exp_avg_sq = exp_avg_sq + ((-(1.0 - beta2)) * _sign(exp_avg_sq - grad_p2)) * grad_p2
    denom = math.sqrt(exp_avg_sq) / factors[1] + eps
    return p + (((-lr) / factors[0]) * exp_avg) / denom, (exp_avg, exp_avg_sq, 0.0, 0.0)


@njit(**_RULE_JIT)
def adan_rule(p_x, p_y, g_x, g_y, k, lr, factors, state_x, state_y, state_row, hp, flags):
    """rules.adan_step (a row rule: its gradient-norm clipping); factors: 1 − β₁ᵗ, 1 − β₂ᵗ, √(1 − β₃ᵗ). Flags:
    decoupled, clipped (G is not the scalar 0), shrunk (coupled and λ not the scalar 0: θ ← θ/(1 + ρλ))."""
    decoupled, clipped, shrunk = flags
    clip = _clip_factor(g_x, g_y, hp[5], hp[3]) if clipped else 1.0  # G, ε
    p_x, state_x = _adan_coordinate(p_x, g_x * clip, k, lr, factors, state_x, hp, decoupled, shrunk)
    p_y, state_y = _adan_coordinate(p_y, g_y * clip, k, lr, factors, state_y, hp, decoupled, shrunk)
    return p_x, p_y, state_x, state_y, state_row


@njit(**_RULE_JIT)
def _adan_coordinate(p, g, k, lr, factors, state, hp, decoupled, shrunk):
    exp_avg, exp_avg_sq, exp_avg_diff, previous_grad = state
    beta1, beta2, beta3, eps, weight_decay = hp[0], hp[1], hp[2], hp[3], hp[4]
    bias_correction1, bias_correction2, bias_correction3_sqrt = factors[0], factors[1], factors[2]
    grad_diff = 0.0 if k == 0 else previous_grad + g
    exp_avg = _lerp(exp_avg, g, 1.0 - beta1)
    exp_avg_diff = _lerp(exp_avg_diff, grad_diff, 1.0 - beta2)
    grad_diff = grad_diff * beta2 + g
    exp_avg_sq = exp_avg_sq * beta3 + ((1.0 - beta3) * grad_diff) * grad_diff
    denom = math.sqrt(exp_avg_sq) / bias_correction3_sqrt + eps
    if decoupled:
        p = p * (1.0 - lr * weight_decay)
    p = p + (((-lr) / bias_correction1) * exp_avg) / denom
    p = p + ((((-lr) * beta2) / bias_correction2) * exp_avg_diff) / denom
    if shrunk:
        p = p / (1.0 + lr * weight_decay)
    return p, (exp_avg, exp_avg_sq, exp_avg_diff, -g)


@intrinsic
def _bits(typingctx, x):
    """A float64's bits as an int64 (a bitcast: no instruction)."""
    return nb.int64(nb.float64), lambda context, builder, signature, args: builder.bitcast(args[0], ir.IntType(64))


@intrinsic
def _from_bits(typingctx, bits):
    """The float64 of these int64 bits."""
    return nb.float64(nb.int64), lambda context, builder, signature, args: builder.bitcast(args[0], ir.DoubleType())


@intrinsic
def _fma(typingctx, a, b, c):
    """a·b + c rounded once (llvm.fma: one instruction where the CPU has FMA)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        double = ir.DoubleType()
        fma = builder.module.declare_intrinsic("llvm.fma", [double], ir.FunctionType(double, [double] * 3))
        return builder.call(fma, args)

    return nb.float64(nb.float64, nb.float64, nb.float64), codegen


INVERSE_CUBE_ROOT_MAGIC = 0x553EF0FF289DD794  # bits(x^(-1/3)) ≈ this − bits(x)/3, within ~3%
THIRD_SHORTFALL = 1.0 / (3.0 * 2.0**54)  # 1/3 − fl(1/3): x^fl(1/3) = ∛x · (1 − δ ln x) to far below an ulp
LN2 = math.log(2.0)


@njit(**_RULE_JIT)
def _pow_third(x):
    """x ** (1.0 / 3.0) (numpy's pow), as libm computes it in 99.5% of cases and within an ulp in all, in plain
    arithmetic that vectorizes (libm's pow is a call per value, ~4× slower here).

    x^(−1/3) from its bits and three Newton steps r ← r(4 − xr³)/3, y = xr²; one more Newton step of y with the
    residual x − y³ computed exactly (FMA); then the shortfall of the exponent fl(1/3) below 1/3, −y·δ·ln x (ln x from
    the bits, to ~0.06). Scaled by 2^±300 outside [2^−900, 2^900]; 0, ∞ and NaN as pow's (S ≥ 0 here).
    """
    tiny, huge = x < 2.0**-900, x > 2.0**900
    scaled = x * 2.0**300 if tiny else (x * 2.0**-300 if huge else x)
    bits = np.float64(_bits(scaled))
    r = _from_bits(INVERSE_CUBE_ROOT_MAGIC - np.int64(bits * (1.0 / 3.0)))
    for _ in range(3):
        r = r * (4.0 - ((scaled * r) * r) * r) * (1.0 / 3.0)
    y = (scaled * r) * r
    square = y * y
    residual = _fma(-square, y, scaled) - _fma(y, y, -square) * y
    log = (bits * 2.0**-52 - 1023.0) * LN2 + (-300.0 * LN2 if tiny else (300.0 * LN2 if huge else 0.0))
    y = y + (residual * (r * r) * (1.0 / 3.0) - y * (THIRD_SHORTFALL * log))
    y = y * 2.0**-100 if tiny else (y * 2.0**100 if huge else y)
    special = (x == 0.0) | (x == math.inf) | (x != x)
    return x if special else (math.nan if x < 0.0 else y)


@njit(**_RULE_JIT)
def _cube_root_rms(grad_sum_sq, eps):
    """rules._cube_root_rms: ∛S + ε, ∞ where that is 0."""
    rms = _pow_third(grad_sum_sq) + eps
    return math.inf if rms == 0.0 else rms


@njit(**_RULE_JIT)
def madgrad_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.madgrad_step; factors: √(k + 1). The state keeps ∛S + ε (slot 3) for the next step's θ₀ where α = 0."""
    grad_sum_sq, s, x0, rms = state
    momentum, eps, weight_decay = hp[0], hp[1], hp[2]
    decoupled = flags[0]
    lr = 0.0 if lr == 0.0 else lr + eps
    step_scale = lr * factors[0]
    g = g if decoupled else g + weight_decay * p
    start = p + s / rms if momentum == 0.0 else x0
    grad_sum_sq = grad_sum_sq + (step_scale * g) * g
    s = s + step_scale * g
    rms = _cube_root_rms(grad_sum_sq, eps)
    z = start + (-1.0 * s) / rms
    new = _lerp(p, z, 1.0 - momentum)
    new = new + ((-lr) * weight_decay) * p if decoupled else new
    return new, (grad_sum_sq, s, x0, rms)


@njit(**_RULE_JIT)
def lamb_rule(p_x, p_y, g_x, g_y, k, lr, factors, state_x, state_y, state_row, hp, flags):
    """rules.lamb_step (a row rule: the trust ratio's norms, pre-norm's clipping); factors: 1 − β₁ᵗ, (unused), the
    rectifier rₜ and whether ℓₜ ≥ 5 (_rectified_factors)."""
    beta1, beta2, eps, weight_decay, max_grad_norm = hp[0], hp[1], hp[2], hp[3], hp[4]
    pre_norm, decoupled, fixed, grad_averaging, rectify, degenerated_to_sgd, adam = flags
    bias_correction1, rect, adaptive = factors[0], factors[2], factors[3] != 0.0
    clip = _clip_factor(g_x, g_y, max_grad_norm, eps) if pre_norm else 1.0
    g_x, g_y = g_x * clip, g_y * clip
    if decoupled:
        decay = 1.0 - (1.0 if fixed else lr) * weight_decay
        p_x, p_y = p_x * decay, p_y * decay
    first = 1.0 - beta1 if grad_averaging else 1.0
    exp_avg_x = state_x[0] * beta1 + first * g_x
    exp_avg_y = state_y[0] * beta1 + first * g_y
    exp_avg_sq_x = state_x[1] * beta2 + ((1.0 - beta2) * g_x) * g_x
    exp_avg_sq_y = state_y[1] * beta2 + ((1.0 - beta2) * g_y) * g_y
    state_x, state_y = (exp_avg_x, exp_avg_sq_x, 0.0, 0.0), (exp_avg_y, exp_avg_sq_y, 0.0, 0.0)
    weight_norm = _minimum(math.sqrt(p_x * p_x + p_y * p_y), 10.0)
    if not rectify:
        update_x = (1.0 / (math.sqrt(exp_avg_sq_x) + eps)) * exp_avg_x
        update_y = (1.0 / (math.sqrt(exp_avg_sq_y) + eps)) * exp_avg_y
        if not decoupled:
            update_x, update_y = update_x + weight_decay * p_x, update_y + weight_decay * p_y
        if not adam:
            ratio = _trust_ratio(weight_norm, math.sqrt(update_x * update_x + update_y * update_y), eps)
            update_x, update_y = update_x * ratio, update_y * ratio
        step_size = (-lr) / bias_correction1
        return p_x + step_size * update_x, p_y + step_size * update_y, state_x, state_y, state_row
    step_size = (lr * rect) / bias_correction1
    denom_x, denom_y = math.sqrt(exp_avg_sq_x) + eps, math.sqrt(exp_avg_sq_y) + eps
    trust_ratio = 1.0
    if not adam:
        step_x = ((-step_size) * exp_avg_x) / denom_x if adaptive else exp_avg_x * (-step_size)
        step_y = ((-step_size) * exp_avg_y) / denom_y if adaptive else exp_avg_y * (-step_size)
        moved_x, moved_y = p_x + step_x, p_y + step_y
        trust_ratio = _trust_ratio(weight_norm, math.sqrt(moved_x * moved_x + moved_y * moved_y), eps)
    scaled = (-step_size) * trust_ratio
    if adaptive:
        p_x, p_y = p_x + (scaled * exp_avg_x) / denom_x, p_y + (scaled * exp_avg_y) / denom_y
    elif degenerated_to_sgd:
        p_x, p_y = p_x + exp_avg_x * scaled, p_y + exp_avg_y * scaled
    return p_x, p_y, state_x, state_y, state_row


@njit(**_RULE_JIT)
def adabound_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.adabound_step; factors: 1 − β₁ᵗ, √(1 − β₂ᵗ). ρ₀ (the bounds' base rate) is state slot 3, the same for
    both coordinates."""
    exp_avg, exp_avg_sq, max_exp_avg_sq, base_lr = state
    beta1, beta2, final_lr, gamma, eps, weight_decay = hp
    decoupled, fixed, ams_bound = flags
    t = k + 1
    base_lr = lr if (base_lr == 0.0) & (lr > 0.0) else base_lr
    final = (final_lr * lr) / (base_lr if base_lr > 0.0 else 1.0) if base_lr > 0.0 else 0.0
    lower_bound = final * (1.0 - 1.0 / (gamma * t + 1.0))
    upper_bound = final * (1.0 + 1.0 / (gamma * t))
    step_size = (lr * factors[1]) / factors[0]
    p, g = _weight_decay(p, g, lr, weight_decay, decoupled, fixed)
    exp_avg, exp_avg_sq = _moments(exp_avg, exp_avg_sq, g, beta1, beta2)
    max_exp_avg_sq = _maximum(max_exp_avg_sq, exp_avg_sq) if ams_bound else max_exp_avg_sq
    denom = math.sqrt((max_exp_avg_sq if ams_bound else exp_avg_sq) + 1e-15) + eps
    update = _clip(step_size / denom, lower_bound, upper_bound) * exp_avg
    return p - update, (exp_avg, exp_avg_sq, max_exp_avg_sq, base_lr)


@njit(**_RULE_JIT)
def ademamix_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.ademamix_step: Adam's moments and a slow one s₂; factors: 1 − β₁ᵗ, √(1 − β₂ᵗ) (_debias_factors)."""
    exp_avg, exp_avg_sq, exp_avg_slow = state[0], state[1], state[2]
    beta1, beta2, beta3, alpha, eps, weight_decay = hp
    p, g = _weight_decay(p, g, lr, weight_decay, flags[0], flags[1])
    exp_avg, exp_avg_sq = _moments(exp_avg, exp_avg_sq, g, beta1, beta2)
    exp_avg_slow = _lerp(exp_avg_slow, g, 1.0 - beta3)
    denom = math.sqrt(exp_avg_sq) / factors[1] + eps
    update = exp_avg / factors[0] + alpha * exp_avg_slow
    return p + ((-lr) * update) / denom, (exp_avg, exp_avg_sq, exp_avg_slow, 0.0)


@njit(**_RULE_JIT)
def prodigy_rule(p_x, p_y, g_x, g_y, k, lr, factors, state_x, state_y, state_row, hp, flags):
    """rules.prodigy_step (a row rule: d, and n's dot product and ‖σ‖₁ over the row, n and d̂ in float32); factors:
    its bias correction (1 without it). Row state: d, n."""
    beta1, beta2, d0, d_coef, eps, weight_decay = hp
    decoupled, fixed, safeguard_warmup = flags
    d, numerator = state_row
    s_x, p0_x, exp_avg_x, exp_avg_sq_x = state_x
    s_y, p0_y, exp_avg_y, exp_avg_sq_y = state_y
    beta3 = math.sqrt(beta2)
    d_lr = (d * lr) / factors[0]
    numerator = _f32(numerator * _f32(beta3))
    product_x, product_y = g_x * (p0_x - p_x), g_y * (p0_y - p_y)
    numerator = _f32(numerator + _f32((d / d0) * d_lr) * _f32(product_x + product_y))
    first, second = d * (1.0 - beta1), (d * d) * (1.0 - beta2)
    exp_avg_x, exp_avg_y = exp_avg_x * beta1 + first * g_x, exp_avg_y * beta1 + first * g_y
    exp_avg_sq_x = exp_avg_sq_x * beta2 + (second * g_x) * g_x
    exp_avg_sq_y = exp_avg_sq_y * beta2 + (second * g_y) * g_y
    weight = (d / d0) * (d if safeguard_warmup else d_lr)
    s_x, s_y = s_x * beta3 + weight * g_x, s_y * beta3 + weight * g_y
    denominator = _f32(abs(s_x) + abs(s_y))
    moved = denominator != 0.0
    d_hat = _f32(_f32(_f32(d_coef) * numerator) / (denominator if moved else 1.0))
    new_d = d_hat if moved & (d_hat > d) else d
    decay = 1.0 - (1.0 if fixed else d_lr) * weight_decay if decoupled else 1.0
    stepped_x = p_x * decay + ((-d_lr) * exp_avg_x) / (math.sqrt(exp_avg_sq_x) + new_d * eps)
    stepped_y = p_y * decay + ((-d_lr) * exp_avg_y) / (math.sqrt(exp_avg_sq_y) + new_d * eps)
    return (stepped_x if moved else p_x, stepped_y if moved else p_y, (s_x, p0_x, exp_avg_x, exp_avg_sq_x),
            (s_y, p0_y, exp_avg_y, exp_avg_sq_y), (new_d, numerator))



def _schedulefree_rule(adam: bool) -> Callable:
    """rules.schedulefree_step, AdamW's (``adam``) or SGD's, compiled apart so that SGD's keeps no second moment: a row
    rule, as Σw and ρ_max are the row's. Factors: tʳ, 1 − β₂ᵗ, and ρ_max^p where ρ_max changed at this step, −1 where
    it did not (_schedulefree_factors). Row state: Σw, ρ_max^p. Hyper-parameters: β, λ, T_w, then AdamW's β₂, ε, c_w.
    Flags: decayed (λ is not the scalar 0), ams_bound."""

    @njit(**_RULE_JIT)
    def coordinate(p, g, rate, checkpoint, bias_correction2, state, hp, flags):
        """y ← lerp(y, z, cₜ) + ρₜ(β(1 − cₜ) − 1)·g, z ← z − ρₜ g; g Adam-scaled first (AdamW) and L2-decayed after."""
        z, exp_avg_sq, max_exp_avg_sq = state[0], state[1], state[2]
        beta, weight_decay, beta2, eps = hp[0], hp[1], hp[3], hp[4]
        decayed, ams_bound = flags
        if adam:
            exp_avg_sq = exp_avg_sq * beta2 + ((1.0 - beta2) * g) * g
            corrected = exp_avg_sq / bias_correction2
            max_exp_avg_sq = _maximum(max_exp_avg_sq, corrected) if ams_bound else max_exp_avg_sq
            g = g / (math.sqrt((max_exp_avg_sq if ams_bound else corrected) + 1e-15) + eps)
        g = g + weight_decay * p if decayed else g
        new = _lerp(p, z, checkpoint) + g * (rate * (beta * (1.0 - checkpoint) - 1.0))
        return new, (z + g * (-rate), exp_avg_sq, max_exp_avg_sq, 0.0)

    def schedulefree_rule(p_x, p_y, g_x, g_y, k, lr, factors, state_x, state_y, state_row, hp, flags):
        beta, warmup, decoupling_c = hp[0], hp[2], hp[5]
        t = k + 1.0
        rate = lr * (t / warmup if t < warmup else 1.0)  # ρₜ, warmed up
        weight_sum, lr_max_power = state_row
        lr_max_power = factors[2] if factors[2] >= 0.0 else lr_max_power
        weight = factors[0] * lr_max_power
        weight_sum = weight_sum + weight
        checkpoint = weight / (weight_sum if weight_sum != 0.0 else 1.0) if weight_sum != 0.0 else 0.0
        if adam:  # AdamW's c_w bound
            clipped = _minimum(checkpoint * (1.0 - beta) * decoupling_c, 1.0)
            checkpoint = clipped if decoupling_c > 0.0 else checkpoint
        p_x, state_x = coordinate(p_x, g_x, rate, checkpoint, factors[1], state_x, hp, flags)
        p_y, state_y = coordinate(p_y, g_y, rate, checkpoint, factors[1], state_y, hp, flags)
        return p_x, p_y, state_x, state_y, (weight_sum, lr_max_power)

    schedulefree_rule.__qualname__ = schedulefree_rule.__name__ = f"schedulefree_rule__{'adamw' if adam else 'sgd'}"
    return njit(**_RULE_JIT)(schedulefree_rule)

X, Y, GX, GY, LOSS, BEST, LIMIT, LR, NX, NY, NEWX, NEWY = range(12)
FIXED = 12  # iterate, gradient, loss, best loss, blow-up limit, lr, σ·ξ noise, the new iterate before the checks;
# then per family: its hyper-parameters, states (per coordinate, then per row), per-step factors
STATUS, TO_TOL = 0, 1  # int fields: -1 while alive, else 4·(step it diverged at) + reason code; steps_to_tol


# --- the families: how each step function of rules.py maps onto the driver ------------------


class Factors(NamedTuple):
    """Per-step inputs that depend on the step and the hyper-parameters only, computed in Python with the reference's
    own expressions and types: bias corrections, rectifiers, NAdam's μ product, ASGD's η."""

    index: np.ndarray | None  # (B,) each row's column of ``block``'s arrays; None: one column for every row; empty:
    # row i's is column i
    block: Callable[[int, int], np.ndarray]  # (k0, steps) → (steps, count, columns) for steps k0 … k0 + steps − 1


class Family(NamedTuple):
    """How a step function of rules.py maps onto the driver: its rule and the slots it uses (at most the driver's
    tuples: :data:`SLOTS`).

    ``setup(batch, rows, family)`` writes the hyper-parameter slots and the initial states into the (fields, B)
    ``rows`` and returns the flags; ``factors(batch, dtype)`` gives the per-step factors (None: none)."""

    name: str
    rule: Callable
    setup: Callable[[Batch, np.ndarray, Any], tuple[bool, ...]]
    hyper: int  # hyper-parameter slots per row
    state: int  # state slots per coordinate
    row_state: int = 0  # state slots per row (a row rule's)
    factors: Callable[[Batch, np.dtype], Factors] | None = None
    n_factors: int = 0
    row: bool = False  # the rule is a row rule (couples the row's coordinates), not a coordinate rule

    # the fields of a block: the fixed ones (X … NEWY), then the slots of this family
    @property
    def h(self) -> int:
        return FIXED

    @property
    def s(self) -> int:  # state slot j: fields s + 2j (x) and s + 2j + 1 (y)
        return FIXED + self.hyper

    @property
    def r(self) -> int:
        return self.s + 2 * self.state

    @property
    def f(self) -> int:
        return self.r + self.row_state

    @property
    def fields(self) -> int:
        return self.f + self.n_factors


def _kernel_value(value: Any, dtype: np.dtype) -> Any:
    """A hyper-parameter as the reference kernels see it: a Python float, or a (B,) array of dtype."""
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=dtype)


def _scalar_zero(value: Any) -> bool:
    """The reference's ``isinstance(v, float) and v == 0``: one zero for every row (it then skips the term)."""
    return np.ndim(value) == 0 and float(value) == 0.0


def _decoupling(hp: dict) -> tuple[bool, bool]:
    """rules._weight_decay's switches: (decoupled, fixed_decay)."""
    return bool(hp.get("decoupled_weight_decay", hp.get("weight_decouple"))), bool(hp.get("fixed_decay"))


def _slots(family: Family, rows: np.ndarray, hyper: list, states: dict[int, Any] | None = None,
           row_states: dict[int, Any] | None = None) -> None:
    """Write hyper-parameter slots and initial states (slot → a value for both coordinates, or (B, 2))."""
    for j, value in enumerate(hyper):
        rows[family.h + j] = value
    for slot, value in (states or {}).items():
        value = np.asarray(value)
        rows[[family.s + 2 * slot, family.s + 2 * slot + 1]] = value.T if value.ndim == 2 else value
    for slot, value in (row_states or {}).items():
        rows[family.r + slot] = value


def _distinct(batch: Batch, keys: tuple[str, ...], dtype: np.dtype) -> tuple[dict[str, Any], np.ndarray | None]:
    """The hyper-parameters ``keys`` as the reference's kernels take them: a Python float where every row shares it,
    else an array of their distinct combinations (a hyper-parameter map's meshgrid holds few), with each row's
    combination (None where every key is shared). The factors are then the same elementwise operations on the same
    values as the reference's, once per combination."""
    values = {key: _kernel_value(batch.hp[key], dtype) for key in keys}
    varying = [key for key in keys if not isinstance(values[key], float)]
    if not varying:
        return values, None
    columns = np.stack([np.broadcast_to(values[key], (batch.rows,)) for key in varying], axis=1)
    combinations, index = np.unique(columns, axis=0, return_inverse=True)
    values.update({key: np.ascontiguousarray(combinations[:, j]) for j, key in enumerate(varying)})
    return values, index.reshape(-1).astype(np.int64)


def _step_factors(batch: Batch, dtype: np.dtype, keys: tuple[str, ...], count: int,
                  compute: Callable[..., tuple], distinct: tuple | None = None) -> Factors:
    """Factors ``compute(t, **values)`` per step t = k + 1 of the hyper-parameters ``keys`` (``distinct``: their
    :func:`_distinct` where the caller has it)."""
    values, index = distinct or _distinct(batch, keys, dtype)
    columns = 1 if index is None else int(index.max()) + 1

    def block(k0: int, steps: int) -> np.ndarray:
        computed = [compute(t, **values) for t in range(k0 + 1, k0 + steps + 1)]
        if index is None:  # Python floats
            return np.array(computed, dtype).reshape(steps, count, 1)
        out = np.empty((steps, count, columns), dtype)
        for kk, factors in enumerate(computed):
            for j, value in enumerate(factors):
                out[kk, j] = value
        return out

    return Factors(index, block)


def _as_float(condition: Any) -> Any:
    """A rectifier's bool (or bool array) as a factor: 1.0 where it holds."""
    return float(condition) if isinstance(condition, (bool, np.bool_)) else np.asarray(condition, np.float64)


def _adam_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """rules.adam_step's 1 − β₁ᵗ and (1 − β₂ᵗ)^½ (1 and 1 without bias correction: adam_nobc)."""
    if not batch.hp.get("bias_correction", True):
        return _step_factors(batch, dtype, (), 2, lambda t: (1.0, 1.0))
    return _step_factors(batch, dtype, ("beta1", "beta2"), 2,
                         lambda t, beta1, beta2: (1 - beta1**t, (1 - beta2**t) ** 0.5))


def _adamax_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """rules.adamax_step's 1 − β₁ᵗ."""
    return _step_factors(batch, dtype, ("beta1",), 1, lambda t, beta1: (1 - beta1**t,))


def _nadam_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """rules.nadam_step's 1 − μₜ, 1 − Πₜ, μₜ₊₁, 1 − Πₜμₜ₊₁ and 1 − β₂ᵗ: Πₜ, the product of the μ in float32, is carried
    from step to step here (it depends on the step and β₁, ψ only)."""
    distinct = _distinct(batch, ("beta1", "beta2", "momentum_decay"), dtype)
    product: list[Any] = [1.0 if distinct[1] is None else np.ones(int(distinct[1].max()) + 1, dtype)]  # Π₀ = 1

    def float32(value: Any) -> Any:  # rules._float32
        if isinstance(product[0], float) and isinstance(value, float):
            return float(np.float32(value))
        return (value + np.zeros_like(product[0])).astype(np.float32).astype(dtype)

    def factors(t: int, beta1: Any, beta2: Any, momentum_decay: Any) -> tuple:
        psi = momentum_decay
        bias_correction2 = 1 - beta2**t
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
        product[0] = float32(float32(mu) * product[0])
        return 1.0 - mu, 1.0 - product[0], mu_next, 1.0 - product[0] * mu_next, bias_correction2

    return _step_factors(batch, dtype, (), 5, factors, distinct)


def _radam_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """rules.radam_step's 1 − β₁ᵗ, (1 − β₂ᵗ)^½, its rectifier γₜ and whether ℓₜ > 5 (the plain step where not)."""

    def factors(t: int, beta1: Any, beta2: Any) -> tuple:
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2**t) / bias_correction2
        rectified = rho_t > 5.0
        if isinstance(rho_t, float):
            if not rectified:
                return bias_correction1, 1.0, 1.0, 0.0
        else:
            rho_t, rho_inf = np.where(rectified, rho_t, 6.0), np.where(rectified, rho_inf, 7.0)
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        return bias_correction1, bias_correction2**0.5, rect, _as_float(rectified)

    return _step_factors(batch, dtype, ("beta1", "beta2"), 4, factors)


def _asgd_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """rules.asgd_step's ηₖ per row, float32 as the reference keeps it: η₀ = ρ₀, ηₖ = ρₖ₋₁/(1 + λ_a ρₖ₋₁ k)^ω (from the
    ρ of the step before), with the reference's elementwise operations on a few steps' rows at a time (in cache)."""
    lambd, alpha = _kernel_value(batch.hp["lambd"], dtype), _kernel_value(batch.hp["alpha"], dtype)
    shared = batch.schedule is None and np.ndim(batch.hp["lr"]) == 0 and isinstance(lambd, float) \
        and isinstance(alpha, float)
    columns = 1 if shared else batch.rows

    def kernel_lr(k: int) -> np.ndarray:  # ρₖ as the reference's kernels take it, (columns,)
        lr = _kernel_value(batch.hp["lr"], dtype) if batch.schedule is None else batch.lr_at(k)
        return np.broadcast_to(np.asarray(lr, dtype), (columns,))

    constant = kernel_lr(0)[None, :]
    scaled = lambd * constant  # λ_a ρ, as the reference's lambd * lr * t multiplies first

    def block(k0: int, steps: int) -> np.ndarray:
        out = np.empty((steps, 1, columns), np.float32)
        if k0 == 0:
            out[0, 0] = kernel_lr(0)  # η₀: the ρ of the first step, in float32
        with np.errstate(all="ignore"):
            for s0 in range(max(k0, 1), k0 + steps, ASGD_STEPS):
                ks = np.arange(s0, min(s0 + ASGD_STEPS, k0 + steps))
                lr, factor = constant, scaled
                if batch.schedule is not None:
                    lr = np.stack([kernel_lr(k - 1) for k in ks])
                    factor = lambd * lr
                base = factor * ks[:, None].astype(dtype)
                np.add(1, base, out=base)
                np.power(base, alpha, out=base)
                np.divide(lr, base, out=base)
                out[ks - k0, 0] = base  # rounded to float32
        return out

    return Factors(None if shared else np.empty(0, np.int64), block)


def _adafactor_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """rules.adafactor_step's t^c (1 − β₂ₜ) and 1/√t."""
    return _step_factors(batch, dtype, ("beta2_decay",), 2, lambda t, beta2_decay: (t**beta2_decay, 1 / t**0.5))


def _debias_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """pytorch_optimizer's 1 − β₁ᵗ and √(1 − β₂ᵗ) (rules._debias, rules._sqrt)."""
    return _step_factors(batch, dtype, ("beta1", "beta2"), 2,
                         lambda t, beta1, beta2: (rules._debias(beta1, t), rules._sqrt(np, rules._debias(beta2, t))))


def _rectified_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """AdaBelief's and LAMB's 1 − β₁ᵗ, √(1 − β₂ᵗ), the rectifier rₜ and whether ℓₜ ≥ 5 (rules._rectifier), with
    ``rectify``."""
    hp = batch.hp
    rectify, degenerated = bool(hp["rectify"]), bool(hp["degenerated_to_sgd"])

    def factors(t: int, beta1: Any, beta2: Any) -> tuple:
        if not rectify:
            return rules._debias(beta1, t), rules._sqrt(np, rules._debias(beta2, t)), 1.0, 1.0
        rect, adaptive = rules._rectifier(np, beta2, t, degenerated)
        return rules._debias(beta1, t), 1.0, rect, _as_float(adaptive)

    return _step_factors(batch, dtype, ("beta1", "beta2"), 4, factors)


def _adan_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """rules.adan_step's 1 − β₁ᵗ, 1 − β₂ᵗ and √(1 − β₃ᵗ)."""
    return _step_factors(batch, dtype, ("beta1", "beta2", "beta3"), 3, lambda t, beta1, beta2, beta3: (
        rules._debias(beta1, t), rules._debias(beta2, t), rules._sqrt(np, rules._debias(beta3, t))))


def _madgrad_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """rules.madgrad_step's √(k + 1)."""
    return _step_factors(batch, dtype, (), 1, lambda t: (t**0.5,))


def _prodigy_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """rules.prodigy_step's bias correction (1 − β₁ᵗ)/√(1 − β₂ᵗ), or 1."""
    if not batch.hp["bias_correction"]:
        return _step_factors(batch, dtype, (), 1, lambda t: (1.0,))
    return _step_factors(batch, dtype, ("beta1", "beta2"), 1, lambda t, beta1, beta2: (
        rules._debias(beta1, t) / rules._sqrt(np, rules._debias(beta2, t)),))



def _schedulefree_factors(batch: Batch, dtype: np.dtype) -> Factors:
    """rules.schedulefree_step's tʳ, 1 − β₂ᵗ (1 for SGD), and ρ_max^p at the steps where ρ_max changes (−1 at the
    others: the kernel keeps the row's), with the reference's expressions and types. ρ_max, the largest warmed-up ρₜ so
    far, is carried here from step to step, per combination of ρ and the keys read (their :func:`_distinct`), or per
    row under a schedule. Without one, ρₜ grows until the warmup ends and then stays ρ: past that step no power is taken
    (the kernel keeps each row's ρ_max^p), and the factors are one column for every row where r and β₂ are shared."""
    hp = batch.hp
    adam = "beta2" in hp
    keys = ("lr", "warmup_steps", "weight_lr_power", "r", *(("beta2",) if adam else ()))
    if batch.schedule is None:
        values, index = _distinct(batch, keys, dtype)
        columns = 1 if index is None else int(index.max()) + 1
        last_change = max(1, int(np.max(hp["warmup_steps"])))
    else:
        values = {key: _kernel_value(hp[key], dtype) for key in keys}
        index, columns, last_change = np.empty(0, np.int64), batch.rows, batch.steps
    shared = isinstance(values["r"], float) and (not adam or isinstance(values["beta2"], float))
    lr_max = [np.full(columns, -1.0, dtype)]  # rules.schedulefree_init's ρ_max, one per column

    def block(k0: int, steps: int) -> np.ndarray:
        ts = range(k0 + 1, k0 + steps + 1)
        if shared and k0 >= last_change:  # Python floats, and ρ_max stays: one column
            computed = [(t ** values["r"], rules._debias(values["beta2"], t) if adam else 1.0, -1.0) for t in ts]
            return np.array(computed, dtype).reshape(steps, 3, 1)
        out = np.empty((steps, 3, columns), dtype)
        with np.errstate(all="ignore"):
            for kk, t in enumerate(ts):
                out[kk, 0] = t ** values["r"]
                out[kk, 1] = rules._debias(values["beta2"], t) if adam else 1.0
                out[kk, 2] = -1.0
                if t > last_change:
                    continue
                lr = values["lr"] if batch.schedule is None else np.asarray(batch.lr_at(t - 1), dtype)
                lr = lr * rules._select(np, t < values["warmup_steps"], t / rules._nonzero(values["warmup_steps"]), 1.0)
                new_max = np.maximum(lr_max[0], rules._filled(np, lr, lr_max[0]))
                if not np.array_equal(new_max, lr_max[0]):
                    out[kk, 2] = new_max ** values["weight_lr_power"]
                    lr_max[0] = new_max
        return out

    return Factors(index, block)

def _setup_sgd(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    _slots(family, rows, [hp["momentum"], hp["dampening"], hp["weight_decay"]])
    return not _scalar_zero(hp["momentum"]), bool(hp["nesterov"])


def _setup_rmsprop(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    _slots(family, rows, [hp["alpha"], hp["eps"], hp["weight_decay"], hp["momentum"]])
    return bool(hp["centered"]), not _scalar_zero(hp["momentum"])


def _setup_adam(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    _slots(family, rows, [hp["beta1"], hp["beta2"], hp["eps"], hp["weight_decay"]])
    return bool(hp["amsgrad"]), bool(hp["decoupled_weight_decay"])


def _setup_adagrad(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    _slots(family, rows, [hp["lr_decay"], hp["eps"], hp["weight_decay"]],
           {0: _kernel_value(hp["initial_accumulator_value"], rows.dtype)})  # AdaGrad's sum: 0 + v
    return (False,)


def _setup_moments(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    """β₁, β₂, ε, λ: Adamax, NAdam, RAdam, Yogi (whose moments start at r₀); flags: decoupled, fixed decay."""
    hp = batch.hp
    states = {0: hp["initial_accumulator"], 1: hp["initial_accumulator"]} if "initial_accumulator" in hp else None
    _slots(family, rows, [hp["beta1"], hp["beta2"], hp["eps"], hp["weight_decay"]], states)
    return _decoupling(hp)


def _setup_adabelief(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    return (*_setup_moments(batch, rows, family), bool(hp["ams_bound"]), bool(hp["rectify"]),
            bool(hp["degenerated_to_sgd"]))


def _setup_adadelta(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    _slots(family, rows, [batch.hp["rho"], batch.hp["eps"], batch.hp["weight_decay"]])
    return (False,)


def _setup_rprop(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    _slots(family, rows, [hp["etaminus"], hp["etaplus"], hp["step_size_min"], hp["step_size_max"]])
    return (False,)


def _setup_asgd(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    _slots(family, rows, [batch.hp["lambd"], batch.hp["weight_decay"]])
    return (False,)


def _setup_adafactor(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    eps1 = hp.get("eps1")
    eps1 = float(np.finfo(rows.dtype).eps) if eps1 is None else _kernel_value(eps1, rows.dtype)
    _slots(family, rows, [hp["eps2"], hp["d"], hp["weight_decay"], eps1 * eps1])  # r's floor ε₁²
    return (False,)


def _setup_lion(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    _slots(family, rows, [batch.hp["beta1"], batch.hp["beta2"], batch.hp["weight_decay"]])
    return _decoupling(batch.hp)


def _setup_adan(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    _slots(family, rows, [hp["beta1"], hp["beta2"], hp["beta3"], hp["eps"], hp["weight_decay"], hp["max_grad_norm"]])
    decoupled = bool(hp["weight_decouple"])
    return decoupled, not _scalar_zero(hp["max_grad_norm"]), not decoupled and not _scalar_zero(hp["weight_decay"])


def _setup_madgrad(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    start = np.asarray(batch.start, rows.dtype)
    eps = _kernel_value(hp["eps"], rows.dtype)
    rms = rules._cube_root_rms(np, np.zeros(batch.rows, rows.dtype), eps)  # ∛0 + ε, ∞ where 0
    _slots(family, rows, [hp["momentum"], hp["eps"], hp["weight_decay"]], {2: start, 3: rms})  # x0 = θ₀
    return (bool(hp["weight_decouple"]),)


def _setup_lamb(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    _slots(family, rows, [hp["beta1"], hp["beta2"], hp["eps"], hp["weight_decay"], hp["max_grad_norm"]])
    decoupled, fixed = _decoupling(hp)
    return (bool(hp["pre_norm"]), decoupled, fixed, bool(hp["grad_averaging"]), bool(hp["rectify"]),
            bool(hp["degenerated_to_sgd"]), bool(hp["adam"]))


def _setup_adabound(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    _slots(family, rows, [hp["beta1"], hp["beta2"], hp["final_lr"], hp["gamma"], hp["eps"], hp["weight_decay"]],
           {3: hp["lr"]})  # ρ₀: the constructor's ρ
    return (*_decoupling(hp), bool(hp["ams_bound"]))


def _setup_ademamix(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    _slots(family, rows, [hp["beta1"], hp["beta2"], hp["beta3"], hp["alpha"], hp["eps"], hp["weight_decay"]])
    return _decoupling(hp)


def _setup_prodigy(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    _slots(family, rows, [hp["beta1"], hp["beta2"], hp["d0"], hp["d_coef"], hp["eps"], hp["weight_decay"]],
           {1: np.asarray(batch.start, rows.dtype)}, {0: hp["d0"]})  # θ₀; d = d₀, n = 0
    return (*_decoupling(hp), bool(hp["safeguard_warmup"]))



def _setup_schedulefree(batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    hp = batch.hp
    adam = [hp["beta2"], hp["eps"], hp["decoupling_c"]] if "beta2" in hp else []
    _slots(family, rows, [rules._schedulefree_beta(hp), hp["weight_decay"], hp["warmup_steps"], *adam],
           {0: np.asarray(batch.start, rows.dtype)})  # z = θ₀; Σw = 0
    return not _scalar_zero(hp["weight_decay"]), bool(hp.get("ams_bound"))


FAMILIES: dict[Callable, Family] = {
    rules.sgd_step: Family("sgd", sgd_rule, _setup_sgd, 3, 1),
    rules.rmsprop_step: Family("rmsprop", rmsprop_rule, _setup_rmsprop, 4, 3),
    rules.adam_step: Family("adam", adam_rule, _setup_adam, 4, 3, factors=_adam_factors, n_factors=2),
    rules.adagrad_step: Family("adagrad", adagrad_rule, _setup_adagrad, 3, 1),
    rules.adamax_step: Family("adamax", adamax_rule, _setup_moments, 4, 2, factors=_adamax_factors, n_factors=1),
    rules.nadam_step: Family("nadam", nadam_rule, _setup_moments, 4, 2, factors=_nadam_factors, n_factors=5),
    rules.radam_step: Family("radam", radam_rule, _setup_moments, 4, 2, factors=_radam_factors, n_factors=4),
    rules.adadelta_step: Family("adadelta", adadelta_rule, _setup_adadelta, 3, 2),
    rules.rprop_step: Family("rprop", rprop_rule, _setup_rprop, 4, 2),
    rules.asgd_step: Family("asgd", asgd_rule, _setup_asgd, 2, 0, factors=_asgd_factors, n_factors=1),
    rules.adafactor_step: Family("adafactor", adafactor_rule, _setup_adafactor, 4, 1, factors=_adafactor_factors,
                                 n_factors=2, row=True),
    rules.lion_step: Family("lion", lion_rule, _setup_lion, 3, 1),
    rules.adabelief_step: Family("adabelief", adabelief_rule, _setup_adabelief, 4, 3, factors=_rectified_factors,
                                 n_factors=4),
    rules.yogi_step: Family("yogi", yogi_rule, _setup_moments, 4, 2, factors=_debias_factors, n_factors=2),
    rules.adan_step: Family("adan", adan_rule, _setup_adan, 6, 4, factors=_adan_factors, n_factors=3, row=True),
    rules.madgrad_step: Family("madgrad", madgrad_rule, _setup_madgrad, 3, 4, factors=_madgrad_factors, n_factors=1),
    rules.lamb_step: Family("lamb", lamb_rule, _setup_lamb, 5, 2, factors=_rectified_factors, n_factors=4, row=True),
    rules.adabound_step: Family("adabound", adabound_rule, _setup_adabound, 6, 4, factors=_debias_factors,
                                n_factors=2),
    rules.ademamix_step: Family("ademamix", ademamix_rule, _setup_ademamix, 6, 3, factors=_debias_factors,
                                n_factors=2),
    rules.prodigy_step: Family("prodigy", prodigy_rule, _setup_prodigy, 6, 4, 2, factors=_prodigy_factors,
                               n_factors=1, row=True),
}
SCHEDULEFREE = {  # rules.schedulefree_step's families, by whether it is AdamW's (PER_BATCH chooses)
    adam: Family(f"schedulefree_{'adamw' if adam else 'sgd'}", _schedulefree_rule(adam), _setup_schedulefree,
                 6 if adam else 3, 3 if adam else 1, 2, factors=_schedulefree_factors, n_factors=3, row=True)
    for adam in (False, True)
}



# --- wrappers: a family composed over the base optimizer's ----------------------------------

MOMENTUM_SLOT = {"sgd": 0, "rmsprop": 2}  # the state slot of a base family's momentum buffer (its rules.py state's
# momentum_buffer), which Lookahead's pullback_momentum treats
_LOOKAHEAD: dict[str, Family] = {}  # per base family: its rule composes the base's, so it compiles once a process


@njit(**_RULE_JIT)
def _with_slot(state, slot, value):
    """``state`` with slot ``slot`` (a compile-time constant) replaced by ``value``."""
    return (value if slot == 0 else state[0], value if slot == 1 else state[1], value if slot == 2 else state[2],
            value if slot == 3 else state[3])


def _lookahead_rule(base: Family) -> Callable:
    """rules.lookahead_step over ``base``'s coordinate rule: its step, then at every κ-th step
    θ ← lerp(θ, θ_slow, 1 − φ), θ_slow ← θ, and the base's momentum buffer zeroed where ``reset``. κ and φ take the two
    hyper-parameter slots after the base's, θ_slow the state slot after its; flags: (the base's flags, reset)."""
    step, kappa, slow_slot = base.rule, base.hyper, base.state
    momentum_slot = MOMENTUM_SLOT.get(base.name, slow_slot)  # no buffer: reset is never set

    def lookahead_rule(p, g, k, lr, factors, state, hp, flags):
        base_flags, reset = flags
        new, out = step(p, g, k, lr, factors, state, hp, base_flags)
        t = k + 1.0
        sync = t == np.floor(t / hp[kappa]) * hp[kappa]  # (k + 1) % κ == 0, exact for whole numbers, and no fmod call
        synced = _lerp(new, state[slow_slot], 1.0 - hp[kappa + 1])
        out = _with_slot(out, momentum_slot, 0.0 if reset & sync else out[momentum_slot])
        return synced if sync else new, _with_slot(out, slow_slot, synced if sync else state[slow_slot])

    lookahead_rule.__qualname__ = lookahead_rule.__name__ = f"lookahead_rule__{base.name}"
    return njit(**_RULE_JIT)(lookahead_rule)


def _base_batch(batch: Batch) -> Batch:
    """A wrapper's batch as its base optimizer's kernels see it (rules._base, rules._base_hp)."""
    return dataclasses.replace(batch, rule=rules._base(batch.hp), hp=rules._base_hp(batch.hp))


def _setup_lookahead(base: Family, batch: Batch, rows: np.ndarray, family: Family) -> tuple:
    flags = base.setup(_base_batch(batch), rows, family)  # the base's slots, where the composed family has them
    rows[family.h + base.hyper] = batch.hp["k"]
    rows[family.h + base.hyper + 1] = batch.hp["alpha"]
    slow = family.s + 2 * base.state
    rows[[slow, slow + 1]] = np.asarray(batch.start, rows.dtype).T  # θ_slow = θ₀
    return flags, batch.hp["pullback_momentum"] == "reset" and base.name in MOMENTUM_SLOT


def _lookahead_family(batch: Batch) -> Family | None:
    """Lookahead's family over its base's, where the base has a coordinate family with room for κ, φ and θ_slow; None
    (the reference runs) for other bases, and for pullback_momentum 'pullback' over a base with a momentum buffer (its
    slow copy would take one more slot). Over a base without one, 'reset' and 'pullback' change nothing."""
    base = family_for(_base_batch(batch))
    if base is None or base.row or base.hyper + 2 > SLOTS["hyper"] or base.state + 1 > SLOTS["state"]:
        return None
    if batch.hp["pullback_momentum"] == "pullback" and base.name in MOMENTUM_SLOT:
        return None
    with _LOCK:
        if base.name not in _LOOKAHEAD:
            factors = base.factors and (lambda batch, dtype, of=base.factors: of(_base_batch(batch), dtype))
            _LOOKAHEAD[base.name] = base._replace(
                name=f"lookahead_{base.name}", rule=_lookahead_rule(base),
                setup=functools.partial(_setup_lookahead, base), hyper=base.hyper + 2, state=base.state + 1,
                factors=factors)
        return _LOOKAHEAD[base.name]


PER_BATCH: dict[Callable, Callable[[Batch], Family | None]] = {  # the step functions whose family depends on the
    # batch: Lookahead's on its base optimizer, schedule-free's on its form
    rules.lookahead_step: _lookahead_family,
    rules.schedulefree_step: lambda batch: SCHEDULEFREE["beta2" in batch.hp],
}


def family_for(batch: Batch) -> Family | None:
    """The family that runs ``batch``: its step function's in FAMILIES, or one PER_BATCH chooses; None: none."""
    choose = PER_BATCH.get(batch.rule.step)
    return choose(batch) if choose else FAMILIES.get(batch.rule.step)

# --- the driver: a block of steps for a range of rows ------------------------------------
# Per-row data travels as one (fields, B) float array and one (2, B) int64 array; the driver
# copies a chunk into a (fields, CHUNK + PAD) block, whose row stride is a compile-time
# constant, as are the family's field offsets (H, S, R, F) and slot counts. What LLVM needs to
# vectorize the loops over a block's rows, each found the hard way:
# - one base register plus constant offsets for every field (25 separate arrays made it spend
#   most instructions reloading spilled pointers, and check every pair for overlap);
# - unsigned loop indices (a signed index gets numpy's negative-index wraparound: no vectors);
# - ``&``, ``|``, ``not`` on booleans, never ``and``/``or`` (short-circuits are branches);
# - a value loaded from the block that may be stored back unchanged is multiplied by the runtime
#   argument ``one`` (= 1, exact; ints get ``+ int_zero``): "store (x if c else new)" where x was
#   loaded from the same address otherwise becomes a masked store (vmaskmovpd), microcoded and
#   slow on AMD CPUs;
# - two loops per step, not one: each is short enough for the CPU to overlap several
#   iterations' long sqrt/div/formula latency chains (one long loop ran latency-bound).
# A slot beyond the family's counts is read as 0 under a compile-time condition, so its load
# is never emitted.

SLOTS = {"hyper": 6, "state": 4, "row_state": 2, "n_factors": 5}  # the most a family may use: the driver's tuples

# Globals of the compiled copies of _driver (see _kernel): compile-time constants for numba.
FORMULA: Callable = None  # type: ignore[assignment]
RULE: Callable = None  # type: ignore[assignment]
ROW_RULE = False
N_HYPER, N_STATE, N_ROW_STATE, N_FACTORS = SLOTS["hyper"], SLOTS["state"], SLOTS["row_state"], SLOTS["n_factors"]
H, S, R, F, FIELDS = FIXED, FIXED + 6, FIXED + 14, FIXED + 16, FIXED + 21
CAST: Callable = np.float64


@njit(**_JIT)
def _copy_columns(target, target_start, source, source_start, n):
    """target[:, target_start:target_start + n] = source[:, source_start:source_start + n], as plain loops."""
    for field in range(source.shape[0]):
        for i in range(n):
            target[field, target_start + i] = source[field, source_start + i]


def _driver(rows, ints, flags, lr, noise_xy, factors, index, p, target, k0, steps, lo, hi, one):
    """Advance rows [lo, hi) of ``rows`` (fields, B) and ``ints`` (2, B) by ``steps`` steps from step ``k0``.

    The iterate, its loss and the gradient (taken at the unfrozen iterate, as engine.Stepper
    does) carry over between calls, with the states, best loss and int fields. Per-step inputs
    have a leading axis of length ``steps`` or 1 (constant): lr (·, B) (length 1: the LR field
    holds it), noise_xy (·, 2, B) (σ·ξ, as the reference adds it; (1, 2, 1) for no noise),
    factors (steps, N_FACTORS, columns): one column for every row, or row i's column index[i] (index
    empty: column i).
    """
    block = np.empty((FIELDS, CHUNK + PAD), rows.dtype)
    block_ints = np.empty((2, CHUNK + PAD), np.int64)
    int_zero = np.int64(one) - 1
    has_noise = noise_xy.shape[2] > 1
    per_step_lr = lr.shape[0] > 1
    per_row_factors = factors.shape[2] > 1
    dense_factors = index.shape[0] == 0
    for c0 in range(lo, hi, CHUNK):
        n = min(CHUNK, hi - c0)
        _copy_columns(block, 0, rows, c0, n)
        _copy_columns(block_ints, 0, ints, c0, n)
        for kk in range(steps):
            k = k0 + kk
            for i in range(n):  # this step's per-row inputs
                if per_step_lr:
                    block[LR, i] = lr[kk, c0 + i]
                if has_noise:
                    block[NX, i] = noise_xy[kk, 0, c0 + i]
                    block[NY, i] = noise_xy[kk, 1, c0 + i]
            for j in range(N_FACTORS):
                if not per_row_factors:
                    shared = factors[kk, j, 0]
                    for i in range(n):
                        block[F + j, i] = shared
                elif dense_factors:
                    for i in range(n):
                        block[F + j, i] = factors[kk, j, c0 + i]
                else:
                    for i in range(n):
                        block[F + j, i] = factors[kk, j, index[c0 + i]]
            for i in range(np.uint64(n)):  # the update rule
                g_x = block[GX, i]
                g_y = block[GY, i]
                if has_noise:
                    g_x = g_x + block[NX, i]
                    g_y = g_y + block[NY, i]
                hp = (block[H, i] if N_HYPER > 0 else 0.0, block[H + 1, i] if N_HYPER > 1 else 0.0,
                      block[H + 2, i] if N_HYPER > 2 else 0.0, block[H + 3, i] if N_HYPER > 3 else 0.0,
                      block[H + 4, i] if N_HYPER > 4 else 0.0, block[H + 5, i] if N_HYPER > 5 else 0.0)
                step_factors = (block[F, i] if N_FACTORS > 0 else 0.0, block[F + 1, i] if N_FACTORS > 1 else 0.0,
                                block[F + 2, i] if N_FACTORS > 2 else 0.0, block[F + 3, i] if N_FACTORS > 3 else 0.0,
                                block[F + 4, i] if N_FACTORS > 4 else 0.0)
                rate = block[LR, i]
                state_x = (block[S, i] * one if N_STATE > 0 else 0.0, block[S + 2, i] * one if N_STATE > 1 else 0.0,
                           block[S + 4, i] * one if N_STATE > 2 else 0.0, block[S + 6, i] * one if N_STATE > 3 else 0.0)
                state_y = (block[S + 1, i] * one if N_STATE > 0 else 0.0,
                           block[S + 3, i] * one if N_STATE > 1 else 0.0,
                           block[S + 5, i] * one if N_STATE > 2 else 0.0, block[S + 7, i] * one if N_STATE > 3 else 0.0)
                state_row = (block[R, i] * one if N_ROW_STATE > 0 else 0.0,
                             block[R + 1, i] * one if N_ROW_STATE > 1 else 0.0)
                if ROW_RULE:
                    new_x, new_y, out_x, out_y, out_row = RULE(block[X, i], block[Y, i], g_x, g_y, k, rate,
                                                               step_factors, state_x, state_y, state_row, hp, flags)
                else:
                    new_x, out_x = RULE(block[X, i], g_x, k, rate, step_factors, state_x, hp, flags)
                    new_y, out_y = RULE(block[Y, i], g_y, k, rate, step_factors, state_y, hp, flags)
                    out_row = state_row
                if N_STATE > 0:
                    block[S, i] = out_x[0]
                    block[S + 1, i] = out_y[0]
                if N_STATE > 1:
                    block[S + 2, i] = out_x[1]
                    block[S + 3, i] = out_y[1]
                if N_STATE > 2:
                    block[S + 4, i] = out_x[2]
                    block[S + 5, i] = out_y[2]
                if N_STATE > 3:
                    block[S + 6, i] = out_x[3]
                    block[S + 7, i] = out_y[3]
                if N_ROW_STATE > 0:
                    block[R, i] = out_row[0]
                if N_ROW_STATE > 1:
                    block[R + 1, i] = out_row[1]
                block[NEWX, i] = CAST(new_x)
                block[NEWY, i] = CAST(new_y)
            for i in range(np.uint64(n)):  # the surface, the divergence rule, the summaries
                x = block[X, i] * one
                y = block[Y, i] * one
                new_x = block[NEWX, i]
                new_y = block[NEWY, i]
                f, f_x, f_y = FORMULA(new_x, new_y, p)
                f = CAST(f)
                block[GX, i] = f_x
                block[GY, i] = f_y
                code = block_ints[STATUS, i] + int_zero
                alive = code < 0
                finite = math.isfinite(new_x) & math.isfinite(new_y) & math.isfinite(f)
                blown = finite & (f > block[LIMIT, i]) & alive
                fresh = alive & (not finite)
                keep_previous = (not alive) | (not finite)  # non-finite: back to θ_k; frozen rows stay
                block_ints[STATUS, i] = 4 * (k + 1) + (1 if fresh else 2) if fresh | blown else code
                block[X, i] = x if keep_previous else new_x
                block[Y, i] = y if keep_previous else new_y
                current = block[LOSS, i] * one
                current = current if keep_previous else f
                block[LOSS, i] = current
                best = block[BEST, i] * one
                block[BEST, i] = current if current < best else best
                t = block_ints[TO_TOL, i] + int_zero
                block_ints[TO_TOL, i] = k + 1 if (t < 0) & (current <= target) else t
        _copy_columns(rows, c0, block, 0, n)
        _copy_columns(ints, c0, block_ints, 0, n)


# --- compiling and caching ---------------------------------------------------------------

_KERNELS: dict[str, Any] = {}
_FAILED: set[str] = set()  # formulas numba could not compile: the reference runs them
_LOCK = threading.Lock()


def _code_digest(function: Callable) -> str:
    """A hash of what a formula computes: bytecode, constants, names, and the values of simple globals it reads.

    Part of the kernel's cache name, so an edited formula never loads a stale compiled kernel.
    """
    hasher = hashlib.sha256()

    def add_code(code: types.CodeType) -> None:
        hasher.update(code.co_code)
        hasher.update(repr((code.co_names, code.co_varnames)).encode())
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                add_code(const)
            else:
                hasher.update(repr(const).encode())

    add_code(function.__code__)
    for name in function.__code__.co_names:
        value = function.__globals__.get(name)
        if isinstance(value, (int, float, complex, str, bool, tuple)):
            hasher.update(f"{name}={value!r}".encode())
        elif isinstance(value, types.ModuleType):
            hasher.update(f"{name}=module {value.__name__}".encode())
        elif value is not None:
            hasher.update(f"{name}={getattr(value, '__qualname__', type(value).__name__)}".encode())
    for cell in function.__closure__ or ():
        hasher.update(repr(cell.cell_contents).encode())
    return hasher.hexdigest()[:16]


def _kernel_name(family: Family, source: Callable, dtype: np.dtype) -> str:
    formula = "".join(c if c.isalnum() else "_" for c in source.__qualname__)
    return f"_driver__{family.name}__{formula}_{_code_digest(source)}__{dtype.name}"


def _kernel(family: Family, formula: Callable, dtype: np.dtype) -> tuple[str, Any]:
    """The compiled (disk-cached) driver for this family, surface formula and dtype, and its name."""
    source = getattr(formula, "py_func", formula)  # the Python function behind a numba dispatcher
    name = _kernel_name(family, source, dtype)
    with _LOCK:
        kernel = _KERNELS.get(name)
        if kernel is None:
            namespace = {
                **globals(),
                "FORMULA": njit(inline="always", **_JIT)(source),  # numpy float semantics, inlined
                "RULE": family.rule,
                "ROW_RULE": family.row,
                "N_HYPER": family.hyper,
                "N_STATE": family.state,
                "N_ROW_STATE": family.row_state,
                "N_FACTORS": family.n_factors,
                "H": family.h,
                "S": family.s,
                "R": family.r,
                "F": family.f,
                "FIELDS": family.fields,
                "CAST": np.float32 if dtype == np.float32 else np.float64,
            }
            function = types.FunctionType(_driver.__code__, namespace, name, _driver.__defaults__)
            function.__qualname__ = name  # numba's cache file name: one per (family, formula, dtype)
            try:
                kernel = njit(cache=True, **_JIT)(function)
            except RuntimeError:  # no writable cache location: compile in every process
                kernel = njit(**_JIT)(function)
            _KERNELS[name] = kernel
    return name, kernel


# --- when it applies, and the switch for tests -------------------------------------------

_disabled = 0


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Within this block ``sweep`` uses the plain numpy reference kernel (for tests and benchmarks)."""
    global _disabled
    _disabled += 1
    try:
        yield
    finally:
        _disabled -= 1


def applies(batch: Batch) -> bool:
    """Whether the fused kernel can run this batch (engine.sweep has checked backend, size, batch_size)."""
    if _disabled or family_for(batch) is None:
        return False
    try:
        return batch.surface.numba_formula is not None and batch.surface.p is not None
    except Exception:  # no such attribute, or a surface that cannot provide one
        return False


def ready(batch: Batch) -> bool:
    """Whether the fused kernel runs this batch without compiling: it applies and its kernel is compiled in this
    process or in numba's disk cache for this machine (loaded in ~0.03 s). engine.sweep takes it then for sweeps of
    any size, once this module (numba) is imported."""
    if not applies(batch):
        return False
    name, kernel = _kernel(family_for(batch), batch.surface.numba_formula, batch.backend.dtype)
    if name in _FAILED:
        return False
    if kernel.signatures:
        return True
    with _LOCK:
        if name not in _ON_DISK:
            _ON_DISK[name] = _cached_on_disk(kernel)
        return _ON_DISK[name]


_ON_DISK: dict[str, bool] = {}  # kernel name → whether numba's disk cache held it when first asked


def _cached_on_disk(kernel: Any) -> bool:
    """Whether numba's on-disk index holds an overload of ``kernel`` for this source, this bytecode and this CPU (what
    ``load_overload`` would find; numba's own index, so a check that fails says no)."""
    try:
        cache = kernel._cache
        codegen = kernel.targetctx.codegen()
        _, magic, code = cache._index_key(None, codegen)
        return any(key[1:] == (magic, code) for key in cache._cache_file._load_index())
    except Exception:
        return False


# --- threads -----------------------------------------------------------------------------

_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    with _LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="losslab-sweep")
        return _POOLS[threads]


# --- the sweep ---------------------------------------------------------------------------


def sweep(batch: Batch, target: float, tol: float) -> Summary | None:
    """engine.sweep's Summary computed by the fused kernel; None where it does not apply."""
    if not applies(batch):
        return None
    family = family_for(batch)
    dtype, count, surface = batch.backend.dtype, batch.rows, batch.surface
    name, kernel = _kernel(family, surface.numba_formula, dtype)
    if name in _FAILED:
        return None

    start = np.asarray(batch.start, dtype)
    with np.errstate(all="ignore"):  # the reference's first evaluation, with its numpy formula
        if hasattr(surface, "value_and_grad"):
            f0, g0 = surface.value_and_grad(start)
        else:
            f0, g0 = surface.value(start), surface.grad(start)
    f0, g0 = np.asarray(f0, dtype), np.asarray(g0, dtype)
    if not np.isfinite(f0).all():
        bad = int(np.flatnonzero(~np.isfinite(f0))[0])
        raise ValueError(f"Invalid start value: {batch.start[bad].tolist()} (the loss there is not finite)")
    rows = np.zeros((family.fields, count), dtype)
    rows[[X, Y]] = start.T
    rows[[GX, GY]] = g0.T
    rows[LOSS] = rows[BEST] = f0
    rows[LIMIT] = BLOW_UP_FACTOR * np.clip(np.abs(f0), 1.0, None)
    rows[LR] = batch.base_lr()
    ints = np.empty((2, count), np.int64)
    ints[STATUS] = -1
    ints[TO_TOL] = np.where(f0 <= target, 0, -1)
    flags = family.setup(batch, rows, family)
    factors = family.factors(batch, dtype) if family.factors else None
    index = np.zeros(1, np.int64) if factors is None or factors.index is None else factors.index

    has_noise = bool(np.any(batch.sigma > 0))
    keys = batch.keys() if has_noise else None
    sigma = _kernel_value(batch.sigma, dtype)
    sigma = sigma if isinstance(sigma, float) else sigma[:, None]
    per_row_factors = family.n_factors if factors is not None and factors.index is not None else 0
    per_step_values = (batch.schedule is not None) + 2 * has_noise + per_row_factors  # per row and step
    block = max(batch.steps, 1)
    if per_step_values:
        block = max(1, min(BLOCK, BLOCK_BYTES // (per_step_values * count * dtype.itemsize)))
    constant_lr, no_noise = np.zeros((1, 1), dtype), np.zeros((1, 2, 1), dtype)
    no_factors = np.zeros((1, 0, 1), dtype)
    p = tuple(float(v) for v in surface.p)  # a tuple: unpacking it in the formula needs no length check
    threads = max(1, int(numba.get_num_threads()))
    per_task = CHUNK * max(1, -(-count // (CHUNK * threads * 4)))  # ~4 tasks a thread: a busy core takes fewer
    tasks = [(lo, min(lo + per_task, count)) for lo in range(0, count, per_task)]

    for k0 in range(0, batch.steps, block):
        steps = min(block, batch.steps - k0)
        lr = constant_lr
        if batch.schedule is not None:
            lr = np.stack([batch.lr_at(k) for k in range(k0, k0 + steps)]).astype(dtype)
        noise_xy = no_noise
        if has_noise:  # σ·ξ as engine.Stepper computes it, laid out (step, coordinate, row)
            noise_xy = np.empty((steps, 2, count), dtype)
            for kk in range(steps):
                noise_xy[kk] = (sigma * np.asarray(noise.gaussian(keys, k0 + kk), dtype)).T
        step_factors = no_factors if factors is None else factors.block(k0, steps)
        args = (rows, ints, flags, lr, noise_xy, step_factors, index, p, dtype.type(target), k0, steps)
        try:
            if threads == 1 or len(tasks) == 1:
                kernel(*args, 0, count, 1.0)
            else:
                list(_pool(threads).map(lambda task, args=args: kernel(*args, *task, 1.0), tasks))
        except NumbaError:  # only compiling can fail: nothing has run yet
            _FAILED.add(name)
            return None

    status = ints[STATUS]
    return Summary(
        optimizer=batch.optimizer,
        hyperparameters=batch.hyperparameters(),
        final_loss=rows[LOSS].astype(np.float64),
        best_loss=rows[BEST].astype(np.float64),
        steps_to_tol=ints[TO_TOL].copy(),
        diverged_at=np.where(status < 0, -1, status >> 2),
        diverged_reason=REASONS[np.where(status < 0, 0, status & 3)],
        final_point=np.ascontiguousarray(rows[[X, Y]].T, dtype=np.float64),
        tol=tol,
    )
