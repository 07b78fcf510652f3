"""Engine benchmark: our sweep kernels against torch.optim, all rows measured in the same run.

Workload W: sgd, momentum, rmsprop and adam, each over 4096 learning rates × 1000 steps on
Rosenbrock from (−1.5, 2.0); every row is a full sweep (final and best loss, steps to
tolerance, divergence tracked). Rows:

- ours, numpy backend: ``optimizers.sweep`` as the app calls it (the fused numba fast path);
- ours, numpy reference kernel: the same with the fast path off (rules.py + engine.Stepper);
- ours, torch backend: ``optimizers.sweep(..., backend="torch")``;
- torch.optim on one (4096, 2) parameter, foreach=True, the analytic gradient assigned: the
  same arithmetic with one lr for all rows, the cheapest torch.optim can do; with the same
  bookkeeping in torch, and without it (a lower bound; the 3× target is checked against the
  cheaper of the two);
- torch.optim once per configuration (a (2,) parameter each): timed on a sample of
  configurations and steps and extrapolated to 4096 × 1000 (marked as such).

Each row is the best of several repeats. Tables for 1 and 2 threads (torch.set_num_threads,
numba.set_num_threads), float64 and float32. Then a cache check: two fresh processes sharing
an empty numba cache directory compile, then load, the four kernels.

``--per-optimizer`` (issue #17) runs instead one row per optimizer with a reference (every name in
``optimizers.names()`` but adam_nobc, which is ours only), one thread (torch and numba), float64,
4096 rows × 1000 steps on Rosenbrock from (−1.5, 2.0), both columns measured in the same run:

- ours: ``optimizers.sweep`` as the app calls it (numpy backend: the fused numba kernel where the
  optimizer's family has one, else the numpy reference kernel) over 4096 learning rates
  log-spaced over a decade either side of its race lr on Rosenbrock (``catalogue.race_lr``), so
  the fastest rows also diverge;
- the reference (torch.optim's class, or pytorch_optimizer's for the modern optimizers) in its
  cheapest form equivalent to 4096 independent rows, at the race lr (one lr: a lower bound on its
  cost, as above), the analytic gradient assigned each step and no bookkeeping (the cheaper of
  the two torch.optim rows above). Where the math is elementwise, that is one (4096, 2) parameter,
  with the cheaper of foreach on and off. Where it couples the elements of a tensor, it is 4096
  (2,) parameters (views into one (4096, 2) tensor, so one formula call gives every gradient):
  Adafactor (its second moment is factored over the rows and columns of a matrix and its step
  scaled by the tensor's RMS) and LAMB (trust ratio ‖θ‖/‖update‖ per tensor) take them as one
  group of one instance (foreach on or off, the cheaper); Prodigy's step size d is estimated from
  sums over every parameter of every group, so it takes one instance per row (foreach off: with
  one parameter each it only adds overhead); so do SAM (its perturbation is r·g/‖g‖ over every
  parameter of its groups: the instances step in lockstep, one gradient call for all of them
  between first_step and second_step) and LBFGS (its history, directions and line search are over
  the whole flattened parameter: each instance evaluates its own closure). These are timed on a
  sample of rows × steps and scaled to 4096 × 1000 (marked †); SAM's and LBFGS's over all 1000
  steps (LBFGS iterates up to max_iter times in its first steps, and returns after one evaluation
  once converged). Every other reference is elementwise at our defaults: its per-tensor state is
  scalars of the step and lr (RAdam's ρₜ, NAdam's μ product, ASGD's η and μ, MADGRAD's k,
  schedule-free's Σw and ρ_max), Adan's gradient-norm clipping is off (max_grad_norm = 0), and
  Lookahead's slow weights are per element (over Adam, its default base).

Each cell is the best of ``--repeats`` (the extrapolated ones of at most 3; ours once where one run
takes over 30 s: LBFGS); the target is ≥ 3×.

    python benchmarks/engine.py [--repeats 5] [--threads 1,2] [--dtypes float64,float32] [--no-cache-check]
    python benchmarks/engine.py --per-optimizer [--repeats 5] [--optimizers sam,lbfgs]
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np
import torch

import landscapes
import optimizers
from optimizers import fast
from optimizers.catalogue import race_lr
from optimizers.engine import fused
from optimizers.rules import RULES
from optimizers.torch_baseline import _value_and_grad, build_reference, torch_sweep

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam")
ROWS, STEPS = 4096, 1000
START = (-1.5, 2.0)
LRS = np.logspace(-5, -1, ROWS)  # from crawling to diverging: divergence tracking is exercised
TOL = 1e-6
ONE_LR = {"sgd": 1e-4, "momentum": 1e-4, "rmsprop": 1e-3, "adam": 1e-2}  # the one-parameter row's single lr
SAMPLE_CONFIGS, SAMPLE_STEPS = 4, 250  # per optimizer, for the per-configuration extrapolation

SURFACE = landscapes.get("rosenbrock")
TORCH_FORMULA = landscapes.base.bind_namespace(SURFACE.formula, torch)
TARGET = (SURFACE.minimum_value or 0.0) + TOL


def ours(dtype: str, backend: str = "numpy") -> dict[str, float]:
    times = {}
    for name in OPTIMIZERS:
        began = time.perf_counter()
        optimizers.sweep(SURFACE, name, start=START, steps=STEPS, lr=LRS, tol=TOL, backend=backend, dtype=dtype)
        times[name] = time.perf_counter() - began
    return times


def ours_reference(dtype: str) -> dict[str, float]:
    with fast.disabled():
        return ours(dtype)


def torch_one_parameter(dtype: str, track: bool = True) -> dict[str, float]:
    start = torch.tensor(START, dtype=getattr(torch, dtype)).repeat(ROWS, 1)
    times = {}
    for name in OPTIMIZERS:
        began = time.perf_counter()
        torch_sweep(name, TORCH_FORMULA, SURFACE.p, start, ONE_LR[name], STEPS, TARGET, foreach=True, track=track)
        times[name] = time.perf_counter() - began
    return times


def torch_per_configuration(dtype: str) -> dict[str, float]:
    """Extrapolated: SAMPLE_CONFIGS configurations × SAMPLE_STEPS steps, scaled to ROWS × STEPS."""
    start = torch.tensor(START, dtype=getattr(torch, dtype))
    sample = LRS[np.linspace(0, ROWS - 1, SAMPLE_CONFIGS).astype(int)]
    times = {}
    for name in OPTIMIZERS:
        began = time.perf_counter()
        for lr in sample:
            torch_sweep(name, TORCH_FORMULA, SURFACE.p, start, float(lr), SAMPLE_STEPS, TARGET, foreach=None)
        per_step = (time.perf_counter() - began) / (SAMPLE_CONFIGS * SAMPLE_STEPS)
        times[name] = per_step * ROWS * STEPS
    return times


class Row(NamedTuple):
    key: str
    label: str
    function: Callable[[str], dict[str, float]]


ROWS_TIMED = [
    Row("ours", "ours: numpy backend (default; fused numba kernel)", ours),
    Row("reference", "ours: numpy reference kernel (fast path off)", ours_reference),
    Row("torch_backend", "ours: torch backend", lambda dtype: ours(dtype, backend="torch")),
    Row("one_param", "torch.optim: one (4096, 2) parameter, foreach, one lr", torch_one_parameter),
    Row("one_param_bare", "  the same without bookkeeping (gradient and step)",
        lambda dtype: torch_one_parameter(dtype, track=False)),
    Row("per_config", "torch.optim: once per configuration (extrapolated*)", torch_per_configuration),
]


def best_of(function: Callable[[str], dict[str, float]], dtype: str, repeats: int) -> dict[str, float]:
    runs = [function(dtype) for _ in range(repeats)]
    return min(runs, key=lambda times: sum(times.values()))


def table(threads: int, dtype: str, repeats: int) -> dict[str, float]:
    """One table: every row measured now, each the best of its repeats; prints it with the targets."""
    torch.set_num_threads(threads)
    numba.set_num_threads(threads)
    ours(dtype)  # compile or load the kernels, warm the caches
    others = max(2, repeats // 2)
    results = {row.key: best_of(row.function, dtype, repeats if row.key == "ours" else others) for row in ROWS_TIMED}
    total = {key: sum(times.values()) for key, times in results.items()}
    print(f"\n{threads} thread{'s' if threads > 1 else ''}, {dtype}   (best of {repeats} for ours, {others} for "
          f"the others; load average {os.getloadavg()[0]:.2f})")
    header = f"{'row':<56}" + "".join(f"{name:>10}" for name in OPTIMIZERS) + f"{'W (s)':>10}{'vs ours':>10}"
    print(header)
    print("-" * len(header))
    for row in ROWS_TIMED:
        cells = "".join(f"{results[row.key][name]:>10.4f}" for name in OPTIMIZERS)
        print(f"{row.label:<56}{cells}{total[row.key]:>10.4f}{total[row.key] / total['ours']:>9.1f}×")
    one_param = min(total["one_param"], total["one_param_bare"])
    checks = [
        (f"ours vs torch.optim one parameter (the cheaper of its rows): {one_param / total['ours']:.1f}× "
         "(target >= 3×)", one_param >= 3 * total["ours"]),
        (f"ours vs torch.optim per configuration: {total['per_config'] / total['ours']:,.0f}× (target >= 3000×)",
         total["per_config"] >= 3000 * total["ours"]),
        (f"ours W = {total['ours']:.3f} s (target < 0.3 s on a quiet machine)", total["ours"] < 0.3),
    ]
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    return total


# --- --per-optimizer: every optimizer against its reference's cheapest equivalent form (issue #17) -----------------

OURS_ONLY = ("adam_nobc",)  # no torch.optim or pytorch_optimizer class: skipped
# References whose math couples the elements of one tensor: how B independent rows are run instead ("group": B (2,)
# parameters in one group of one instance; "instances": one instance per row). The module docstring says why.
COUPLED = {"adafactor": "group", "lamb": "group", "prodigy": "instances", "sam": "instances", "lbfgs": "instances"}
# rows × steps timed, scaled to ROWS × STEPS; "closure": the optimizers that evaluate a closure (SAM, LBFGS), over
# all the steps (LBFGS's first steps iterate, its later ones return after one evaluation)
COUPLED_SAMPLE = {"group": (512, 50), "instances": (128, 25), "closure": (16, STEPS)}
ONCE_OVER_S = 30.0  # ours: best of the repeats, or one run where one takes longer (LBFGS)
TARGET_SPEEDUP = 3.0


def per_optimizer_lrs(name: str) -> np.ndarray:
    """4096 learning rates log-spaced over a decade either side of the optimizer's race lr on Rosenbrock."""
    return race_lr(name, "rosenbrock") * np.logspace(-1, 1, ROWS)


