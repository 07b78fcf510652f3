"""The fast path of ``sweep(backend="numpy")``: a fused, numba-compiled kernel per surface and family.

The plain numpy kernels (:mod:`optimizers.rules` stepped by ``engine.Stepper``) stay the readable
reference; this module computes the same numbers faster and is tested equal to them
(``tests/test_fast.py``). ``engine.sweep`` calls :func:`sweep` for numpy sweeps of at least
``engine.FAST_PATH_MIN_ROWS`` rows without minibatches; it returns None (the reference runs)
where it does not apply: no ``numba_formula``/``p`` on the surface, an optimizer of an unknown
family, a formula numba cannot compile, or inside :func:`disabled`.

What makes it fast (W = 4 optimizers × 4096 rows × 1000 steps: ~0.08 s against ~2 s for the
reference kernel, one thread):

- **Fused.** A row's whole step (noise, update rule, the surface's formula, the divergence rule,
  best loss and steps to tolerance) is computed in registers; numpy makes ~40 passes over (B, 2)
  temporaries per step.
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

Results: the order of operations is that of :mod:`optimizers.rules` (itself torch.optim's), so
float64 results equal the reference bit for bit, except where an elementary function (``cos``,
``exp``) differs by an ulp between numpy and libm and a chaotic row amplifies it. float32 rows
are computed in float64 and rounded to float32 where the reference stores an array (iterate,
loss, states), so they agree to float32 precision rather than bit for bit. Flags (``nesterov``,
``amsgrad``, ...) are runtime arguments that pick operands, so fewer variants compile.

Schedules, gradient noise and per-row Adam betas make per-step, per-row inputs: they are computed
in Python with the reference's own expressions, :data:`BLOCK` steps at a time, so memory stays
O(B). Rows are split over threads (numba's count, ``numba.set_num_threads``) by a Python thread
pool handing out chunks of rows: the kernel releases the GIL and a busy core simply takes fewer
chunks. No numba threading layer (``prange``) is used: an OpenMP team slows down many-fold when
another process holds a core, and the workqueue layer (numba's fallback without OpenMP or TBB)
must not be entered from two threads at once, as Streamlit's script threads would.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import types
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numba
import numpy as np
from numba import njit
from numba.core.errors import NumbaError

from . import noise, rules
from .batch import BLOW_UP_FACTOR, REASONS, Batch, Summary

CHUNK = 512  # rows per block: their state stays in cache across the steps
PAD = 8  # block row stride CHUNK + PAD: a multiple of 4 KiB makes loads wait on stores to other
# fields at the same page offset ("4K aliasing", measured twice slower)
BLOCK = 64  # steps per kernel call when schedules, noise or per-row betas need per-step inputs, or
BLOCK_BYTES = 32 * 2**20  # fewer for very large batches: at most this many bytes of those inputs at a time
_JIT = {"error_model": "numpy", "nogil": True}  # numpy float semantics: 1/0 is inf, never an exception
_RULE_JIT = {"error_model": "numpy", "inline": "always"}  # inlined into the driver's loop, so it vectorizes


# --- one optimizer step on one coordinate -----------------------------------------------
# Each rule maps (θ, g, k, ρ, per-step factors, state, hyper-parameters, flags) of one
# coordinate of one row to (θ', state'), in the order of operations of rules.py. States are
# 3-tuples, hyper-parameters 4-tuples of scalars (unused slots hold 0), flags a pair of bools.
# A runtime flag makes LLVM compute both sides, so flags select operands and the expensive
# operations (sqrt, division) appear once.


@njit(**_RULE_JIT)
def _lerp(start, end, weight):
    """torch.lerp (rules._lerp): start + w·(end − start) for |w| < ½, else end − (end − start)·(1 − w)."""
    diff = end - start
    return start + weight * diff if abs(weight) < 0.5 else end - diff * (1.0 - weight)


@njit(**_RULE_JIT)
def _maximum(a, b):
    """np.maximum on scalars: a NaN wins."""
    return a if (a >= b) | (a != a) else b


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
    return p + (-lr) * g, (buf, 0.0, 0.0)


@njit(**_RULE_JIT)
def rmsprop_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.rmsprop_step: r ← αr + (1 − α)g², centered ḡ ← lerp(ḡ, g, 1 − α), θ ← θ − ρg/(√r̃ + ε)."""
    square_avg, grad_avg, buf = state
    alpha, eps, weight_decay, momentum = hp
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
    return p, (square_avg, grad_avg, buf)


