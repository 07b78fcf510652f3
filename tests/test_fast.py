"""The fused numba sweep kernel (optimizers.fast) equals the plain numpy reference kernel.

Every optimizer on several surfaces, random per-row hyper-parameters and starts, with and
without a schedule and gradient noise, and every fused rule under every combination of its
flags: ``sweep`` through the fast path against ``sweep`` with it disabled. Rows must agree
exactly in diverged_at, diverged_reason and steps_to_tol, and to 1e-9 relative in final/best
loss and final point. A row that differs is skipped only if it is chaotic: the reference itself
moves past that tolerance when its start, or every gradient, is moved by one ulp
(tests/torch_reference.py's rule), or when the surface's elementary functions (cos, tanh, ...)
are evaluated by libm, as the compiled kernel does, instead of numpy's own implementations,
which may differ by an ulp (MADGRAD's ∛S too: the kernel's is libm's pow within an ulp, numpy's
differs from libm's). Skipped rows are counted and must stay a minority.
"""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
import textwrap
import zlib
from fractions import Fraction
from pathlib import Path
from unittest import mock

import numba
import numpy as np
import pytest

import landscapes
import optimizers
from optimizers import batch, catalogue, engine, fast, rules, schedules
from tests.test_optimizers_torch import random_hyperparameters, random_starts, wrapper_hyperparameters

ROWS = 320  # above engine.FAST_PATH_MIN_ROWS
STEPS = 200
TOLERANCE = 1e-9
VARIANTS = ("plain", "schedule+noise")
FUSED = [name for name in optimizers.names() if optimizers.RULES[name].step in fast.FAMILIES
         or name.startswith("schedulefree")]  # the others (SAM, LBFGS, ...) have no fused family: their sweeps run the
# reference kernel; Lookahead's is composed per base (below)
LOOKAHEAD = [  # (base, pullback_momentum) fused: momentum buffers reset or kept, bases with and without factors
    ("adam", "none"), ("adamw", "pullback"), ("momentum", "reset"), ("nesterov", "none"), ("sgd", "reset"),
    ("rmsprop", "reset"), ("rmsprop", "none"), ("nadam", "reset"), ("asgd", "none"), ("rprop", "none"),
]
LOOKAHEAD_FALLBACKS = [  # the reference runs: a slow momentum buffer, no room for κ, φ and θ_slow, a row rule
    ("momentum", "pullback"), ("rmsprop", "pullback"), ("madgrad", "none"), ("ademamix", "reset"), ("adabound", "none"),
    ("lamb", "none"), ("prodigy", "none"), ("schedulefree_adamw", "none"),
]
# Every fused optimizer on two surfaces, a few on two more: each (surface, family) compiles a kernel (~2-3 s).
CASES = [
    *((optimizer, surface, variant) for surface in ("rosenbrock", "rastrigin") for optimizer in FUSED
      for variant in VARIANTS),
    *((optimizer, "beale", variant) for optimizer in ("nesterov", "adamw") for variant in VARIANTS),
    *(("rmsprop", "cliff", variant) for variant in VARIANTS),  # tanh: numpy's and libm's differ by ulps here
]
FLOATS = ("final_loss", "best_loss", "final_point")
EXACT = ("diverged_at", "diverged_reason", "steps_to_tol")
TOTALS = {"rows": 0, "chaotic": 0, "diverged": 0}  # chaotic: differing rows skipped as chaotic


class GradientNudged:
    """A surface whose every gradient is moved up by one ulp; no numba formula, so sweeps use the reference."""

    def __init__(self, surface):
        self.surface = surface
        self.minimum_value = surface.minimum_value
        self.default_start = surface.default_start

    def value(self, xy):
        return self.surface.value(xy)

    def grad(self, xy):
        return np.nextafter(self.surface.grad(xy), np.inf)

    def value_and_grad(self, xy):
        value, grad = self.surface.value_and_grad(xy)
        return value, np.nextafter(grad, np.inf)