def ours_one(name: str, steps: int = STEPS) -> float:
    began = time.perf_counter()
    optimizers.sweep(SURFACE, name, steps=steps, lr=per_optimizer_lrs(name), start=START)
    return time.perf_counter() - began


def reference_one_tensor(name: str, foreach: bool) -> float:
    """One (4096, 2) parameter at the race lr, gradient and step only."""
    start = torch.tensor(START, dtype=torch.float64).repeat(ROWS, 1)
    began = time.perf_counter()
    torch_sweep(name, TORCH_FORMULA, SURFACE.p, start, race_lr(name, "rosenbrock"), STEPS, TARGET,
                foreach=foreach, track=False)
    return time.perf_counter() - began


def reference_rows(name: str, form: str, foreach: bool) -> float:
    """Extrapolated: a sample of rows × steps (``COUPLED_SAMPLE``) of B independent (2,) parameters (views into one
    (rows, 2) tensor, so one formula call gives every gradient), scaled to ROWS × STEPS: one group at the race lr,
    or one instance per row at ours' lrs (sampled evenly: LBFGS's work per step depends on ρ). SAM's
    instances step in lockstep (every first_step, one gradient call, every second_step: its ``step(closure)``);
    LBFGS's each evaluate their own closure (the line search decides when)."""
    rule = RULES[name]
    rows, steps = COUPLED_SAMPLE["closure" if rule.closure else form]
    theta = torch.tensor(START, dtype=torch.float64).repeat(rows, 1)
    params = [torch.nn.Parameter(row) for row in theta.unbind(0)]  # share theta's storage
    kwargs = {**optimizers.defaults(name), "lr": race_lr(name, "rosenbrock")}
    lrs = per_optimizer_lrs(name)[np.linspace(0, ROWS - 1, rows).astype(int)]  # an instance each: ours, sampled

    def assign_gradients() -> None:
        with torch.no_grad():
            _, grad = _value_and_grad(TORCH_FORMULA, SURFACE.p, theta)
        for param, g in zip(params, grad.unbind(0)):
            param.grad = g

    def closure_of(param: torch.Tensor) -> Callable[[], torch.Tensor]:
        def closure() -> torch.Tensor:
            with torch.no_grad():
                f, param.grad = _value_and_grad(TORCH_FORMULA, SURFACE.p, param.detach())
            return f

        return closure

    began = time.perf_counter()
    if form == "group":
        groups = [build_reference(name, params, kwargs, foreach)]
    else:
        groups = [build_reference(name, [param], {**kwargs, "lr": float(lr)}, foreach)
                  for param, lr in zip(params, lrs)]
    closures = [closure_of(param) for param in params]
    for _ in range(steps):
        if not rule.closure:
            assign_gradients()
            for opt in groups:
                opt.step()
        elif hasattr(groups[0], "first_step"):  # SAM
            assign_gradients()
            for opt in groups:
                opt.first_step(zero_grad=True)
            assign_gradients()
            for opt in groups:
                opt.second_step()
        else:
            for opt, closure in zip(groups, closures):
                opt.step(closure)
    return (time.perf_counter() - began) / (rows * steps) * ROWS * STEPS