@njit(**_RULE_JIT)
def adam_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.adam_step; factors = (1 − β₁ᵗ, √(1 − β₂ᵗ)) as the reference computes them (see _factors)."""
    exp_avg, exp_avg_sq, max_exp_avg_sq = state
    beta1, beta2, eps, weight_decay = hp
    amsgrad, decoupled = flags
    bias_correction1, bias_correction2_sqrt = factors
    if decoupled:
        p = p * (1.0 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    exp_avg = _lerp(exp_avg, g, 1.0 - beta1)
    exp_avg_sq = exp_avg_sq * beta2 + ((1.0 - beta2) * g) * g
    step_size = lr / bias_correction1
    max_exp_avg_sq = _maximum(max_exp_avg_sq, exp_avg_sq) if amsgrad else max_exp_avg_sq
    denom = math.sqrt(max_exp_avg_sq if amsgrad else exp_avg_sq) / bias_correction2_sqrt + eps
    return p + ((-step_size) * exp_avg) / denom, (exp_avg, exp_avg_sq, max_exp_avg_sq)


@njit(**_RULE_JIT)
def adagrad_rule(p, g, k, lr, factors, state, hp, flags):
    """rules.adagrad_step: r ← r + g², θ ← θ − ρₖ g/(√r + ε) with ρₖ = ρ/(1 + k·lr_decay)."""
    total = state[0]
    lr_decay, eps, weight_decay = hp[0], hp[1], hp[2]
    g = g + weight_decay * p
    clr = lr / (1.0 + k * lr_decay)
    total = total + g * g
    std = math.sqrt(total) + eps
    return p + ((-clr) * g) / std, (total, 0.0, 0.0)


class Family(NamedTuple):
    """How a step function of rules.py maps onto the driver: its scalar rule and which slots it uses."""

    name: str
    rule: Callable
    n_state: int  # state slots per coordinate
    uses_factors: bool  # per-step factors (Adam's bias corrections)


FAMILIES = {
    rules.sgd_step: Family("sgd", sgd_rule, 1, False),
    rules.rmsprop_step: Family("rmsprop", rmsprop_rule, 3, False),
    rules.adam_step: Family("adam", adam_rule, 3, True),
    rules.adagrad_step: Family("adagrad", adagrad_rule, 1, False),
}


# --- the driver: a block of steps for a range of rows ------------------------------------
# Per-row data travels as one (FIELDS, B) float array and one (2, B) int64 array; the driver
# copies a chunk into a (FIELDS, CHUNK + PAD) block, whose row stride is a compile-time
# constant. What LLVM needs to vectorize the loops over a block's rows, each found the hard way:
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

X, Y, GX, GY, LOSS, BEST, LIMIT, LR, H0, H1, H2, H3 = range(12)
S0X, S0Y, S1X, S1Y, S2X, S2Y, FA, FB, NX, NY, NEWX, NEWY = range(12, 24)
FIELDS = 24  # iterate, gradient, loss, best loss, blow-up limit, lr, 4 hyper-parameters, 3 states per
# coordinate, 2 per-step factors (Adam's bias corrections), σ·ξ noise, the new iterate before the checks
STATUS, TO_TOL = 0, 1  # int fields: -1 while alive, else 4·(step it diverged at) + reason code; steps_to_tol

# Globals of the compiled copies of _driver (see _kernel): compile-time constants for numba.
FORMULA: Callable = None  # type: ignore[assignment]
RULE: Callable = None  # type: ignore[assignment]
N_STATE = 3
USES_FACTORS = False
CAST: Callable = np.float64


@njit(**_JIT)
def _copy_columns(target, target_start, source, source_start, n):
    """target[:, target_start:target_start + n] = source[:, source_start:source_start + n], as plain loops."""
    for field in range(source.shape[0]):
        for i in range(n):
            target[field, target_start + i] = source[field, source_start + i]


def _driver(rows, ints, flags, lr, noise_xy, factor1, factor2, p, target, k0, steps, lo, hi, one):
    """Advance rows [lo, hi) of ``rows`` (FIELDS, B) and ``ints`` (2, B) by ``steps`` steps from step ``k0``.

    The iterate, its loss and the gradient (taken at the unfrozen iterate, as engine.Stepper
    does) carry over between calls, with the states, best loss and int fields. Per-step inputs
    have a leading axis of length ``steps`` or 1 (constant): lr (·, B) (length 1: the LR field
    holds it), noise_xy (·, 2, B) (σ·ξ, as the reference adds it; (1, 2, 1) for no noise),
    factor1/2 (·, B) per row or (·, 1) shared.
    """
    block = np.empty((FIELDS, CHUNK + PAD), rows.dtype)
    block_ints = np.empty((2, CHUNK + PAD), np.int64)
    int_zero = np.int64(one) - 1
    has_noise = noise_xy.shape[2] > 1
    per_step_lr = lr.shape[0] > 1
    per_row_factors = factor1.shape[1] > 1
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
                if USES_FACTORS:
                    block[FA, i] = factor1[kk, c0 + i] if per_row_factors else factor1[kk, 0]
                    block[FB, i] = factor2[kk, c0 + i] if per_row_factors else factor2[kk, 0]
            for i in range(np.uint64(n)):  # the update rule
                g_x = block[GX, i]
                g_y = block[GY, i]
                if has_noise:
                    g_x = g_x + block[NX, i]
                    g_y = g_y + block[NY, i]
                hp = (block[H0, i], block[H1, i], block[H2, i], block[H3, i])
                factors = (block[FA, i], block[FB, i])
                rate = block[LR, i]
                state_x = (block[S0X, i] * one, block[S1X, i] * one, block[S2X, i] * one)
                state_y = (block[S0Y, i] * one, block[S1Y, i] * one, block[S2Y, i] * one)
                new_x, state_x = RULE(block[X, i], g_x, k, rate, factors, state_x, hp, flags)
                new_y, state_y = RULE(block[Y, i], g_y, k, rate, factors, state_y, hp, flags)
                block[S0X, i] = state_x[0]
                block[S0Y, i] = state_y[0]
                if N_STATE > 1:
                    block[S1X, i] = state_x[1]
                    block[S1Y, i] = state_y[1]
                if N_STATE > 2:
                    block[S2X, i] = state_x[2]
                    block[S2Y, i] = state_y[2]
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
                "N_STATE": family.n_state,
                "USES_FACTORS": family.uses_factors,
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
    if _disabled or batch.rule.step not in FAMILIES:
        return False
    try:
        return batch.surface.numba_formula is not None and batch.surface.p is not None
    except Exception:  # no such attribute, or a surface that cannot provide one
        return False


# --- threads -----------------------------------------------------------------------------

_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    with _LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="losslab-sweep")
        return _POOLS[threads]


# --- the sweep ---------------------------------------------------------------------------


def _kernel_value(value: Any, dtype: np.dtype) -> Any:
    """A hyper-parameter as the reference kernels see it: a Python float, or a (B,) array of dtype."""
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=dtype)


def _fill(rows: np.ndarray, batch: Batch, family: Family) -> tuple[tuple[bool, bool], bool]:
    """Write the family's hyper-parameters and initial states into ``rows``; returns (flags, per-row betas)."""
    hp = batch.hp
    scalar_zero = lambda name: np.ndim(hp[name]) == 0 and float(hp[name]) == 0.0  # noqa: E731
    if family.name == "sgd":
        slots = [hp["momentum"], hp["dampening"], hp["weight_decay"]]
        flags = (not scalar_zero("momentum"), bool(hp["nesterov"]))
    elif family.name == "rmsprop":
        slots = [hp["alpha"], hp["eps"], hp["weight_decay"], hp["momentum"]]
        flags = (bool(hp["centered"]), not scalar_zero("momentum"))
    elif family.name == "adam":
        slots = [hp["beta1"], hp["beta2"], hp["eps"], hp["weight_decay"]]
        flags = (bool(hp["amsgrad"]), bool(hp["decoupled_weight_decay"]))
    else:
        slots = [hp["lr_decay"], hp["eps"], hp["weight_decay"]]
        flags = (False, False)
        rows[[S0X, S0Y]] = _kernel_value(hp["initial_accumulator_value"], rows.dtype)  # AdaGrad's sum: 0 + v
    for field, value in zip((H0, H1, H2, H3), slots):
        rows[field] = value
    per_row_betas = family.uses_factors and np.ndim(hp["beta1"]) + np.ndim(hp["beta2"]) > 0
    return flags, per_row_betas