class LibmEvaluated:
    """A surface evaluated point by point by its numba-compiled formula (libm's elementary functions)."""

    def __init__(self, surface):
        self.formula = numba.njit(error_model="numpy")(surface.numba_formula.py_func)  # as the kernel compiles it
        self.p = tuple(float(v) for v in surface.p)
        self.minimum_value = surface.minimum_value
        self.default_start = surface.default_start

    def value_and_grad(self, xy):
        values = np.array([self.formula(float(x), float(y), self.p) for x, y in np.asarray(xy).reshape(-1, 2)])
        return values[:, 0].reshape(xy.shape[:-1]), values[:, 1:].reshape(xy.shape)

    def value(self, xy):
        return self.value_and_grad(xy)[0]

    def grad(self, xy):
        return self.value_and_grad(xy)[1]


def differs(a: optimizers.Summary, b: optimizers.Summary) -> np.ndarray:
    """(B,) rows where two summaries disagree beyond the tolerance."""
    bad = np.zeros(len(a.final_loss), dtype=bool)
    for name in FLOATS:
        x, y = getattr(a, name), getattr(b, name)
        error = np.abs(x - y) / np.maximum(1.0, np.abs(y))
        bad |= (error > TOLERANCE).reshape(len(bad), -1).any(axis=1)
    for name in EXACT:
        bad |= getattr(a, name) != getattr(b, name)
    return bad


def reference(surface, optimizer, starts, **kwargs) -> optimizers.Summary:
    with fast.disabled():
        return optimizers.sweep(surface, optimizer, start=starts, steps=STEPS, **kwargs)


def chaotic_rows(surface, optimizer, starts, ours_reference, **kwargs) -> np.ndarray:
    """Rows where the reference itself moves past the tolerance under an ulp-sized change of its inputs.

    The changes: the start moved up by one ulp, every gradient moved up by one ulp, and the surface
    evaluated with libm's elementary functions instead of numpy's (the kernels' only legitimate
    difference), and so MADGRAD's ∛S.
    """
    perturbed = [
        reference(surface, optimizer, np.nextafter(starts, np.inf), **kwargs),
        reference(GradientNudged(surface), optimizer, starts, **kwargs),
        reference(LibmEvaluated(surface), optimizer, starts, **kwargs),
    ]
    if optimizers.RULES[optimizer].step is rules.madgrad_step:
        with mock.patch.object(rules, "_cube_root_rms", kernel_cube_root_rms):
            perturbed.append(reference(surface, optimizer, starts, **kwargs))
    return np.any([differs(summary, ours_reference) for summary in perturbed], axis=0)


@numba.njit
def _kernel_cube_roots(values):
    out = np.empty(values.size)
    for i in range(values.size):
        out[i] = fast._pow_third(values[i])
    return out


def kernel_cube_root_rms(xp, grad_sum_sq, eps):
    """rules._cube_root_rms with the compiled kernel's ∛S (fast._pow_third: libm's pow within an ulp) for numpy's."""
    rms = _kernel_cube_roots(np.ascontiguousarray(grad_sum_sq).ravel()).reshape(grad_sum_sq.shape) + eps
    return xp.where(rms == 0, math.inf, rms)


def case_kwargs(optimizer: str, variant: str, rng: np.random.Generator) -> dict:
    kwargs = random_hyperparameters(optimizer, rng, ROWS)
    if variant == "schedule+noise":
        kwargs["schedule"] = schedules.StepLR(step_size=20, gamma=0.5)
        kwargs["noise"] = rng.uniform(0.0, 0.5, ROWS) * (rng.random(ROWS) < 0.8)  # per row, some rows none
        kwargs["seed"] = int(rng.integers(2**32))
    return kwargs


def lookahead_kwargs(base: str, pullback: str, variant: str, rng: np.random.Generator) -> dict:
    """Lookahead over ``base`` with random per-row κ, φ and the base's random keywords (Lookahead's φ is its own)."""
    return {**case_kwargs(base, variant, rng), **wrapper_hyperparameters("lookahead", rng, ROWS),
            "base_optimizer": base, "pullback_momentum": pullback}


def prepared(surface, optimizer, starts, kwargs) -> batch.Batch:
    """The batch ``optimizers.sweep`` makes of these arguments."""
    engine_keys = ("schedule", "noise", "seed")
    engine_kwargs = {key: kwargs[key] for key in engine_keys if key in kwargs}
    return batch.prepare(surface, optimizer, starts, STEPS, **engine_kwargs, keep_trajectories=False,
                         hyperparameters={k: v for k, v in kwargs.items() if k not in engine_keys})


