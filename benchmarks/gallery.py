"""Gallery benchmark: every optimizer × 64 ρ × 1000 steps on Rosenbrock, tuned and drawn (no image export).

Workload G: ``losslab.gallery.gallery(GalleryConfig(surface="rosenbrock"))`` (per optimizer one batched
``optimizers.sweep`` of 64 log-spaced ρ over the ρ sliders' range, then its race at the best ρ through
``race.run_one``) and ``losslab.gallery.figure`` (``plots.gallery``: the panels' landscape layer and the small
multiples), for every optimizer of ``optimizers.names()`` at the time it runs. One thread
(``losslab.threads.one_thread_per_computation``, before numba or torch load); everything run once first (numba's
on-disk cache warm: each fused kernel compiled by a sweep of ``engine.FAST_PATH_MIN_ROWS`` rows; the subplot grid
cached); each time the best of ``--repeats``. Target: G under 3 s.

The tuning's sweeps are 64 rows, below ``engine.FAST_PATH_MIN_ROWS`` (256): the gallery imports numba
(``gallery.FUSED_SETUP_S``) and the engine runs each of them in its fused kernel where numba has it compiled or cached
on disk (``optimizers.fast.ready``), in the numpy kernel for the rules without one (SAM, LBFGS; Lookahead over a base
without a coordinate family).

Rows: the whole of G, and its parts timed alone: the tuning (the sweeps, ``maps.lr_curves`` per optimizer), the
races at the best ρ, the drawing; the budget's estimate of G (``gallery.cost``, the numpy kernel's cost: an upper
bound); the same run's baseline, G and its tuning with every sweep in the numpy kernel (``optimizers.fast.disabled``:
the gallery before its tuning took the fused kernels); and G in a fresh process each time (the CLI's case: numba's
import and the kernels' loads from the disk cache included, the other imports not). Each row in wall-clock seconds
and in this process's CPU seconds (the same on a quiet machine; a shared one inflates the first only).
``--without NAME,...`` leaves optimizers out of G (timing each of them once, tuned and raced, instead).

Measured on the 2-core machine (load average ~2.6 from other jobs), 29 optimizers of which 27 fused (SAM and LBFGS
in the numpy kernel; LBFGS's budget is 1000 gradient evaluations, 40 of its steps): G 1.62 s wall, 1.60 s CPU,
against 2.84 s with every sweep in the numpy kernel (the races at the best ρ 0.97 s, the drawing 0.07 s), and 2.33 s
in a fresh process. The budget's estimate, 6.3 s, is an upper bound (the numpy kernel's cost).

The comparison with pytorch-optimizer's own gallery script, ``examples/visualize_optimizers.py`` (a hyperopt search
of ρ per optimizer, then one plot each), is benchmarks/gallery_peer.py's (it imports CONFIG, whole and best from here).

    python benchmarks/gallery.py [--repeats 3] [--without lbfgs]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from losslab.threads import one_thread_per_computation  # noqa: E402

one_thread_per_computation()  # before numba or torch load

import numpy as np  # noqa: E402

import optimizers  # noqa: E402
from losslab import gallery, maps, race  # noqa: E402
from optimizers import engine  # noqa: E402

CONFIG = gallery.GalleryConfig(surface="rosenbrock", steps=1000, points=64)
TARGET_S = 3.0
FRESH_PROCESS = textwrap.dedent(
    """
    import math, sys, time
    sys.path.insert(0, {root!r})
    from losslab.threads import one_thread_per_computation
    one_thread_per_computation()
    from losslab import gallery
    config = gallery.GalleryConfig(surface="rosenbrock", steps=1000, points=64, optimizers={optimizers!r})
    began, cpu = time.perf_counter(), time.process_time()
    gallery.figure(gallery.gallery(config, budget=math.inf))
    print(time.perf_counter() - began, time.process_time() - cpu, "numba" in sys.modules)
    """
)


def best(function, repeats: int) -> float:
    return timed(function, repeats)[0]


def timed(function, repeats: int) -> tuple[float, float]:
    """The best of ``repeats`` calls: wall-clock seconds, and this process's CPU seconds (what a shared machine's other
    jobs do not inflate: one thread, so on a quiet machine the two agree)."""
    walls, cpus = [], []
    for _ in range(repeats):
        began, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def whole() -> None:
    gallery.figure(gallery.gallery(CONFIG, budget=math.inf))


def tune() -> dict[str, maps.Curve]:
    """The gallery's tuning alone: each optimizer's sweep at its own steps (``GalleryConfig.steps_of``)."""
    return {name: maps.lr_curves(CONFIG.map_config(name), [name], CONFIG.points, budget=math.inf)[name]
            for name in CONFIG.names()}


def numpy_kernel(function):
    """``function`` with every sweep in the numpy reference kernel (the fused path off)."""
    from optimizers import fast

    def timed() -> None:
        with fast.disabled():
            function()

    return timed


def warm_kernels() -> list[str]:
    """Compile (or load) each fused optimizer's kernel for CONFIG's surface: numba's disk cache warm. The fused ones."""
    surface = CONFIG.landscape()
    fused = [name for name in CONFIG.names() if engine.fused(name)]
    for name in fused:
        optimizers.sweep(surface, name, steps=1, lr=np.full(engine.FAST_PATH_MIN_ROWS, 1e-3))
    return fused


