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

    python benchmarks/engine.py [--repeats 5] [--threads 1,2] [--dtypes float64,float32] [--no-cache-check]
"""

from __future__ import annotations

import argparse
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
from optimizers.torch_baseline import torch_sweep

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
    args = parser.parse_args()
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