def assert_agrees(surface, optimizer, starts, kwargs, max_chaotic_fraction=0.25) -> dict:
    ours = optimizers.sweep(surface, optimizer, start=starts, steps=STEPS, **kwargs)
    theirs = reference(surface, optimizer, starts, **kwargs)
    for name in (*FLOATS, "steps_to_tol", "diverged_at", "diverged_reason"):
        assert getattr(ours, name).shape == getattr(theirs, name).shape, name
        assert getattr(ours, name).dtype == getattr(theirs, name).dtype, name
    for name in FLOATS:
        assert np.isfinite(getattr(ours, name)).all(), name
    assert ours.hyperparameters.keys() == theirs.hyperparameters.keys()
    mismatched = differs(ours, theirs)
    chaotic = np.zeros_like(mismatched)
    if mismatched.any():  # as tests/torch_reference.py: only rows that differ need the chaos check
        chaotic = mismatched & chaotic_rows(surface, optimizer, starts, theirs, **kwargs)
    real = np.flatnonzero(mismatched & ~chaotic)
    if real.size:
        row = int(real[0])
        raise AssertionError(
            f"{optimizer} row {row} differs from the reference and is not chaotic: "
            + ", ".join(f"{n}: {getattr(ours, n)[row]} vs {getattr(theirs, n)[row]}" for n in (*FLOATS, *EXACT))
        )
    counts = {"rows": len(starts), "chaotic": int(chaotic.sum()), "diverged": int((theirs.diverged_at >= 0).sum())}
    assert counts["chaotic"] <= max_chaotic_fraction * len(starts), counts
    for key, value in counts.items():
        TOTALS[key] += value
    return counts


@pytest.mark.parametrize(("optimizer", "surface_name", "variant"), CASES)
def test_fast_sweep_equals_reference(optimizer, surface_name, variant):
    rng = np.random.default_rng(zlib.crc32(f"{optimizer}/{surface_name}/{variant}".encode()))
    surface = landscapes.get(surface_name)
    starts = random_starts(surface, rng, ROWS)
    assert_agrees(surface, optimizer, starts, case_kwargs(optimizer, variant, rng))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("base", "pullback"), LOOKAHEAD)
def test_lookahead_over_a_fused_base_equals_reference(base, pullback, variant):
    surface = landscapes.get("rosenbrock")
    rng = np.random.default_rng(zlib.crc32(f"lookahead/{base}/{pullback}/{variant}".encode()))
    starts = random_starts(surface, rng, ROWS)
    kwargs = lookahead_kwargs(base, pullback, variant, rng)
    assert fast.family_for(prepared(surface, "lookahead", starts, kwargs)) is not None
    assert_agrees(surface, "lookahead", starts, kwargs)


@pytest.mark.parametrize(("base", "pullback"), LOOKAHEAD_FALLBACKS)
def test_lookahead_falls_back_to_the_reference_where_it_cannot_fuse(base, pullback):
    surface = landscapes.get("rosenbrock")
    rng = np.random.default_rng(zlib.crc32(f"lookahead-fallback/{base}/{pullback}".encode()))
    starts = random_starts(surface, rng, ROWS)
    prepared_batch = prepared(surface, "lookahead", starts, lookahead_kwargs(base, pullback, "plain", rng))
    assert fast.family_for(prepared_batch) is None
    assert not fast.applies(prepared_batch)
    assert fast.sweep(prepared_batch, 0.0, 1e-6) is None