def fresh_process(repeats: int) -> tuple[float, float]:
    """G in a new process each time (numba imported and the kernels loaded by it), its own timing of the gallery and
    figure: the best wall-clock and CPU seconds."""
    script = FRESH_PROCESS.format(root=str(Path(__file__).resolve().parents[1]), optimizers=CONFIG.optimizers)
    walls, cpus = [], []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
        assert out[2] == "True", "the fresh gallery did not import numba"
        walls.append(float(out[0]))
        cpus.append(float(out[1]))
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--without", default="", help="optimizers left out of G, comma-separated (one whose part "
                        "would dominate every row, timed once instead)")
    args = parser.parse_args()
    global CONFIG
    left_out = [name for name in args.without.split(",") if name]
    if left_out:
        CONFIG = replace(CONFIG, optimizers=tuple(name for name in CONFIG.names() if name not in left_out))

    fused = warm_kernels()
    shown = gallery.gallery(CONFIG, budget=math.inf)  # warm: the kernels loaded, the grid's layout, imports
    gallery.figure(shown)
    surface = CONFIG.landscape()
    best_lr = {name: result.lr for name, result in shown.results.items() if result.lr is not None}

    def races() -> None:
        for name, lr in best_lr.items():
            race.run_one(gallery.race_config(CONFIG, name, lr), name, surface, budget=math.inf)

    estimate = gallery.cost(CONFIG).seconds
    rows = [
        ("G: tuned and drawn (gallery + figure)", timed(whole, args.repeats)),
        ("  tuning: one 64-row sweep per optimizer", timed(tune, args.repeats)),
        ("  races at the best ρ (1000 steps each)", timed(races, args.repeats)),
        ("  drawing: plots.gallery small multiples", timed(lambda: gallery.figure(shown), args.repeats)),
        ("budget estimate of G (losslab.budget)", (estimate, estimate)),
        ("same run, numpy tuning: G, every sweep numpy", timed(numpy_kernel(whole), args.repeats)),
        ("  its tuning in the numpy kernel", timed(numpy_kernel(tune), args.repeats)),
        ("G in a fresh process (numba import, kernel loads)", fresh_process(args.repeats)),
    ]
    parts = {name: timed(lambda name=name: gallery.gallery(replace(CONFIG, optimizers=(name,)), budget=math.inf), 1)
             for name in left_out}  # once: tuned and raced
    count = len(CONFIG.names())
    print(f"Gallery benchmark: {count} optimizers × {CONFIG.points} ρ × {CONFIG.steps} steps on {CONFIG.surface}, "
          f"one thread, best of {args.repeats}; {len(fused)} fused ({count - len(fused)} in the numpy kernel: "
          f"{', '.join(name for name in CONFIG.names() if name not in fused)})")
    for name, (seconds, cpu) in parts.items():
        print(f"left out of G: {name}, whose tuning and race alone take {seconds:.2f} s ({cpu:.2f} s CPU) once")
    if shown.skipped:
        print(f"(skipped, they failed: {', '.join(shown.skipped)})")
    print(f"{'':52s} {'wall s':>8s} {'CPU s':>8s}")
    for label, (seconds, cpu) in rows:
        print(f"{label:52s} {seconds:8.2f} {cpu:8.2f}")
    total = rows[0][1][0]
    print(f"target: G under {TARGET_S:g} s: {'met' if total < TARGET_S else 'NOT met'} ({total:.2f} s; load average "
          f"{os.getloadavg()[0]:.2f})")
    print(f"optimizers: {', '.join(optimizers.names())}")


if __name__ == "__main__":
    main()