def _factors(batch: Batch, k0: int, steps: int, per_row: bool, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Adam's 1 − β₁ᵗ and (1 − β₂ᵗ)^½ for t = k0 + 1 ... k0 + steps, with rules.adam_step's expressions and types."""
    if not batch.hp.get("bias_correction", True):  # adam_nobc: ŝ = s, r̂ = r
        ones = np.ones((steps, 1), dtype)
        return ones, ones
    beta1, beta2 = _kernel_value(batch.hp["beta1"], dtype), _kernel_value(batch.hp["beta2"], dtype)
    ts = range(k0 + 1, k0 + steps + 1)
    if not per_row:  # Python floats, as the reference computes them for scalar betas
        return (np.array([[1 - beta1**t] for t in ts], dtype), np.array([[(1 - beta2**t) ** 0.5] for t in ts], dtype))
    shape = (batch.rows,)  # each beta keeps its own type: a Python float, or an array of dtype
    first = _per_row(beta1, ts, shape, dtype, lambda power: 1 - power)
    second = _per_row(beta2, ts, shape, dtype, lambda power: (1 - power) ** 0.5)
    return first, second


def _per_row(beta: Any, ts: range, shape: tuple[int], dtype: np.dtype, factor: Callable) -> np.ndarray:
    """factor(βᵗ) for each t as a (steps, B) array. A per-row β is raised to each power once per distinct value
    and gathered to its rows (a hyper-parameter map's meshgrid holds few distinct β₁): the same elementwise
    operations on the same values as the reference's, ~100× fewer of them."""
    if np.ndim(beta) == 0:
        return np.stack([np.broadcast_to(factor(beta**t), shape) for t in ts]).astype(dtype, copy=False)
    values, rows = np.unique(beta, return_inverse=True)
    return np.stack([factor(values**t)[rows] for t in ts]).astype(dtype, copy=False)


def sweep(batch: Batch, target: float, tol: float) -> Summary | None:
    """engine.sweep's Summary computed by the fused kernel; None where it does not apply."""
    if not applies(batch):
        return None
    family = FAMILIES[batch.rule.step]
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
    rows = np.zeros((FIELDS, count), dtype)
    rows[[X, Y]] = start.T
    rows[[GX, GY]] = g0.T
    rows[LOSS] = rows[BEST] = f0
    rows[LIMIT] = BLOW_UP_FACTOR * np.clip(np.abs(f0), 1.0, None)
    rows[LR] = batch.base_lr()
    ints = np.empty((2, count), np.int64)
    ints[STATUS] = -1
    ints[TO_TOL] = np.where(f0 <= target, 0, -1)
    flags, per_row_betas = _fill(rows, batch, family)

    has_noise = bool(np.any(batch.sigma > 0))
    keys = batch.keys() if has_noise else None
    sigma = _kernel_value(batch.sigma, dtype)
    sigma = sigma if isinstance(sigma, float) else sigma[:, None]
    per_step_values = (batch.schedule is not None) + 2 * has_noise + 2 * per_row_betas  # per row and step
    block = max(batch.steps, 1)
    if per_step_values:
        block = max(1, min(BLOCK, BLOCK_BYTES // (per_step_values * count * dtype.itemsize)))
    constant_lr, no_noise, shared = np.zeros((1, 1), dtype), np.zeros((1, 2, 1), dtype), np.ones((1, 1), dtype)
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
        factors = _factors(batch, k0, steps, per_row_betas, dtype) if family.uses_factors else (shared, shared)
        args = (rows, ints, flags, lr, noise_xy, *factors, p, dtype.type(target), k0, steps)
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