@pytest.mark.parametrize("optimizer", ["schedulefree_sgd", "schedulefree_adamw"])
def test_schedulefree_warmup_and_a_rising_schedule(optimizer):
    """ρ_max changes while ρₜ rises: a shared warmup across kernel blocks (then one factor column for every row), the
    per-row warmups of a map, and a LinearLR ramp with per-row lengths under a warmup; shared and per-row r, β₂."""
    surface = landscapes.get("rosenbrock")
    rng = np.random.default_rng(zlib.crc32(f"schedulefree-warmup/{optimizer}".encode()))
    adam = optimizer == "schedulefree_adamw"
    for warmup, schedule, shared in itertools.product(
        (0.0, 70.0, rng.integers(0, 150, ROWS).astype(float)),
        (None, schedules.LinearLR(start_factor=0.2, total_iters=rng.integers(1, 180, ROWS))),
        (True, False),
    ):
        starts = random_starts(surface, rng, ROWS)
        kwargs = {**random_hyperparameters(optimizer, rng, ROWS), "warmup_steps": warmup, "schedule": schedule}
        if shared:
            kwargs.update(r=1.0, weight_lr_power=2.0, **({"betas": (0.9, 0.999), "ams_bound": True} if adam else {}))
        assert_agrees(surface, optimizer, starts, kwargs)


@pytest.mark.parametrize("optimizer", FUSED)
def test_scalar_hyperparameters_and_shared_start(optimizer):
    """The app's and the benchmark's case: only lr per row, defaults elsewhere (scalar flags, scalar betas)."""
    surface = landscapes.get("rosenbrock")
    starts = np.broadcast_to(np.array(surface.default_start), (ROWS, 2))
    assert_agrees(surface, optimizer, starts, {"lr": np.logspace(-5, -1, ROWS)})


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_divergence_matches(optimizer):
    """Learning rates up to 1e90: rows blow up, or overflow in one step (non-finite), at the same step."""
    surface = landscapes.get("rosenbrock")
    rng = np.random.default_rng(7)
    starts = random_starts(surface, rng, ROWS)
    kwargs = {"lr": 10 ** rng.uniform(-3, 90, ROWS), "noise": 0.1}
    assert_agrees(surface, optimizer, starts, kwargs)
    ours = optimizers.sweep(surface, optimizer, start=starts, steps=STEPS, **kwargs)
    for reason in ("blow-up", "non-finite"):
        assert (ours.diverged_reason == reason).sum() >= ROWS // 20, reason


def test_chaotic_rows_stay_a_minority():
    """Runs after the equivalence tests in this module: over all of them, chaotic rows are few."""
    if TOTALS["rows"] == 0:
        pytest.fail("the equivalence tests did not run before this check")
    print(f"\nfast path vs reference: {TOTALS}")
    assert TOTALS["chaotic"] <= 0.05 * TOTALS["rows"], TOTALS


def flag_keywords(optimizer: str) -> list[str]:
    return [key for key, default in optimizers.defaults(optimizer).items() if isinstance(default, bool)]


@pytest.mark.parametrize("optimizer", [name for name in FUSED if flag_keywords(name)])
def test_every_combination_of_flags(optimizer):
    """Each fused rule under every combination of its flags (the random cases draw one per batch), with random
    per-row hyper-parameters; a combination the library refuses (Nesterov without momentum) is skipped."""
    surface = landscapes.get("rosenbrock")
    keys = flag_keywords(optimizer)
    rng = np.random.default_rng(zlib.crc32(f"flags/{optimizer}".encode()))
    ran = 0
    for combination in itertools.product((False, True), repeat=len(keys)):
        starts = random_starts(surface, rng, ROWS)
        kwargs = {**random_hyperparameters(optimizer, rng, ROWS), **dict(zip(keys, combination))}
        try:
            batch.prepare(surface, optimizer, starts, STEPS, hyperparameters=kwargs, keep_trajectories=False)
        except ValueError:
            continue
        assert_agrees(surface, optimizer, starts, kwargs)
        ran += 1
    assert ran >= 2 ** (len(keys) - 1), ran


@pytest.mark.parametrize("surface_name", ["rosenbrock", "rastrigin"])
def test_madgrad_equals_the_reference_with_the_kernels_cube_root_bit_for_bit(surface_name):
    """MADGRAD's only difference from the reference is ∛S (numpy's pow there, fast._pow_third here): with the same ∛S
    the two agree bit for bit, in both weight-decay modes, with and without a schedule and noise. (Its rows with α = 0
    recompute θ₀ from sums each step, a cancellation that turns an ulp of ∛S into ~1e-8: the chaotic rows above.)"""
    surface = landscapes.get(surface_name)
    rng = np.random.default_rng(zlib.crc32(f"madgrad-exact/{surface_name}".encode()))
    for decoupled, variant in itertools.product((False, True), VARIANTS):
        starts = random_starts(surface, rng, ROWS)
        kwargs = {**case_kwargs("madgrad", variant, rng), "weight_decouple": decoupled}
        ours = optimizers.sweep(surface, "madgrad", start=starts, steps=STEPS, **kwargs)
        with mock.patch.object(rules, "_cube_root_rms", kernel_cube_root_rms):
            theirs = reference(surface, "madgrad", starts, **kwargs)
        for name in (*FLOATS, *EXACT):
            np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=name)