def best(function: Callable[[], float], repeats: int) -> float:
    return min(function() for _ in range(repeats))


def per_optimizer_table(repeats: int, only: list[str] | None = None) -> None:
    """One row per optimizer with a reference: ours and the reference's cheapest equivalent form, same run."""
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    slow = min(repeats, 3)
    names = [name for name in only or optimizers.names() if name not in OURS_ONLY]
    sample = " and ".join(f"{rows} rows × {steps} steps ({form})" for form, (rows, steps) in COUPLED_SAMPLE.items())
    print(f"Per optimizer: {ROWS} rows × {STEPS} steps on Rosenbrock from {START}, one thread, float64; seconds, "
          f"best of {repeats}.\n† extrapolated, best of {slow}: {sample} timed and scaled to {ROWS} × {STEPS}.\n"
          f"Skipped (no reference, ours only): {', '.join(OURS_ONLY)}.")
    header = (f"{'optimizer':<19}{'ours: path':<14}{'reference':<36}{'reference form':<46}{'ours s':>8}"
              f"{'ref s':>10}{'speed-up':>10}  target (>= 3x)")
    print(header)
    print("-" * len(header))
    met = []
    for name in names:
        rule = RULES[name]
        path = "fused numba" if fused(name) else "numpy kernel"
        ours_one(name, steps=5)  # compile or load the fused kernel, warm the caches
        ours_s = ours_one(name)
        if ours_s < ONCE_OVER_S and repeats > 1:
            ours_s = min(ours_s, best(functools.partial(ours_one, name), repeats - 1))
        form = COUPLED.get(name)
        for fe in () if rule.closure else (True, False):  # the first step imports and initializes (torch._dynamo,
            torch_sweep(name, TORCH_FORMULA, SURFACE.p, torch.tensor(START, dtype=torch.float64).repeat(8, 1),
                        race_lr(name, "rosenbrock"), 2, TARGET, foreach=fe, track=False)  # foreach kernels)
        if form is None:
            times = {fe: best(functools.partial(reference_one_tensor, name, fe), repeats) for fe in (True, False)}
            foreach = min(times, key=times.get)
            label = f"one ({ROWS}, 2) tensor, foreach={foreach}"
        else:
            fes = (False,) if form == "instances" else (True, False)  # one (2,) parameter each: foreach only costs
            times = {fe: best(functools.partial(reference_rows, name, form, fe), slow) for fe in fes}
            foreach = min(times, key=times.get)
            where = "1 group" if form == "group" else "1 instance each"
            label = f"{ROWS} (2,) params, {where}, fe={foreach}†"
        ref_s = times[foreach]
        ok = ref_s >= TARGET_SPEEDUP * ours_s
        met.append(ok)
        print(f"{name:<19}{path:<14}{rule.reference + '.' + rule.torch_name:<36}{label:<46}{ours_s:>8.3f}"
              f"{ref_s:>10.3f}{ref_s / ours_s:>9.1f}×  {'met' if ok else 'MISSED'}", flush=True)
    print(f"\n{sum(met)} of {len(met)} optimizers meet >= {TARGET_SPEEDUP:.0f}× (load average "
          f"{os.getloadavg()[0]:.2f}).")