def test_the_cube_root_is_libms_pow_within_an_ulp():
    """MADGRAD's ∛S (fast._pow_third, vectorizable) against x ** (1/3), numpy's and libm's: within an ulp everywhere,
    equal to libm's in nearly every case, and 0, ∞, NaN as pow's."""
    rng = np.random.default_rng(5)
    x = np.concatenate([10 ** rng.uniform(-320, 308, 100_000), rng.uniform(0, 10, 100_000), [0.0, np.inf, np.nan]])
    ours = np.array([fast._pow_third(v) for v in x])
    libm = np.array([v ** (1 / 3) for v in x.tolist()])  # Python's float pow: libm's
    special = ~np.isfinite(x) | (x == 0)
    np.testing.assert_array_equal(ours[special], x[special])
    ours, libm, x = ours[~special], libm[~special], x[~special]
    for theirs in (libm, x ** (1 / 3)):
        np.testing.assert_array_less(np.abs(ours - theirs), 1.01 * np.spacing(theirs))
    assert (ours == libm).mean() > 0.99


def test_float32_agrees_to_float32_precision():
    """float32 rows are computed in float64 and rounded where the reference stores: close, not identical. Adafactor's
    RMS normalizations and Prodigy's d, a ratio of sums, move float32 itself away from float64 (the reference's own
    float32 rows: up to 1e-3 and 1e-1 after 200 steps here): there, the fused float32 rows are as close to float64."""
    surface = landscapes.get("quadratic", condition=20.0, angle=30.0)
    rng = np.random.default_rng(3)
    starts = random_starts(surface, rng, ROWS)
    for optimizer in ("adam", "adamw", "nadam", "asgd", "adafactor", "adan", "prodigy", "schedulefree_sgd",
                      "schedulefree_adamw", "lookahead"):  # float32 scalars: ASGD's η, NAdam's μ product, Adan's
        # clipping, Prodigy's d; Adafactor's ε₁ (θ's machine epsilon); schedule-free's Σw and ρ_max^p
        kwargs = {"lr": 10 ** rng.uniform(-3, -1.5, ROWS)}
        if optimizer.startswith("schedulefree"):
            kwargs["warmup_steps"] = 20
        ours = optimizers.sweep(surface, optimizer, start=starts, steps=STEPS, dtype="float32", **kwargs)
        theirs = reference(surface, optimizer, starts, dtype="float32", **kwargs)
        np.testing.assert_array_equal(ours.diverged_at, theirs.diverged_at)
        if optimizer in ("adafactor", "prodigy"):
            exact = reference(surface, optimizer, starts, **kwargs).final_point
            errors = [np.abs(summary.final_point - exact).max() for summary in (ours, theirs)]
            assert errors[0] <= 2 * errors[1] + 1e-5, errors
            continue
        np.testing.assert_allclose(ours.final_point, theirs.final_point, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ours.best_loss, theirs.best_loss, rtol=1e-4, atol=1e-6)


def test_zero_steps_and_non_finite_start():
    surface = landscapes.get("rosenbrock")
    starts = random_starts(surface, np.random.default_rng(0), ROWS)
    ours = optimizers.sweep(surface, "adam", start=starts, steps=0, lr=1e-2)
    with fast.disabled():
        theirs = optimizers.sweep(surface, "adam", start=starts, steps=0, lr=1e-2)
    assert not differs(ours, theirs).any()
    starts[5] = (1e200, 1e200)
    with pytest.raises(ValueError, match=r"Invalid start value: \[1e\+200, 1e\+200\] \(the loss there is not finite\)"):
        optimizers.sweep(surface, "adam", start=starts, steps=10, lr=1e-2)


def unsupported_formula(x, y, p):
    """Runs on numpy; numba cannot type a Fraction, so the fast path must step aside."""
    scale = float(Fraction(1, 1))
    return scale * (x * x + y * y), scale * 2.0 * x, scale * 2.0 * y


def test_formula_numba_cannot_compile_falls_back_to_the_reference():
    surface = landscapes.FormulaLandscape(
        name="unsupported", formula=unsupported_formula, p=(), params={}, bounds=((-1.0, 1.0), (-1.0, 1.0)),
        minima=((0.0, 0.0),), minimum_value=0.0, default_start=(0.5, 0.5),
    )  # fmt: skip
    rng = np.random.default_rng(2)
    starts = random_starts(surface, rng, ROWS)
    ours = optimizers.sweep(surface, "adam", start=starts, steps=20, lr=1e-2)
    with fast.disabled():
        theirs = optimizers.sweep(surface, "adam", start=starts, steps=20, lr=1e-2)
    assert not differs(ours, theirs).any()
    assert any("unsupported_formula" in name for name in fast._FAILED)


def test_fast_path_runs_large_numpy_sweeps_and_small_ones_where_numba_has_the_kernel(monkeypatch):
    surface = landscapes.get("rosenbrock")

    def no_reference(*args, **kwargs):
        raise AssertionError("the reference kernel ran")

    monkeypatch.setattr(engine, "Stepper", no_reference)
    summary = optimizers.sweep(surface, "adam", steps=5, lr=np.full(engine.FAST_PATH_MIN_ROWS, 1e-2))
    assert summary.final_loss.shape == (engine.FAST_PATH_MIN_ROWS,)
    small = optimizers.sweep(surface, "adam", steps=5, lr=np.full(3, 1e-2))  # numba imported, the kernel compiled
    assert small.final_loss.shape == (3,)
    for on, kwargs in (
        (surface, {"lr": np.full(ROWS, 1e-2), "backend": "torch"}),
        (GradientNudged(surface), {"lr": np.full(ROWS, 1e-2)}),  # no numba formula
    ):
        with pytest.raises(AssertionError, match="the reference kernel ran"):
            optimizers.sweep(on, "adam", steps=5, **kwargs)
    with fast.disabled(), pytest.raises(AssertionError, match="the reference kernel ran"):
        optimizers.sweep(surface, "adam", steps=5, lr=np.full(ROWS, 1e-2))
    monkeypatch.setattr(fast, "ready", lambda batch: False)  # a kernel numba would have to compile first
    with pytest.raises(AssertionError, match="the reference kernel ran"):
        optimizers.sweep(surface, "adam", steps=5, lr=np.full(engine.FAST_PATH_MIN_ROWS - 1, 1e-2))


SMALL_SWEEP_PROBE = textwrap.dedent(
    """
    import sys
    import numpy as np, landscapes, optimizers
    from optimizers import engine
    stepped, original = [], engine.Stepper
    engine.Stepper = lambda batch: stepped.append(batch.optimizer) or original(batch)
    s = landscapes.get("rosenbrock")
    optimizers.sweep(s, "adam", steps=3, lr=np.full(16, 0.1))  # numba not imported: the numpy kernel
    imported = "numba" in sys.modules
    from optimizers import fast
    optimizers.sweep(s, "adam", steps=3, lr=np.full(16, 0.1))  # on disk: loaded, not compiled
    optimizers.sweep(s, "lion", steps=3, lr=np.full(16, 0.1), start=(0.25, 0.5))  # never compiled: the numpy kernel
    hits = sum(sum(k.stats.cache_hits.values()) for k in fast._KERNELS.values())
    misses = sum(sum(k.stats.cache_misses.values()) for k in fast._KERNELS.values())
    print(",".join(stepped), imported, hits, misses)
    """
)