CACHE_PROBE = textwrap.dedent(
    """
    import time
    began = time.perf_counter()
    import numpy as np, landscapes, optimizers
    from optimizers import fast
    imported = time.perf_counter()
    s = landscapes.get("rosenbrock")
    for name in {optimizers!r}:
        optimizers.sweep(s, name, start=(-1.5, 2.0), steps=10, lr=np.logspace(-5, -1, 512))
    done = time.perf_counter()
    hits = sum(sum(k.stats.cache_hits.values()) for k in fast._KERNELS.values())
    misses = sum(sum(k.stats.cache_misses.values()) for k in fast._KERNELS.values())
    print(f"{{imported - began:.2f}} {{done - imported:.2f}} {{hits}} {{misses}}")
    """
)


def cache_check() -> None:
    """Two fresh processes, one empty numba cache directory: the first compiles, the second loads."""
    print("\nnumba cache across processes (4 kernels: sgd, momentum (same kernel as sgd), rmsprop, adam):")
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        for label in ("first process (empty cache)", "second process"):
            out = subprocess.run(
                [sys.executable, "-c", CACHE_PROBE.format(optimizers=OPTIMIZERS)],
                env=env, capture_output=True, text=True, check=True,
            ).stdout.split()
            imported, first_sweeps, hits, misses = float(out[0]), float(out[1]), int(out[2]), int(out[3])
            print(f"  {label:<30} import {imported:5.2f} s, first sweeps (compile or load) {first_sweeps:6.2f} s, "
                  f"cache hits {hits}, misses {misses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--no-cache-check", action="store_true")
    parser.add_argument("--per-optimizer", action="store_true",
                        help="only the per-optimizer table (issue #17): every optimizer vs its reference's cheapest "
                             "equivalent form, one thread, float64")
    parser.add_argument("--optimizers", default="", help="with --per-optimizer: these only (comma-separated)")
    args = parser.parse_args()
    if args.per_optimizer:
        per_optimizer_table(args.repeats, [name for name in args.optimizers.split(",") if name])
        return
    print(f"W = {', '.join(OPTIMIZERS)} × {ROWS} learning rates × {STEPS} steps on Rosenbrock from {START}; "
          f"times in seconds.\n* torch.optim once per configuration: {SAMPLE_CONFIGS} configurations × "
          f"{SAMPLE_STEPS} steps per optimizer, timed and scaled to {ROWS} × {STEPS}.")
    for threads in (int(t) for t in args.threads.split(",")):
        for dtype in args.dtypes.split(","):
            table(threads, dtype, args.repeats)
    if not args.no_cache_check:
        cache_check()


if __name__ == "__main__":
    main()