def test_a_small_sweep_takes_the_fused_kernel_only_where_numba_is_loaded_and_the_kernel_cached(tmp_path):
    """Below engine.FAST_PATH_MIN_ROWS a sweep never imports numba nor waits for a compile: in a new process, the
    numpy kernel; once numba is imported, the fused kernel where its disk cache holds it (one load, no compile)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
           "NUMBA_CACHE_DIR": str(tmp_path)}  # a cache of adam's kernel alone: compiled there first
    subprocess.run([sys.executable, "-c", CACHE_PROBE], env=env, cwd=root, check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-c", SMALL_SWEEP_PROBE], env=env, cwd=root, capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    assert out == ["adam,lion", "False", "1", "0"]


def test_threads_give_identical_results():
    surface = landscapes.get("rastrigin")
    rng = np.random.default_rng(11)
    starts = random_starts(surface, rng, 3 * fast.CHUNK + 17)  # several chunks, a ragged last one
    kwargs = {"lr": 10 ** rng.uniform(-4, -1.5, len(starts)), "noise": 0.2, "seed": 5}
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = optimizers.sweep(surface, "rmsprop", start=starts, steps=STEPS, **kwargs)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = optimizers.sweep(surface, "rmsprop", start=starts, steps=STEPS, **kwargs)
    finally:
        numba.set_num_threads(previous)
    for name in (*FLOATS, *EXACT):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))


def test_kernel_cache_names_follow_the_formula():
    """Kernel (and cache file) names follow the formula's code and the dtype, not the surface's parameters."""
    rosenbrock, rastrigin = landscapes.get("rosenbrock"), landscapes.get("rastrigin")
    family = fast.FAMILIES[optimizers.RULES["adam"].step]
    name = lambda s: fast._kernel_name(family, s.numba_formula.py_func, np.dtype("float64"))  # noqa: E731
    assert name(rosenbrock) == name(landscapes.get("rosenbrock", b=10.0))  # parameters travel in p
    assert name(rosenbrock) != name(rastrigin)
    assert fast._kernel_name(family, rosenbrock.numba_formula.py_func, np.dtype("float32")) != name(rosenbrock)


CACHE_PROBE = textwrap.dedent(
    """
    import numpy as np, landscapes, optimizers
    from optimizers import fast
    optimizers.sweep(landscapes.get("rosenbrock"), "adam", steps=3, lr=np.full(300, 0.1))
    (kernel,) = fast._KERNELS.values()
    print(sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values()))
    """
)


def test_compiled_kernel_is_cached_across_processes():
    """A new process loads the kernel this one compiled or loaded (numba's disk cache, keyed by the kernel's name).

    Were the formula passed to the kernel as an argument, its type would hold a per-process object and
    every process would miss the cache and compile again.
    """
    optimizers.sweep(landscapes.get("rosenbrock"), "adam", steps=3, lr=np.full(300, 0.1))  # now on disk
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", CACHE_PROBE], env=env, cwd=root, capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    assert (int(out[0]), int(out[1])) == (1, 0)  # one cache hit, no compilation


def test_every_family_fits_the_driver():
    """A family's slots fit the driver's fixed-size tuples, Lookahead's composed ones too."""
    surface = landscapes.get("rosenbrock")
    composed = [fast.family_for(batch.prepare(surface, "lookahead", None, 1, hyperparameters={"base_optimizer": base}))
                for base in catalogue.BASES]
    assert sum(family is not None for family in composed) >= 10, composed
    for family in [*fast.FAMILIES.values(), *fast.SCHEDULEFREE.values(), *filter(None, composed)]:
        assert all(getattr(family, key) <= most for key, most in fast.SLOTS.items()), family.name
        assert (family.factors is None) == (family.n_factors == 0), family.name


def test_the_engine_knows_which_rules_are_fused_without_importing_numba():
    """``optimizers.engine.fused`` (what the compute budget asks) agrees with the fused families themselves."""
    from optimizers.engine import fused

    for name, rule in optimizers.RULES.items():
        if rule.wraps != "instance":
            assert fused(name) == (rule.step in fast.FAMILIES or rule.step in fast.PER_BATCH), name
    surface = landscapes.get("rosenbrock")
    for base in catalogue.BASES:  # Lookahead's: over its base, with its pullback option
        for pullback in catalogue.spec("pullback_momentum", "lookahead").choices:
            hyper = {"base_optimizer": base, "pullback_momentum": pullback}
            family = fast.family_for(batch.prepare(surface, "lookahead", None, 1, hyperparameters=hyper))
            assert fused("lookahead", hyper) == (family is not None), hyper
    assert fused("lookahead")  # over Adam, its default base
